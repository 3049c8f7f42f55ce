"""Every kind of bad seed file is skipped (or decoded) with a warning naming it and saying why,
and the good files beside it are indexed. Decisions: README, "Seed files"."""
from __future__ import annotations

import os
from pathlib import Path

import rag.documents
from conftest import invoke_rag, stored_doc_ids
from permissions import as_file_owner
from rag.config import Config
from rag.indexer import index_seeds
from rag.store import Store

GOOD = {
    "good.txt": "Lighthouses of the north\n\nThe keeper lit the lamp at dusk every evening.\n",
    "notes/good.md": "# Harbour notes\n\nFishing boats return before the tide turns.\n",
}


def make_seeds(root: Path) -> Path:
    seeds = root / "seeds"
    for name, text in GOOD.items():
        (seeds / name).parent.mkdir(parents=True, exist_ok=True)
        (seeds / name).write_text(text, encoding="utf-8")
    return seeds


def test_every_bad_file_is_named_with_its_reason_and_good_files_are_indexed(tmp_path, encoder, monkeypatch):
    seeds = make_seeds(tmp_path)
    outside = tmp_path / "secret.txt"
    outside.write_text("Not a seed: lives outside the seeds folder.\n")
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "blank.md").write_bytes(b" \n\t\r\n  \n")
    (seeds / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00 some zip bytes \x00\x01")
    (seeds / "markup.html").write_text("<html><head><script>var x = 1;</script></head><body> </body></html>")
    (seeds / "big.txt").write_text("Big file\n\n" + "word " * 400)  # 2,010 bytes, cap below is 1,000
    (seeds / "outside.txt").symlink_to(outside)
    (seeds / "broken.txt").symlink_to(seeds / "nowhere.txt")
    os.mkfifo(seeds / "pipe.txt")  # opening a FIFO for reading would block forever
    (seeds / "good_copy.txt").write_text(GOOD["good.txt"], encoding="utf-8")
    (seeds / "locked.txt").write_text("Locked away\n\nNobody may read this.\n")
    (seeds / "vanishing.txt").write_text("Here at listing time\n\nGone by reading time.\n")
    (seeds / "windows.txt").write_bytes(b"Caf\xe9 menu\n\nThe caf\xe9 serves cr\xe8me br\xfbl\xe9e.\n")
    (seeds / "utf16.txt").write_bytes("Tea house\n\nGreen tea and jasmine tea.\n".encode("utf-16"))

    listing = rag.documents._seed_files

    def list_then_delete(*args):  # the file disappears between listing and reading
        found = listing(*args)
        (seeds / "vanishing.txt").unlink()
        return found

    monkeypatch.setattr(rag.documents, "_seed_files", list_then_delete)
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index", max_file_bytes=1000)
    (seeds / "locked.txt").chmod(0)
    with as_file_owner():  # see tests/permissions.py: chmod 000 alone does not stop root
        report = index_seeds(config)

    expected = {
        "skipped empty.txt: empty file",
        "skipped blank.md: only whitespace",
        "skipped binary.txt: binary file (contains NUL bytes)",
        "skipped markup.html: only markup, no visible text",
        "skipped big.txt: 2,010 bytes is over the size cap of 1,000 bytes (RAG_MAX_FILE_BYTES)",
        f"skipped outside.txt: symlink points outside the seeds folder ({outside})",
        "skipped broken.txt: broken symlink",
        "skipped pipe.txt: not a regular file (a pipe, socket or device)",
        "skipped good_copy.txt: same content as good.txt (indexed once)",
        "skipped locked.txt: permission denied (unreadable file)",
        "skipped vanishing.txt: file disappeared between listing and reading",
        "windows.txt: not valid UTF-8 (first bad byte at offset 3); decoded as Windows-1252",
        "utf16.txt: decoded as UTF-16 (byte-order mark found)",
    }
    assert set(report.warnings) == expected
    assert stored_doc_ids(config) == {"good", "notes/good", "windows", "utf16"}
    with Store.open(config.store_path) as store:
        assert store.document_text("windows").startswith("Café menu\n\nThe café serves crème brûlée.")
        assert store.document_text("utf16").startswith("Tea house")


def test_size_cap_from_the_flag_and_the_environment(tmp_path, encoder):
    seeds = make_seeds(tmp_path)
    (seeds / "medium.txt").write_text("Medium file\n\n" + "tide " * 60)  # 313 bytes
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index")
    index_seeds(config)  # everything fits the default 20 MB cap
    assert stored_doc_ids(config) == {"good", "notes/good", "medium"}

    # Nothing to encode now, so these runs never load the model.
    args = ["index", "--seeds", str(seeds), "--index-dir", str(config.index_dir)]
    done = invoke_rag(*args, "--max-file-bytes", "300")
    assert done.returncode == 0, done.stderr
    assert "warning: skipped medium.txt: 313 bytes is over the size cap of 300 bytes" in done.stderr
    assert "1 deleted" in done.stdout and stored_doc_ids(config) == {"good", "notes/good"}

    done = invoke_rag(*args, env={"RAG_MAX_FILE_BYTES": "65"})
    assert done.returncode == 0, done.stderr
    assert "skipped good.txt: 73 bytes is over the size cap of 65 bytes" in done.stderr
    assert stored_doc_ids(config) == {"notes/good"}

    done = invoke_rag(*args, env={"RAG_MAX_FILE_BYTES": "10"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "rag: error: no indexable documents" in done.stderr
    assert "skipped notes/good.md: 61 bytes is over the size cap of 10 bytes" in done.stderr

    done = invoke_rag(*args, env={"RAG_MAX_FILE_BYTES": "lots"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "rag: error: RAG_MAX_FILE_BYTES must be a whole number, got 'lots'" in done.stderr
