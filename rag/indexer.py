"""`rag index`: bring the store in line with the seeds folder and publish a new generation.

Only passages whose embedded text has no vector for the current model are encoded. Vectors
are committed in batches as they are made (a killed run keeps its work); the documents,
passages, FTS rows and the pointer to the new FAISS file change in one transaction, after the
FAISS file is durably on disk. A crash at any moment leaves the previous generation loadable.
How a generation's FAISS files are written (delta, merge or rebuild) is rag/generations.py's.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings import Encoder
from embeddings import index as faiss_index
from rag import generations, models
from rag.config import DEFAULT_MODEL, Config
from rag.crashpoints import crash_point
from rag.documents import Document, LoadResult, SeedsError, load_documents
from rag.passages import Passage, split_passages, text_hash
from rag.store import Store
from rag.types import IndexReport

ProgressFactory = Callable[[int], Callable[[int], None]]
# How the encode phase turns (embed hash, embed text) pairs into vectors: encode_in_process, or
# `rag index --ray`'s Ray Data job (rag/ray_encode.py). Called as encode(encoder, pairs, chunk,
# tick), it yields (hashes, vectors) chunks of `chunk` rows (the last may be smaller), keyed by hash, in any order;
# the indexer commits each chunk as it comes, so a killed run keeps every chunk it received.
EncodeChunks = Callable[..., Iterable[tuple[list[str], np.ndarray]]]


@dataclass
class _Changes:
    """What one transaction did to the documents and passages."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    added: dict[int, str] = field(default_factory=dict)  # passage id -> embed hash
    removed: dict[int, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # embed hash -> embed text of the added passages

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed)


def embed_text(title: str, passage_text: str) -> str:
    """What the encoder sees: the title gives a passage its topic (DESIGN decision 2)."""
    return f"{title}\n\n{passage_text}"


def index_seeds(
    config: Config,
    progress: ProgressFactory | None = None,
    rebuild: bool = False,
    encode: EncodeChunks | None = None,
) -> IndexReport:
    """Index config.seeds_dir into config.index_dir. `progress(total)` returns a per-batch callback;
    `encode` (default encode_in_process) makes the missing vectors.

    With rebuild=True the store is built afresh beside the old one and swapped in at the end,
    so a rebuild that dies half-way leaves the old index (sound or not) as it was, and one that
    fails (a full disk, Ctrl-C) also removes the half-built store, which would only hold space.
    """
    started = time.perf_counter()
    loaded = _load(config)
    timings = {"load": time.perf_counter() - started}
    store_path = config.store_path
    if rebuild:
        store_path = config.store_path.with_name(config.store_path.name + ".rebuild")
        _remove_sqlite_files(store_path)
    try:
        with Store.open(store_path, create=True) as store:
            report, in_use = _index(store, config, loaded.documents, list(loaded.warnings), progress, timings,
                                    started, encode or encode_in_process)
    except BaseException:
        if rebuild:
            _remove_sqlite_files(store_path)
        raise
    if rebuild:
        # The old store's journal files must not outlive it (SQLite would replay its WAL into the
        # new file); the old file itself is replaced in one rename, so a crash leaves one or the other.
        _remove_sqlite_files(config.store_path, journals_only=True)
        os.replace(store_path, config.store_path)
        faiss_index.fsync_dir(config.index_dir)
    crash_point("after_commit")
    generations.remove_stale(config.index_dir, report.generation, in_use)
    return report


def encode_missing_vectors(config: Config, progress: ProgressFactory | None = None,
                           encode: EncodeChunks | None = None) -> int:
    """The first phase of index_seeds alone: encode and store the vectors the seeds lack; returns how many.

    Readers see no change (a vector is used only once a generation that needs it is published),
    and the next index_seeds encodes none of them again, as after a run killed half-way.
    """
    loaded = _load(config)
    with Store.open(config.store_path, create=True) as store:
        encoder = encoder_for(config, store)
        switching = store.get_meta("model") != encoder.fingerprint
        pending = _pending(store, loaded.documents, config.max_passage_words)
        return _encode_phase(store, encoder, pending, config, progress, switching, encode or encode_in_process)


def _load(config: Config) -> LoadResult:
    loaded = load_documents(config.seeds_dir, config.extensions, config.max_file_bytes)
    if not loaded.documents:
        skipped = f": {'; '.join(loaded.warnings)}" if loaded.warnings else ""
        raise SeedsError(
            f"no indexable documents in {config.seeds_dir} (looked for {', '.join(config.extensions)}){skipped}"
        )
    crash_point("documents_loaded")
    return loaded


