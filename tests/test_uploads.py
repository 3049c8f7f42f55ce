"""Uploads: a safe name inside the seeds folder, text only, capped; then answerable at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import open_qa
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
