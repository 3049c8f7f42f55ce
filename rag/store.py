"""SQLite store: the source of truth for documents, passages, vectors and the lexical index.

One file, `store.sqlite`, in WAL mode so readers keep a consistent snapshot while a writer
publishes a new generation. Passage ids come from AUTOINCREMENT and are never reused, so a
FAISS id always names the passage it was built from or none at all.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from embeddings.manifest import IndexManifest
from rag import migrations
from rag.config import index_command
from rag.errors import DiskFull, RagError
from rag.lexical import LexicalSearch
from rag.text import query_words
from rag.types import PAGE_BREAK, DocumentRow, StoredPassage

_IN_CHUNK = 500  # values per "IN (...)", well under SQLite's limit on bound parameters
_PAGE_BREAK_SQL = f"char({ord(PAGE_BREAK)})"

REBUILD_HINT = "delete it or run `rag index --rebuild` to rebuild it from the seeds"


def _page_at(text: str | None, offset: int) -> int | None:
    """The 1-based page of `offset` in a paged document's text; None for a text without pages."""
    return None if text is None else text.count(PAGE_BREAK, 0, offset) + 1


class StoreError(RagError):
    """The store cannot be used; the message names the file and what to do."""


class StoreCorrupt(StoreError):
    """SQLite reported the file as damaged (at open or at any later query)."""


class StoreBusy(StoreError):
    """Another process held the write lock for longer than the busy timeout."""


# OperationalErrors the machine causes, not the code: permissions, a full or failing disk.
_ENVIRONMENT_ERRORS = ("readonly", "unable to open", "disk i/o", "full", "permission")
# A write transaction needs room for its pages twice (the WAL, then the checkpoint into the
# store), and never less than this: SQLite's own bookkeeping pages.
_MIN_WRITE_BYTES = 1 << 20


def _translated(path: Path, exc: sqlite3.DatabaseError, writing: int = 0) -> RagError | None:
    """The user-facing error for SQLite's `exc`, or None for a programming error (re-raised as is).
    `writing`: bytes of data the failed transaction had written so far."""
    # Damage surfaces as the base class ("database disk image is malformed", "file is not a
    # database"); its subclasses (constraint, misuse, syntax) are bugs, except these.
    message = str(exc).lower()
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "database or disk is full" in message:
        return DiskFull(path.parent, max(2 * writing, _MIN_WRITE_BYTES))
    if type(exc) is sqlite3.DatabaseError:
        return StoreCorrupt(f"{path} is corrupt ({exc}): {REBUILD_HINT}")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in message:
        return StoreBusy(f"{path} is locked by another writer (another `rag index`?); try again when it is done")
    if isinstance(exc, sqlite3.OperationalError) and any(e in message for e in _ENVIRONMENT_ERRORS):
        return StoreError(f"cannot use {path}: {exc} (check the permissions of the file and its folder, and free disk space)")
    return None


class _CheckedCursor(sqlite3.Cursor):
    """A cursor that turns SQLite's corruption and lock errors into StoreErrors naming the file.

    Corruption can surface at any query, long after a successful open (a damaged page is only
    read when a query needs it), so the translation lives here rather than at each call site.
    """

    def _guard(self, call, *args):
        try:
            return call(*args)
        except sqlite3.DatabaseError as exc:
            error = _translated(self.connection.path, exc, self.connection.writing)
            if error is None:
                raise
            raise error from None

    def execute(self, *args):
        return self._guard(super().execute, *args)

    def executemany(self, *args):
        return self._guard(super().executemany, *args)

    def fetchone(self):
        return self._guard(super().fetchone)

    def fetchall(self):
        return self._guard(super().fetchall)

    def __next__(self):
        return self._guard(super().__next__)


class _CheckedConnection(sqlite3.Connection):
    path: Path
    writing: int = 0  # bytes of data the current write transaction has written (for a disk-full message)

    def execute(self, *args):
        return self.cursor(_CheckedCursor).execute(*args)

    def executemany(self, *args):
        return self.cursor(_CheckedCursor).executemany(*args)


def _connect(path: Path, uri_query: str) -> _CheckedConnection:
    conn = sqlite3.connect(path.absolute().as_uri() + uri_query, uri=True, timeout=30.0, isolation_level=None,
                           check_same_thread=False, factory=_CheckedConnection)
    conn.path = path
    return conn


