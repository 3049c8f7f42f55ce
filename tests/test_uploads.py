"""Uploads: a safe name inside the seeds folder, text only, capped; then answerable at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import open_qa, stored_doc_ids
from rag.config import Config
from rag.uploads import UploadError, ingest_uploads, safe_name, save_upload

EXTS = (".txt", ".md", ".html", ".htm")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.mark.parametrize(
    "original, expected",
    [
        ("../../evil.txt", "evil.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/etc/passwd.txt", "passwd.txt"),
        (".hidden.txt", "hidden.txt"),
        ("notes..final.TXT", "notes.final.txt"),
        ("my report (v2).html", "my_report_v2.html"),
        ("<script>alert(1)</script>.md", "script.md"),  # the '/' ends a "folder": only "script>.md" is left
        ("Überblick.txt", "Überblick.txt"),
        (".txt", "upload.txt"),
    ],
)
def test_safe_name_keeps_only_a_plain_file_name(original, expected):
    assert safe_name(original, EXTS) == expected


@pytest.mark.parametrize("original", ["photo.png", "archive.tar.gz", "README", "notes.txt.exe"])
def test_unknown_extensions_are_refused_with_the_allowed_list(original):
    with pytest.raises(UploadError, match=r"only \.txt, \.md, \.html, \.htm files"):
        safe_name(original, EXTS)


def write(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_traversal_name_lands_inside_the_seeds_folder(tmp_path):
    seeds = tmp_path / "a" / "b" / "seeds"
    seeds.mkdir(parents=True)
    saved = save_upload(write(tmp_path, b"Plain text."), "../../evil.txt", seeds, 1000, EXTS)
    assert saved.path == seeds.resolve() / "evil.txt"
    assert saved.path.read_bytes() == b"Plain text."
    assert not (tmp_path / "a" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert [p.name for p in seeds.iterdir()] == ["evil.txt"]  # no temporary file left behind


def test_an_existing_file_is_never_overwritten(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "notes.txt").write_text("original")
    saved = save_upload(write(tmp_path, b"new text"), "notes.txt", seeds, 1000, EXTS)
    assert saved.path.name == "notes-2.txt"
    assert (seeds / "notes.txt").read_text() == "original"
    again = save_upload(write(tmp_path, b"original"), "notes.txt", seeds, 1000, EXTS)
    assert again.already_there and again.path.name == "notes.txt"


@pytest.mark.parametrize(
    "present, original, expected",
    [
        (["000_81de98d510058a00.txt"], "000_81de98d510058a00.htm", "000_81de98d510058a00-2.htm"),
        (["tapir.md"], "tapir.txt", "tapir-2.txt"),
        (["tapir.md", "tapir-2.TXT"], "tapir.txt", "tapir-3.txt"),
        (["notes.bak", ".notes.md"], "notes.txt", "notes.txt"),  # not indexed: neither is the id "notes"
    ],
)
def test_an_upload_never_takes_the_document_id_of_another_seed(tmp_path, present, original, expected):
    # Old code only avoided the exact file name: "tapir.txt" beside "tapir.md" shared the id "tapir".
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in present:
        (seeds / name).write_text(f"Some other text in {name}.")
    saved = save_upload(write(tmp_path, b"Uploaded text."), original, seeds, 1000, EXTS)
    assert saved.path.name == expected and not saved.already_there
    assert sorted(p.name for p in seeds.iterdir()) == sorted(present + [expected])


def test_an_upload_never_takes_a_stored_document_id(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    stored = {"orchard", "sub/notes"}  # "orchard" is indexed though its file has gone since
    assert save_upload(write(tmp_path, b"Quinces."), "orchard.txt", seeds, 1000, EXTS, stored).path.name == "orchard-2.txt"
    assert save_upload(write(tmp_path, b"Notes."), "notes.txt", seeds, 1000, EXTS, stored).path.name == "notes.txt"


def test_an_upload_beside_a_seed_of_the_same_stem_keeps_both_answerable(tmp_path, seeds_copy, encoder):
    # Old code saved 000_81de98d510058a00.htm, which then took the seed's document id (.htm sorts before .txt).
    from rag.indexer import index_seeds
    from ui.render import upload_result

    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    index_seeds(config)
    page = b"<h1>Tapir notes</h1><p>The Pendleford tapir house was built by Ottoline Grey in 1923.</p>"
    report = ingest_uploads(config, [(write(tmp_path, page), "000_81de98d510058a00.htm")])
    assert "000_81de98d510058a00.htm saved as 000_81de98d510058a00-2.htm" in upload_result(report)
    assert report.index.warnings == () and (report.index.new, report.index.unchanged) == (1, 1)
    assert stored_doc_ids(config) == {"000_81de98d510058a00", "000_81de98d510058a00-2"}


@pytest.mark.parametrize(
    "data, message",
    [
        (PNG, r"'photo\.txt' is not a text file \(binary file \(contains NUL bytes\)\)"),
        (bytes(range(1, 32)) * 20 + b"some text", r"'photo\.txt' is not a text file \(\d+ control characters\)"),
        (b"  \n\t ", r"'photo\.txt' is empty"),
        (b"x" * 1001, r"'photo\.txt' is 1,001 bytes; the upload limit is 1,000 bytes"),
    ],
)
def test_binary_empty_and_oversized_uploads_are_refused_and_write_nothing(tmp_path, data, message):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    with pytest.raises(UploadError, match=message):
        save_upload(write(tmp_path, data), "photo.txt", seeds, 1000, EXTS)
    assert list(seeds.iterdir()) == []


def test_uploaded_file_is_indexed_and_answerable(tmp_path, seeds_copy, encoder):
    from rag.indexer import index_seeds

    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    first = index_seeds(config)
    qa = open_qa(config, encoder)
    try:
        text = b"Orchard notes\n\nThe quince orchard at Little Wenlock was planted by Harriet Ambleside in 1911.\n"
        report = ingest_uploads(
            config, [(write(tmp_path, text), "orchard.txt"), (write(tmp_path, PNG, "p"), "photo.txt")]
        )
        assert [s.path.name for s in report.saved] == ["orchard.txt"]
        assert len(report.refused) == 1 and "photo.txt" in report.refused[0]
        assert report.index.new == 1 and report.index.unchanged == 1
        assert report.index.encoded == report.index.passages - first.passages  # only the new file is encoded
        assert report.index.generation == first.generation + 1
        answer = qa.ask("Who planted the quince orchard at Little Wenlock?", k=3)  # same QA object: no restart
        assert answer.citations[0].path == "orchard.txt"
    finally:
        qa.close()


def test_refused_uploads_do_not_reindex(tmp_path, seeds_copy, encoder):
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    report = ingest_uploads(config, [(write(tmp_path, PNG), "photo.txt")])
    assert report.index is None and report.saved == []
    assert not config.store_path.exists()


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([10, 10, 10, 10], r"4 files at once; add at most 3 at a time"),
        ([600, 600], r"2 files of 1,200 bytes in all; add at most 1,000 bytes at a time"),
    ],
)
def test_an_upload_of_too_many_files_or_bytes_at_once_is_refused_whole(tmp_path, sizes, message):
    # Old code saved and indexed any number of files of any total size in one upload.
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index", max_pending_uploads=3, max_pending_upload_bytes=1000)
    files = [(write(tmp_path, b"x" * size, f"f{n}"), f"notes{n}.txt") for n, size in enumerate(sizes)]
    with pytest.raises(UploadError, match=message):
        ingest_uploads(config, files)
    assert list(seeds.iterdir()) == [] and not config.store_path.exists()
