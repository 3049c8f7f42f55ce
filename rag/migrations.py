"""Schema migrations, the way simonw/llm does them: numbered functions applied in order, each
once, and recorded by name in the `_migrations` table.

A schema change is a new function here, so `rag index` updates an existing store in place and
keeps its vectors, instead of `rag index --rebuild` re-encoding every passage. A released
migration is never edited (stores out there have run it); a change is the next migration.
Store.open runs the missing ones (rag/store.py), each in its own transaction.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable

from rag.text import FTS_TOKENIZER

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []  # in the order they run

_BOOKKEEPING = "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"


def migration(step: Migration) -> Migration:
    """Register `step` to run after every migration defined before it."""
    MIGRATIONS.append(step)
    return step


def applied(conn: sqlite3.Connection) -> list[str] | None:
    """The names of the migrations this store has run; None for a file seed-rag did not make."""
    if _has_table(conn, "_migrations"):
        return [name for (name,) in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    if not _has_table(conn, "meta"):
        return None
    # Before migrations existed, seed-rag wrote schema version 1: m001's schema, unrecorded.
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return [m001_initial.__name__] if row and row[0] == "1" else None


def is_recorded(conn: sqlite3.Connection) -> bool:
    """Whether the store keeps the `_migrations` table (a store from before migrations does not)."""
    return _has_table(conn, "_migrations")


def unknown(names: Iterable[str]) -> list[str]:
    """Applied migrations this seed-rag does not define: the store comes from a newer version."""
    known = {step.__name__ for step in MIGRATIONS}
    return [name for name in names if name not in known]


def pending(names: Iterable[str]) -> list[Migration]:
    done = set(names)
    return [step for step in MIGRATIONS if step.__name__ not in done]


def record_existing(conn: sqlite3.Connection, names: list[str]) -> None:
    """Record migrations a store from before migrations already has (inside the caller's transaction)."""
    conn.execute(_BOOKKEEPING)
    now = time.time()
    conn.executemany("INSERT OR IGNORE INTO _migrations(name, applied_at) VALUES (?, ?)", [(n, now) for n in names])


def apply(conn: sqlite3.Connection, step: Migration) -> None:
    """Run one migration and record it, inside the caller's transaction."""
    step(conn)
    # Created after the step, so m001's tables take the first pages of a new file.
    conn.execute(_BOOKKEEPING)
    conn.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", (step.__name__, time.time()))
    # seed-rag before migrations refuses any schema_version but 1; counting the migrations here
    # makes it refuse a store a later migration changed, rather than misread it.
    count = conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0]
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(count),))


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    """The schema of seed-rag 0.1.0, before migrations (its stores say schema_version 1)."""
    statements = (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS documents (
            doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL,
            title TEXT NOT NULL, text TEXT NOT NULL, indexed_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
            text TEXT NOT NULL,
            embed_hash TEXT NOT NULL  -- sha256 of the text given to the encoder (title + passage)
        )""",
        "CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id)",
        "CREATE INDEX IF NOT EXISTS passages_hash ON passages(embed_hash)",
        """CREATE TABLE IF NOT EXISTS vectors (
            model TEXT NOT NULL,  -- model fingerprint: name@weights-hash
            embed_hash TEXT NOT NULL,
            vector BLOB NOT NULL,  -- float32, L2-normalised
            PRIMARY KEY (model, embed_hash)
        ) WITHOUT ROWID""",
        # rowid = passages.id. The tokenizer must agree with the query side (rag/lexical.py):
        # changing FTS_TOKENIZER also needs a migration that rebuilds this table in existing stores.
        f"CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(title, text, tokenize='{FTS_TOKENIZER}')",
    )
    for statement in statements:
        conn.execute(statement)