def _folder_refuses_shm(conn: sqlite3.Connection) -> bool:
    """True if a read-only connection cannot read because SQLite cannot create or set up the -shm file."""
    try:
        conn.cursor().execute("PRAGMA schema_version")  # a plain cursor: the raw error, untranslated
    except sqlite3.OperationalError as exc:
        return getattr(exc, "sqlite_errorname", "") in {"SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT"}
    return False


class Store:
    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._lexical: LexicalSearch | None = None
        self._undo: list[Callable[[], None]] | None = None

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, create: bool = False, read_only: bool = False) -> Store:
        """Open the store and check its schema. With create=True (the writers: `rag index`),
        create it if missing and apply the schema migrations it lacks; a reader never writes.
        read_only=True gives a connection that cannot write (questions, status), which also opens
        an index in a folder this process cannot write to."""
        if not path.exists() and not create:
            raise StoreError(f"no index at {path}: run `{index_command(path.parent)}` first")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(path, "?mode=ro" if read_only else "")
            if read_only and _folder_refuses_shm(conn):
                # A WAL reader needs the -shm file beside the store. In a folder it cannot write
                # (read-only media, another user's index), SQLite's documented way in is immutable:
                # no locks, so a writer in that folder (only another user could be one) goes unseen.
                conn.close()
                conn = _connect(path, "?mode=ro&immutable=1")
            store = cls(path, conn)
            try:
                if not read_only:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                store._migrate(write=create)
            except BaseException:
                conn.close()  # a store that cannot be used leaves no connection behind
                raise
        except sqlite3.DatabaseError as exc:
            raise _translated(path, exc) or StoreCorrupt(f"{path} is unreadable or corrupt ({exc}): {REBUILD_HINT}") from None
        return store

    def _migrate(self, write: bool) -> None:
        """Bring the schema up to this version's, or (a reader) check that it is."""
        done = migrations.applied(self.conn)
        if done is None and not write:
            raise StoreError(f"{self.path} is not a seed-rag index: {REBUILD_HINT}")
        newer = migrations.unknown(done or [])
        if newer:
            raise StoreError(
                f"{self.path} was written by a newer seed-rag (schema migration {newer[0]} is unknown here): "
                "upgrade seed-rag to use it"
            )
        todo = migrations.pending(done or [])
        if not write:
            if todo:
                raise StoreError(
                    f"{self.path} needs a schema migration ({todo[0].__name__}): run `rag index` to update it in place"
                )
            return
        if done and not migrations.is_recorded(self.conn):
            with self.transaction():  # a store from before migrations: record what its schema already is
                migrations.record_existing(self.conn, done)
        for step in todo:
            with self.transaction():
                # Another writer may have run it between the check above and this write lock.
                if step.__name__ not in (migrations.applied(self.conn) or []):
                    migrations.apply(self.conn, step)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[None]:
        """BEGIN IMMEDIATE for writers (one at a time), plain BEGIN for a read snapshot.

        If the body or the COMMIT fails, the transaction is rolled back (unless SQLite already
        did, as it may on a full disk) and the on_rollback actions run; the first error is raised.
        """
        self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        self.conn.writing, self._undo = 0, []
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            undo, self._undo = self._undo, None
            try:
                if self.conn.in_transaction:
                    with suppress(sqlite3.Error, RagError):  # the first error is the one to report
                        self.conn.execute("ROLLBACK")
            finally:
                for action in reversed(undo or []):
                    action()
            raise
        self._undo = None

    def on_rollback(self, action: Callable[[], None]) -> None:
        """Run `action` if the current transaction does not commit (e.g. delete a file written for it)."""
        if self._undo is None:
            raise RuntimeError("on_rollback needs an open transaction")
        self._undo.append(action)

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0"))

    def faiss_info(self) -> IndexManifest | None:
        """The published generation's FAISS files (None before the first publish)."""
        raw = self.get_meta("faiss")
        return IndexManifest.from_json(raw) if raw else None

    def set_faiss_info(self, manifest: IndexManifest) -> None:
        """Point at a new generation's files, remembering the previous one's (readers may still load it)."""
        previous = self.get_meta("faiss")
        if previous:
            self.set_meta("faiss_previous", previous)
        self.set_meta("faiss", manifest.to_json())

    def faiss_files_in_use(self) -> set[str]:
        """Files of the current and the previous generation."""
        return {
            name
            for key in ("faiss", "faiss_previous")
            if (raw := self.get_meta(key))
            for name in IndexManifest.from_json(raw).names
        }

    # -- documents and passages --------------------------------------------------------------
    def document_hashes(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT doc_id, sha256 FROM documents"))

    def documents(self) -> list[DocumentRow]:
        rows = self.conn.execute(
            """SELECT d.doc_id, d.path, d.sha256, d.title, COUNT(p.id), d.indexed_at
               FROM documents d LEFT JOIN passages p ON p.doc_id = d.doc_id
               GROUP BY d.doc_id ORDER BY d.doc_id"""
        )
        return [DocumentRow(*row) for row in rows]

    def document_text(self, doc_id: str) -> str | None:
        row = self.conn.execute("SELECT text FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def delete_documents(self, doc_ids: Iterable[str]) -> list[tuple[int, str]]:
        """Delete documents with their passages and FTS rows; returns the passages' (id, embed_hash)."""
        removed: list[tuple[int, str]] = []
        for doc_id in doc_ids:
            removed += self.conn.execute("SELECT id, embed_hash FROM passages WHERE doc_id=?", (doc_id,)).fetchall()
            self.conn.execute(
                "DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE doc_id=?)", (doc_id,)
            )
            self.conn.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))  # passages cascade
        return removed

    def insert_document(self, doc, passages, embed_hashes: list[str]) -> list[int]:
        """Insert a Document and its Passages (rag.documents / rag.passages types); returns passage ids."""
        ids: list[int] = []
        self.conn.writing += 2 * len(doc.text) + 2 * sum(len(p.text) for p in passages)  # text, passages, FTS
        self.conn.execute(
            "INSERT INTO documents(doc_id, path, sha256, title, text, indexed_at) VALUES (?,?,?,?,?,?)",
            (doc.doc_id, doc.path, doc.sha256, doc.title, doc.text, time.time()),
        )
        for passage, embed_hash in zip(passages, embed_hashes):
            cur = self.conn.execute(
                'INSERT INTO passages(doc_id, ordinal, start, "end", text, embed_hash) VALUES (?,?,?,?,?,?)',
                (doc.doc_id, passage.ordinal, passage.start, passage.end, passage.text, embed_hash),
            )
            ids.append(cur.lastrowid)
            self.conn.execute(
                "INSERT INTO passages_fts(rowid, title, text) VALUES (?,?,?)", (cur.lastrowid, doc.title, passage.text)
            )
        return ids

    def passages_by_id(self, ids: Iterable[int]) -> dict[int, StoredPassage]:
        """The passages, each with its page when its document has pages."""
        rows = self._select_in(
            """SELECT p.id, p.doc_id, d.title, d.path, p.ordinal, p.start, p."end", p.text
               FROM passages p JOIN documents d ON d.doc_id = p.doc_id WHERE p.id IN ({marks})""",
            (),
            [int(i) for i in ids],
        )
        paged = self._paged_texts({row[1] for row in rows})
        return {row[0]: StoredPassage(*row, page=_page_at(paged.get(row[1]), row[5])) for row in rows}

    def _paged_texts(self, doc_ids: set[str]) -> dict[str, str]:
        """doc_id -> text of those of the documents that have pages. Pages are counted in the stored
        text, in the caller's snapshot (the retriever's read transaction), so there is no page table
        to keep in step with the offsets. One read per document and the count in Python: SQL's
        substr/replace per passage took ~10 ms a passage of a 2 MB PDF, this ~1."""
        sql = f"SELECT doc_id, text FROM documents WHERE instr(text, {_PAGE_BREAK_SQL}) > 0 AND doc_id IN ({{marks}})"
        return dict(self._select_in(sql, (), sorted(doc_ids)))

    def _select_in(self, sql: str, params: tuple, values: list) -> list[tuple]:
        """The rows of `sql`, whose "IN ({marks})" takes `values`, a chunk of them per query
        (SQLite bounds the number of parameters in one statement)."""
        rows: list[tuple] = []
        for i in range(0, len(values), _IN_CHUNK):
            chunk = values[i : i + _IN_CHUNK]
            rows += self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), (*params, *chunk)).fetchall()
        return rows

    def counts(self) -> dict[str, int]:
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "documents": one("SELECT COUNT(*) FROM documents"),
            "passages": one("SELECT COUNT(*) FROM passages"),
        }  # vectors: vector_counts(), per model

    # -- vectors -----------------------------------------------------------------------------
    def passages_missing_vectors(self, fingerprint: str) -> list[tuple[str, str, str, str]]:
        """(embed_hash, doc_id, title, passage text) of passages with no vector under `fingerprint`, one per hash."""
        return self.conn.execute(
            """SELECT p.embed_hash, p.doc_id, d.title, p.text FROM passages p JOIN documents d ON d.doc_id = p.doc_id
               WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.model=? AND v.embed_hash=p.embed_hash)
               GROUP BY p.embed_hash""",
            (fingerprint,),
        ).fetchall()

    def has_vectors(self, fingerprint: str, hashes: Iterable[str]) -> set[str]:
        sql = "SELECT embed_hash FROM vectors WHERE model=? AND embed_hash IN ({marks})"
        return {h for (h,) in self._select_in(sql, (fingerprint,), list(hashes))}

    def put_vectors(self, fingerprint: str, hashes: list[str], vectors: np.ndarray) -> None:
        self.conn.writing += vectors.size * 4 + 80 * len(hashes)
        self.conn.executemany(
            "INSERT OR REPLACE INTO vectors(model, embed_hash, vector) VALUES (?,?,?)",
            ((fingerprint, h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors)),
        )

    def prune_vectors(self, hashes: Iterable[str]) -> None:
        """Drop the vectors (every model) of these embed hashes that no passage uses any more (the
        passages a run removed), so the store does not grow forever; cheap at any size."""
        self.conn.executemany(
            "DELETE FROM vectors WHERE embed_hash=? AND NOT EXISTS (SELECT 1 FROM passages WHERE embed_hash=?)",
            [(h, h) for h in set(hashes)],
        )

    def passage_ids(self) -> np.ndarray:
        rows = self.conn.execute("SELECT id FROM passages ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def passage_vectors(self, fingerprint: str, dim: int, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every passage (or of `ids`), in id order; StoreError if a vector is missing."""
        sql = """SELECT p.id, v.vector FROM passages p
                 LEFT JOIN vectors v ON v.model=? AND v.embed_hash=p.embed_hash"""
        if ids is None:
            rows = self.conn.execute(sql + " ORDER BY p.id", (fingerprint,)).fetchall()
        else:
            # Sorted, so the chunks' rows come out in id order too.
            rows = self._select_in(sql + " WHERE p.id IN ({marks}) ORDER BY p.id", (fingerprint,), sorted(int(i) for i in ids))
        ids_out = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if any(r[1] is None for r in rows):
            raise StoreError(f"{self.path}: some passages have no {fingerprint} vector; run `rag index --model ...`")
        blob = b"".join(r[1] for r in rows)
        vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), dim) if rows else np.zeros((0, dim), np.float32)
        return ids_out, vectors

    def vector_dim(self, fingerprint: str) -> int:
        row = self.conn.execute("SELECT length(vector) FROM vectors WHERE model=? LIMIT 1", (fingerprint,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path} holds no vectors for model {fingerprint}")
        return row[0] // 4

    def vector_counts(self) -> dict[str, int]:
        """Stored vectors per model fingerprint (a model change keeps the other models' vectors)."""
        return dict(self.conn.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model ORDER BY model"))

    # -- lexical search ----------------------------------------------------------------------
    def lexical_search(self, question: str, limit: int) -> list[tuple[int, float]]:
        """(passage id, BM25 score, higher is better) from FTS5, kept fast on large stores (rag/lexical.py)."""
        if self._lexical is None:
            self._lexical = LexicalSearch(self.conn)
        return self._lexical.search(query_words(question), limit)

    def integrity_problems(self) -> list[str]:
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows
