"""A full disk, simulated where the writes happen (the FAISS file, the SQLite commit, SQLite
running out of pages mid-transaction, an upload's copy): one line naming the folder and the
space needed, no file left behind, and the previous generation still answering."""
from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from conftest import invoke_rag, open_qa
from rag import generations
from rag import store as store_module
from rag.config import Config
from rag.errors import DiskFull
from rag.indexer import index_seeds
from rag.store import Store
from rag.uploads import ingest_uploads
from seedgen import document

NEW_DOC = document(5, 40)


def fill_faiss_write(monkeypatch):
    """faiss.write_index writes part of the file, then fails as FAISS does on a full disk."""
    import faiss

    real = faiss.write_index

    def write_index(index, path):
        Path(path).write_bytes(b"\0" * 4051)
        raise RuntimeError(f"Error in faiss::write_index: write error in {path}: 4051 != 32000 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", write_index)
    return lambda: monkeypatch.setattr(faiss, "write_index", real)


def fill_commit(monkeypatch):
    """The COMMIT of the transaction that publishes a generation fails: SQLite's disk-full error."""
    armed = []
    real_record, real_execute = generations.record_generation, store_module._CheckedCursor.execute

    def record_generation(*args, **kwargs):
        real_record(*args, **kwargs)
        armed.append(True)

    def execute(self, sql, *args):
        if sql == "COMMIT" and armed:
            armed.clear()
            return self._guard(_raise, sqlite3.OperationalError("database or disk is full"))
        return real_execute(self, sql, *args)

    monkeypatch.setattr(generations, "record_generation", record_generation)
    monkeypatch.setattr(store_module._CheckedCursor, "execute", execute)
    return lambda: (monkeypatch.setattr(generations, "record_generation", real_record),
                    monkeypatch.setattr(store_module._CheckedCursor, "execute", real_execute))


def fill_pages(monkeypatch):
    """A real SQLITE_FULL inside the transaction: the writer's store may not grow past its size
    (PRAGMA max_page_count), so inserting the documents fails and SQLite rolls the transaction
    back itself. Old code then tried ROLLBACK again and reported only "cannot rollback - no
    transaction is active"."""
    real_open = Store.open.__func__

    def open_(cls, path, create=False, read_only=False):
        store = real_open(cls, path, create, read_only)
        if create:
            pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
            store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return store

    monkeypatch.setattr(Store, "open", classmethod(open_))
    return lambda: monkeypatch.setattr(Store, "open", classmethod(real_open))


def _raise(exc):
    raise exc


FILLS = {"faiss write": fill_faiss_write, "sqlite commit": fill_commit, "sqlite pages": fill_pages}


def index_files(config: Config) -> set[str]:
    return {p.name for p in config.index_dir.iterdir() if not p.name.startswith("store.sqlite")}


def flagship_answer(config: Config, encoder):
    """What the index at config answers to the seed's flagship question."""
    qa = open_qa(config, encoder)
    try:
        return qa.ask("Who succeeded Stoltenberg?")
    finally:
        qa.close()


@pytest.mark.parametrize("fill", FILLS)
def test_rag_index_on_a_full_disk_says_what_to_free_and_keeps_the_last_generation(tmp_path, seeds_copy, encoder,
                                                                                  monkeypatch, fill):
    # Old code: "rag: error: [Errno 28] No space left on device" or a RuntimeError traceback
    # (FAISS), "cannot rollback - no transaction is active" (SQLite), and a .faiss-g2.index.tmp-PID
    # or faiss-g2.index left in the index folder.
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    first = index_seeds(config)
    before = index_files(config)
    (seeds_copy / "report.txt").write_text(NEW_DOC, encoding="utf-8")
    undo = FILLS[fill](monkeypatch)
    ran = invoke_rag("index", "--seeds", str(seeds_copy), "--index-dir", str(config.index_dir))
    undo()
    assert ran.returncode == 1
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert lines[0].startswith(f"rag: error: the disk holding {config.index_dir} is full (")
    assert " free, at least " in lines[0] and " needed): free some space and try again" in lines[0]
    assert index_files(config) == before  # no temp file, no unpublished generation
    answer = flagship_answer(config, encoder)
    assert answer.generation == first.generation and "Rutte" in answer.text
    assert invoke_rag("status", "--check", "--index-dir", str(config.index_dir)).returncode == 0
    again = index_seeds(config)  # with room again, the same run goes through
    assert again.generation == first.generation + 1 and again.new == 1


@pytest.mark.parametrize("fill", FILLS)
def test_a_rebuild_on_a_full_disk_leaves_no_half_built_store_and_the_old_one_answers(tmp_path, seeds_copy, encoder,
                                                                                     monkeypatch, fill):
    # Old code left store.sqlite.rebuild (as big as the index) in the folder until the next rebuild.
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    first = index_seeds(config)
    undo = FILLS[fill](monkeypatch)
    ran = invoke_rag("index", "--rebuild", "--seeds", str(seeds_copy), "--index-dir", str(config.index_dir))
    undo()
    assert ran.returncode == 1 and ran.stderr.startswith(f"rag: error: the disk holding {config.index_dir} is full ("), \
        ran.stderr
    assert not list(config.index_dir.glob("store.sqlite.rebuild*"))
    answer = flagship_answer(config, encoder)
    assert answer.generation == first.generation and "Rutte" in answer.text


def test_the_faiss_temp_file_goes_even_in_a_process_that_lives_on(tmp_path, seeds_copy, encoder, monkeypatch):
    # The stale-file sweep spares temp files of live processes, so the chat server (which lives
    # on) kept every failed write's .faiss-gN.index.tmp-PID until it stopped.
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    index_seeds(config)
    (seeds_copy / "report.txt").write_text(NEW_DOC, encoding="utf-8")
    fill_faiss_write(monkeypatch)
    for _ in range(2):
        with pytest.raises(DiskFull, match=f"the disk holding {config.index_dir} is full"):
            index_seeds(config)
    assert not list(config.index_dir.glob(".faiss-g*"))


@pytest.mark.parametrize("fill", ["faiss write", "sqlite commit"])
def test_an_upload_on_a_full_disk_is_not_kept_and_the_index_answers_as_before(tmp_path, seeds_copy, encoder,
                                                                               monkeypatch, fill):
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    first = index_seeds(config)
    seeds_before, files_before = sorted(p.name for p in seeds_copy.iterdir()), index_files(config)
    upload = tmp_path / "incoming.txt"
    upload.write_text(NEW_DOC, encoding="utf-8")
    FILLS[fill](monkeypatch)
    with pytest.raises(DiskFull) as failed:
        ingest_uploads(config, [(upload, "report.txt")])
    assert str(failed.value).startswith(f"the disk holding {config.index_dir} is full (")
    assert str(failed.value).endswith("the upload was not saved and the index is as it was before")
    assert sorted(p.name for p in seeds_copy.iterdir()) == seeds_before
    assert index_files(config) == files_before
    with Store.open(config.store_path, read_only=True) as store:
        assert store.generation == first.generation


def test_an_upload_that_cannot_be_copied_into_the_seeds_folder_says_so(tmp_path, seeds_copy, monkeypatch):
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    upload = tmp_path / "incoming.txt"
    upload.write_text(NEW_DOC, encoding="utf-8")
    before = sorted(p.name for p in seeds_copy.iterdir())
    real_write = Path.write_bytes

    def write_bytes(self, data):
        if self.name.startswith(".upload-"):
            real_write(self, data[:10])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(DiskFull, match=rf"the disk holding {seeds_copy.resolve()} is full \(.* free, at least "
                                       r"[\d.,]+ KB needed\).*the upload was not saved"):
        ingest_uploads(config, [(upload, "report.txt")])
    assert sorted(p.name for p in seeds_copy.iterdir()) == before  # the partial temp copy is gone too
