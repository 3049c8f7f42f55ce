"""Schema migrations: a store from before migrations is adopted in place (vectors kept, nothing
re-encoded), a new migration runs once per store in its own transaction, a reader never
migrates, and a store from a newer seed-rag is refused with a message that says to upgrade."""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rag import migrations
from rag.cli import main
from rag.config import Config
from rag.documents import load_documents
from rag.indexer import embed_text, index_seeds
from rag.passages import split_passages, text_hash
from rag.status import check_index
from rag.store import Store, StoreError
from seedgen import write_corpus

# What seed-rag 0.1.0 (before migrations) created, verbatim: stores out there look like this.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    embed_hash TEXT NOT NULL  -- sha256 of the text given to the encoder (title + passage)
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE INDEX IF NOT EXISTS passages_hash ON passages(embed_hash);
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,  -- model fingerprint: name@weights-hash
    embed_hash TEXT NOT NULL,
    vector BLOB NOT NULL,  -- float32, L2-normalised
    PRIMARY KEY (model, embed_hash)
) WITHOUT ROWID;
-- rowid = passages.id.
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(title, text, tokenize='porter unicode61');
"""


def write_v1_store(config: Config, encoder) -> int:
    """A schema-version-1 store of config.seeds_dir's documents with their vectors, written with
    plain SQL as seed-rag 0.1.0 wrote it; returns the number of vectors."""
    conn = sqlite3.connect(config.store_path)
    conn.executescript(SCHEMA_V1)
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1')")
    texts: dict[str, str] = {}
    for doc in load_documents(config.seeds_dir, config.extensions, config.max_file_bytes).documents:
        conn.execute(
            "INSERT INTO documents(doc_id, path, sha256, title, text, indexed_at) VALUES (?,?,?,?,?,?)",
            (doc.doc_id, doc.path, doc.sha256, doc.title, doc.text, time.time()),
        )
        for p in split_passages(doc.doc_id, doc.text, config.max_passage_words):
            embed = embed_text(doc.title, p.text)
            cur = conn.execute(
                'INSERT INTO passages(doc_id, ordinal, start, "end", text, embed_hash) VALUES (?,?,?,?,?,?)',
                (doc.doc_id, p.ordinal, p.start, p.end, p.text, text_hash(embed)),
            )
            conn.execute("INSERT INTO passages_fts(rowid, title, text) VALUES (?,?,?)", (cur.lastrowid, doc.title, p.text))
            texts[text_hash(embed)] = embed
    vectors = encoder.encode(list(texts.values()))
    conn.executemany(
        "INSERT INTO vectors(model, embed_hash, vector) VALUES (?,?,?)",
        [(encoder.fingerprint, h, v.astype(np.float32).tobytes()) for h, v in zip(texts, vectors)],
    )
    conn.commit()
    conn.close()
    return len(texts)


def recorded(path: Path) -> list[str]:
    """The migrations the file records, read with plain SQLite (Store.open checks them)."""
    with closing(sqlite3.connect(path)) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def has_table(path: Path, name: str) -> bool:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchone() is not None


def test_a_store_from_before_migrations_is_adopted_in_place_and_nothing_is_re_encoded(tmp_path, encoder):
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(3), 4)
    config.index_dir.mkdir()
    vectors = write_v1_store(config, encoder)

    with Store.open(config.store_path) as store:  # a reader (`rag ask`) uses it as it is
        assert store.vector_counts() == {encoder.fingerprint: vectors}
    assert not has_table(config.store_path, "_migrations")  # and wrote nothing

    report = index_seeds(config)

    assert (report.unchanged, report.new, report.encoded, report.published) == (3, 0, 0, True)
    assert recorded(config.store_path) == ["m001_initial"]
    with Store.open(config.store_path) as store:
        assert store.vector_counts() == {encoder.fingerprint: vectors}
        assert store.get_meta("schema_version") == "1"  # what seed-rag 0.1.0 checks, still true
    assert check_index(config) == []  # the FAISS index was built from the kept vectors


def test_a_new_migration_runs_once_in_its_own_transaction_and_is_recorded(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    Store.open(path, create=True).close()
    runs: list[str] = []

    monkeypatch.setattr(migrations, "MIGRATIONS", list(migrations.MIGRATIONS))

    @migrations.migration
    def m002_toy(conn: sqlite3.Connection) -> None:
        runs.append("m002_toy")
        conn.execute("CREATE TABLE toy (x INTEGER)")

    with pytest.raises(StoreError, match=r"needs a schema migration \(m002_toy\): run `rag index`"):
        Store.open(path)  # a reader never migrates
    assert runs == [] and not has_table(path, "toy")

    Store.open(path, create=True).close()
    Store.open(path, create=True).close()

    assert runs == ["m002_toy"]
    assert recorded(path) == ["m001_initial", "m002_toy"] and has_table(path, "toy")
    with Store.open(path) as store:
        assert store.get_meta("schema_version") == "2"  # so seed-rag 0.1.0 refuses this store


def test_a_failing_migration_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    Store.open(path, create=True).close()
    monkeypatch.setattr(migrations, "MIGRATIONS", list(migrations.MIGRATIONS))

    @migrations.migration
    def m002_half_done(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError, match="killed half-way"):
        Store.open(path, create=True)
    assert recorded(path) == ["m001_initial"] and not has_table(path, "half")


def test_a_store_from_a_newer_seed_rag_is_refused_with_a_one_line_message(tmp_path):
    config = Config(index_dir=tmp_path)
    Store.open(config.store_path, create=True).close()
    with closing(sqlite3.connect(config.store_path)) as conn, conn:  # closing it, after `conn` commits
        conn.execute("INSERT INTO _migrations(name, applied_at) VALUES ('m002_from_the_future', 0)")
    message = (
        f"{config.store_path} was written by a newer seed-rag "
        "(schema migration m002_from_the_future is unknown here): upgrade seed-rag to use it"
    )

    for create in (False, True):  # readers and writers alike
        with pytest.raises(StoreError) as error:
            Store.open(config.store_path, create=create)
        assert str(error.value) == message

    result = CliRunner().invoke(main, ["status", "--index-dir", str(tmp_path)])
    assert (result.exit_code, result.stderr) == (1, f"rag: error: {message}\n")