# A document's passages, their embed texts and the texts' hashes.
_Split = tuple[list[Passage], list[str], list[str]]


def _split(doc: Document, max_words: int) -> _Split:
    passages = split_passages(doc.doc_id, doc.text, max_words)
    texts = [embed_text(doc.title, p.text) for p in passages]
    return passages, texts, [text_hash(t) for t in texts]


@dataclass(frozen=True)
class _Pending:
    """What the seeds bring, read once before the write lock and shared by every model's encode
    phase and the write phase: the new and changed documents' splits and embed texts, and the
    ids of the unchanged documents."""

    splits: dict[str, _Split]
    texts: dict[str, str]  # embed hash -> embed text
    unchanged: set[str]


def _pending(store: Store, documents: list[Document], max_words: int) -> _Pending:
    stored = store.document_hashes()
    splits = {d.doc_id: _split(d, max_words) for d in documents if stored.get(d.doc_id) != d.sha256}
    texts = {h: t for _, doc_texts, hashes in splits.values() for h, t in zip(hashes, doc_texts)}
    return _Pending(splits, texts, {d.doc_id for d in documents if d.doc_id not in splits})


def _encode_phase(
    store: Store,
    encoder: Encoder,
    pending: _Pending,
    config: Config,
    progress: ProgressFactory | None,
    switching: bool,
    encode: EncodeChunks,
) -> int:
    """Vectors first, in their own small commits: harmless to readers, kept if the run dies.
    `switching` (first run or another model): unchanged documents need this model's vectors too."""
    fingerprint = encoder.fingerprint
    texts = dict(pending.texts)
    if switching:
        texts.update(
            (embed_hash, embed_text(title, text))
            for embed_hash, doc_id, title, text in store.passages_missing_vectors(fingerprint)
            if doc_id in pending.unchanged
        )
    return _encode_missing(store, encoder, fingerprint, texts, progress, config.encode_batch_size, encode)


def _index(
    store: Store,
    config: Config,
    documents: list[Document],
    warnings: list[str],
    progress: ProgressFactory | None,
    timings: dict[str, float],
    started: float,
    encode: EncodeChunks,
) -> tuple[IndexReport, set[str]]:
    """The work of index_seeds on an open store; also returns the FAISS files still in use."""
    mark = time.perf_counter()
    encoder = encoder_for(config, store)
    fingerprint = encoder.fingerprint
    switching = store.get_meta("model") != fingerprint
    pending = _pending(store, documents, config.max_passage_words)
    encoded = _encode_phase(store, encoder, pending, config, progress, switching, encode)
    reranker = rerank_encoder_for(config, store)
    if reranker is not None:
        # The "reranked" mode's vectors follow the same rule: encode only what lacks one.
        rerank_switching = store.get_meta("rerank_model") != reranker.fingerprint
        encoded += _encode_phase(store, reranker, pending, config, progress, rerank_switching, encode)
    timings["encode"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with store.transaction():
        changes = _apply_changes(store, documents, config.max_passage_words, pending.splits)
        # Another writer may have changed documents since the pre-read above; encode what its
        # changes need here (rare and small), so the generation never lacks a vector.
        encoded += _encode_late(store, encoder, fingerprint, changes, switching)
        if reranker is not None:
            encoded += _encode_late(store, reranker, reranker.fingerprint, changes, rerank_switching)
            # Recorded with the passages they cover, so a reader of this snapshot finds them all.
            store.set_meta("rerank_model", reranker.fingerprint)
            store.set_meta("rerank_model_name", reranker.name)
        store.prune_vectors(changes.removed.values())
        previous = generations.verified_manifest(store, config, fingerprint, warnings)
        generation, published = store.generation, False
        timings["apply"] = time.perf_counter() - mark
        mark = time.perf_counter()
        counts = store.counts()  # publishing writes only FAISS files and meta: the counts stand
        if changes.any or previous is None:
            generation = generations.publish(store, config, fingerprint, encoder.name, changes.added, changes.removed,
                                             previous, warnings, counts["passages"])
            published = True
        in_use = store.faiss_files_in_use()
        crash_point("before_commit")
    timings["publish"] = time.perf_counter() - mark
    report = IndexReport(
        documents=counts["documents"], new=changes.new, changed=changes.changed, unchanged=changes.unchanged,
        deleted=changes.deleted, passages=counts["passages"], encoded=encoded,
        seconds=time.perf_counter() - started, generation=generation, published=published, fingerprint=fingerprint,
        warnings=tuple(warnings), timings=timings,
    )
    return report, in_use


def encoder_for(config: Config, store: Store | None = None) -> Encoder:
    """The encoder `rag index` uses: config.model, else the model the index was built with, else the default.

    Cheap (the model loads on first use); callers that index repeatedly keep it so the model loads once.
    """
    name = config.model
    if name is None and store is not None:
        name = store.get_meta("model_name")
    elif name is None and config.store_path.exists():
        with Store.open(config.store_path) as opened:
            name = opened.get_meta("model_name")
    return models.encoder(name or DEFAULT_MODEL, config.torch_threads, config.encode_batch_size)


def rerank_encoder_for(config: Config, store: Store) -> Encoder | None:
    """The "reranked" mode's model: config.rerank_model, else the one the index recorded, else None."""
    name = config.rerank_model or store.get_meta("rerank_model_name")
    return None if name is None else models.encoder(name, config.torch_threads, config.encode_batch_size)


def encode_chunk(batch: int) -> int:
    """Texts encoded per commit: a killed run keeps every finished chunk."""
    return max(batch * 8, 256)


def encode_in_process(
    encoder: Encoder, pairs: list[tuple[str, str]], chunk: int, tick: Callable[[int], None] | None = None
) -> Iterable[tuple[list[str], np.ndarray]]:
    """The default EncodeChunks: this process's encoder, `chunk` texts at a time."""
    for i in range(0, len(pairs), chunk):
        part = pairs[i : i + chunk]
        yield [h for h, _ in part], encoder.encode([t for _, t in part], progress=tick)


def _encode_missing(
    store: Store, encoder: Encoder, fingerprint: str, texts: dict[str, str], progress: ProgressFactory | None, batch: int,
    encode: EncodeChunks,
) -> int:
    have = store.has_vectors(fingerprint, texts)
    missing = [(h, t) for h, t in texts.items() if h not in have]
    if not missing:
        return 0
    tick = progress(len(missing)) if progress else None
    for hashes, vectors in encode(encoder, missing, encode_chunk(batch), tick):
        with store.transaction():
            store.put_vectors(fingerprint, hashes, vectors)
        crash_point("vectors_committed")
    return len(missing)


def _apply_changes(store: Store, documents: list[Document], max_words: int, splits: dict[str, _Split]) -> _Changes:
    """Delete gone and changed documents, insert new and changed ones (inside the caller's transaction).
    `splits` holds the encode phase's splits; a document another writer changed since is split here."""
    changes = _Changes()
    current = store.document_hashes()
    wanted = {d.doc_id for d in documents}
    gone = [doc_id for doc_id in current if doc_id not in wanted]
    changes.removed.update(store.delete_documents(gone))
    changes.deleted = len(gone)
    for doc in documents:
        old = current.get(doc.doc_id)
        if old == doc.sha256:
            changes.unchanged += 1
            continue
        if old is None:
            changes.new += 1
        else:
            changes.changed += 1
            changes.removed.update(store.delete_documents([doc.doc_id]))
        passages, texts, hashes = splits.get(doc.doc_id) or _split(doc, max_words)
        changes.added.update(zip(store.insert_document(doc, passages, hashes), hashes))
        changes.texts.update(zip(hashes, texts))
    return changes


def _encode_late(store: Store, encoder: Encoder, fingerprint: str, changes: _Changes, switching: bool) -> int:
    """Encode, inside the transaction, passages that still have no vector (normally none)."""
    have = store.has_vectors(fingerprint, changes.texts)
    texts = {h: t for h, t in changes.texts.items() if h not in have}
    if switching:
        texts.update((h, embed_text(title, text)) for h, _, title, text in store.passages_missing_vectors(fingerprint))
    if not texts:
        return 0
    hashes = list(texts)
    store.put_vectors(fingerprint, hashes, encoder.encode([texts[h] for h in hashes]))
    return len(hashes)


def _remove_sqlite_files(path: Path, journals_only: bool = False) -> None:
    for suffix in ("-wal", "-shm", "-journal") if journals_only else ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
