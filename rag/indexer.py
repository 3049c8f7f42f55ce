"""`rag index`: bring the store in line with the seeds folder and publish a new generation.

Only passages whose embedded text has no vector for the current model are encoded. Vectors
are committed in batches as they are made (a killed run keeps its work); the documents,
passages, FTS rows and the pointer to the new FAISS file change in one transaction, after the
FAISS file is durably on disk. A crash at any moment leaves the previous generation loadable.

A generation's FAISS index is a manifest of files (embeddings/index.py). A small change is
published as a delta file of the added vectors plus the removed passage ids, so adding one
document to a large index writes a small file. Once the deltas reach DELTA_FRACTION of the base
(or MAX_FAISS_FILES files), the publish merges them: the previous index minus the removed
passages plus the added ones, written as a new base. It is rebuilt from the stored vectors when
the model changes or the previous files are missing, damaged or not one vector per passage.
"""
from __future__ import annotations

import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from embeddings import Encoder, ann
from embeddings import index as faiss_index
from embeddings.index import IndexManifest
from rag.config import DEFAULT_MODEL, Config
from rag.documents import Document, LoadResult, SeedsError, load_documents
from rag.passages import Passage, split_passages, text_hash
from rag.store import Store
from rag.types import IndexReport

FAISS_PREFIX = "faiss-g"
# Deltas are merged into a new base past this fraction of the base's vectors or this many files.
DELTA_FRACTION = 0.1
MAX_FAISS_FILES = 8
_FAISS_NAME = re.compile(rf"{FAISS_PREFIX}(\d+)\.index")

ProgressFactory = Callable[[int], Callable[[int], None]]


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


def _crash_point(name: str) -> None:
    """Test hooks for the crash tests; no effect unless the variables are set.

    RAG_TEST_KILL_AT=<name> SIGKILLs this process at that point; RAG_TEST_PAUSE=<seconds>
    announces every point on stderr and sleeps there, so a test killing at random moments
    lands in every phase of a run rather than mostly in its start-up.
    """
    if os.environ.get("RAG_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get("RAG_TEST_PAUSE")
    if pause:
        print(f"rag-test: at {name}", file=sys.stderr, flush=True)
        time.sleep(float(pause))


def index_seeds(
    config: Config,
    progress: ProgressFactory | None = None,
    encoder: Encoder | None = None,
    rebuild: bool = False,
) -> IndexReport:
    """Index config.seeds_dir into config.index_dir. `progress(total)` returns a per-batch callback.

    With rebuild=True the store is built afresh beside the old one and swapped in at the end,
    so a rebuild that dies half-way leaves the old index (sound or not) as it was.
    """
    started = time.perf_counter()
    loaded = _load(config)
    timings = {"load": time.perf_counter() - started}
    store_path = config.store_path
    if rebuild:
        store_path = config.store_path.with_name(config.store_path.name + ".rebuild")
        _remove_sqlite_files(store_path)
    with Store.open(store_path, create=True) as store:
        report, in_use = _index(store, config, loaded.documents, list(loaded.warnings), progress, encoder, timings, started)
    if rebuild:
        # The old store's journal files must not outlive it (SQLite would replay its WAL into the
        # new file); the old file itself is replaced in one rename, so a crash leaves one or the other.
        _remove_sqlite_files(config.store_path, journals_only=True)
        os.replace(store_path, config.store_path)
        faiss_index.fsync_dir(config.index_dir)
    _crash_point("after_commit")
    _remove_stale_faiss(config.index_dir, report.generation, in_use)
    return report


def encode_missing_vectors(config: Config, encoder: Encoder | None = None, progress: ProgressFactory | None = None) -> int:
    """The first phase of index_seeds alone: encode and store the vectors the seeds lack; returns how many.

    Readers see no change (a vector is used only once a generation that needs it is published),
    and the next index_seeds encodes none of them again, as after a run killed half-way.
    """
    loaded = _load(config)
    with Store.open(config.store_path, create=True) as store:
        encoder = encoder or encoder_for(config, store)
        switching = store.get_meta("model") != encoder.fingerprint
        pending = _pending(store, loaded.documents, config.max_passage_words)
        return _encode_phase(store, encoder, pending, config, progress, switching)


def _load(config: Config) -> LoadResult:
    loaded = load_documents(config.seeds_dir, config.extensions, config.max_file_bytes)
    if not loaded.documents:
        skipped = f": {'; '.join(loaded.warnings)}" if loaded.warnings else ""
        raise SeedsError(
            f"no indexable documents in {config.seeds_dir} (looked for {', '.join(config.extensions)}){skipped}"
        )
    _crash_point("documents_loaded")
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
) -> int:
    """Vectors first, in their own small commits: harmless to readers, kept if the run dies.
    `switching` (first run or another model): unchanged documents need this model's vectors too."""
    model = encoder.fingerprint
    texts = dict(pending.texts)
    if switching:
        texts.update(
            (embed_hash, embed_text(title, text))
            for embed_hash, doc_id, title, text in store.passages_missing_vectors(model)
            if doc_id in pending.unchanged
        )
    return _encode_missing(store, encoder, model, texts, progress, config.encode_batch_size)


def _index(
    store: Store,
    config: Config,
    documents: list[Document],
    warnings: list[str],
    progress: ProgressFactory | None,
    encoder: Encoder | None,
    timings: dict[str, float],
    started: float,
) -> tuple[IndexReport, set[str]]:
    """The work of index_seeds on an open store; also returns the FAISS files still in use."""
    mark = time.perf_counter()
    encoder = encoder or encoder_for(config, store)
    model = encoder.fingerprint
    switching = store.get_meta("model") != model
    pending = _pending(store, documents, config.max_passage_words)
    encoded = _encode_phase(store, encoder, pending, config, progress, switching)
    reranker = rerank_encoder_for(config, store)
    if reranker is not None:
        # The "reranked" mode's vectors follow the same rule: encode only what lacks one.
        rerank_switching = store.get_meta("rerank_model") != reranker.fingerprint
        encoded += _encode_phase(store, reranker, pending, config, progress, rerank_switching)
    timings["encode"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with store.transaction():
        changes = _apply_changes(store, documents, config.max_passage_words, pending.splits)
        # Another writer may have changed documents since the pre-read above; encode what its
        # changes need here (rare and small), so the generation never lacks a vector.
        encoded += _encode_late(store, encoder, model, changes, switching)
        if reranker is not None:
            encoded += _encode_late(store, reranker, reranker.fingerprint, changes, rerank_switching)
            # Recorded with the passages they cover, so a reader of this snapshot finds them all.
            store.set_meta("rerank_model", reranker.fingerprint)
            store.set_meta("rerank_model_name", reranker.name)
        store.prune_vectors(changes.removed.values())
        previous = _verified_manifest(store, config, model, warnings)
        generation, published = store.generation, False
        timings["apply"] = time.perf_counter() - mark
        mark = time.perf_counter()
        counts = store.counts()  # publishing writes only FAISS files and meta: the counts stand
        if changes.any or previous is None:
            generation = _publish(store, config, encoder, model, changes, previous, warnings, counts["passages"])
            published = True
        in_use = store.faiss_files_in_use()
        _crash_point("before_commit")
    timings["publish"] = time.perf_counter() - mark
    report = IndexReport(
        documents=counts["documents"], new=changes.new, changed=changes.changed, unchanged=changes.unchanged,
        deleted=changes.deleted, passages=counts["passages"], encoded=encoded,
        seconds=time.perf_counter() - started, generation=generation, published=published, model=model,
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
    return config.encoder(name or DEFAULT_MODEL)


def rerank_encoder_for(config: Config, store: Store) -> Encoder | None:
    """The "reranked" mode's model: config.rerank_model, else the one the index recorded, else None."""
    name = config.rerank_model or store.get_meta("rerank_model_name")
    return None if name is None else config.encoder(name)


def encode_chunk(batch: int) -> int:
    """Texts encoded per commit: a killed run keeps every finished chunk."""
    return max(batch * 8, 256)


def _encode_missing(
    store: Store, encoder: Encoder, model: str, texts: dict[str, str], progress: ProgressFactory | None, batch: int
) -> int:
    have = store.has_vectors(model, texts)
    missing = [h for h in texts if h not in have]
    if not missing:
        return 0
    tick = progress(len(missing)) if progress else None
    step = encode_chunk(batch)
    for i in range(0, len(missing), step):
        chunk = missing[i : i + step]
        vectors = encoder.encode([texts[h] for h in chunk], progress=tick)
        with store.transaction():
            store.put_vectors(model, chunk, vectors)
        _crash_point("vectors_committed")
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


def _encode_late(store: Store, encoder: Encoder, model: str, changes: _Changes, switching: bool) -> int:
    """Encode, inside the transaction, passages that still have no vector (normally none)."""
    have = store.has_vectors(model, changes.texts)
    texts = {h: t for h, t in changes.texts.items() if h not in have}
    if switching:
        texts.update((h, embed_text(title, text)) for h, _, title, text in store.passages_missing_vectors(model))
    if not texts:
        return 0
    hashes = list(texts)
    store.put_vectors(model, hashes, encoder.encode([texts[h] for h in hashes]))
    return len(hashes)


def _verified_manifest(store: Store, config: Config, model: str, warnings: list[str]) -> IndexManifest | None:
    """The published generation's files if the next one can build on them, else None (with a warning if damaged)."""
    manifest = store.faiss_info()
    if manifest is None or store.get_meta("model") != model:
        return None
    try:
        faiss_index.verify(config.index_dir, manifest)
    except faiss_index.IndexFileError as exc:
        warnings.append(f"{exc}; rebuilt from the stored vectors")
        return None
    return manifest


def _publish(
    store: Store,
    config: Config,
    encoder: Encoder,
    model: str,
    changes: _Changes,
    previous: IndexManifest | None,
    warnings: list[str],
    passages: int,
) -> int:
    """Write the next generation's FAISS file, then point the store at it (the caller commits)."""
    generation = max(store.generation, _highest_faiss_generation(config.index_dir)) + 1
    dim = store.vector_dim(model)
    path = config.index_dir / f"{FAISS_PREFIX}{generation}.index"
    if previous is not None and previous.count != passages - len(changes.added) + len(changes.removed):
        warnings.append(
            f"the FAISS index of generation {store.generation} holds {previous.count} vectors, not one per passage; "
            "rebuilt from the stored vectors"
        )
        previous = None
    if previous is not None and _fits_delta(previous, changes):
        # Small change: only the added vectors go to a new file; the rest is the previous files.
        added = faiss_index.build(*store.passage_vectors(model, dim, ids=changes.added), dim) if changes.added else None
        _crash_point("before_faiss_replace")
        delta = faiss_index.write_atomic(added, path) if added is not None else None
        _crash_point("after_faiss_replace")
        manifest = previous.with_delta(delta, sorted(changes.removed))
    else:
        # `previous` came from _verified_manifest, which has just checked the files' checksums.
        base = faiss_index.load_verified(config.index_dir, previous, checksummed=True) if previous is not None else None
        index = _next_index(store, config, model, dim, changes, base, warnings)
        _crash_point("before_faiss_replace")
        manifest = IndexManifest((faiss_index.write_atomic(index, path),))
        _crash_point("after_faiss_replace")
    record_generation(store, config, generation, manifest, model, encoder.name, dim)
    return generation


def record_generation(
    store: Store, config: Config, generation: int, manifest: IndexManifest, model: str, model_name: str, dim: int
) -> None:
    """Point the store at a written generation: its FAISS files and the meta keys the retriever
    reads (model fingerprint and name, dimension). The caller commits."""
    store.set_faiss_info(manifest)
    meta = {"generation": generation, "model": model, "model_name": model_name, "dim": dim,
            "indexed_at": time.time(), "config": config.to_json()}
    for key, value in meta.items():
        store.set_meta(key, str(value))


def _fits_delta(previous: IndexManifest, changes: _Changes) -> bool:
    """Publish as a delta while deltas stay small next to the base; else merge into a new base.

    Every load re-applies the deltas, so they are merged once they reach DELTA_FRACTION of the
    base or MAX_FAISS_FILES files; the merge costs one full write, spread over many changes.
    """
    size = previous.delta_size + len(changes.added) + len(changes.removed)
    return len(previous.files) < MAX_FAISS_FILES and size <= DELTA_FRACTION * previous.files[0].count


def _next_index(
    store: Store, config: Config, model: str, dim: int, changes: _Changes, previous, warnings: list[str]
):
    """previous - removed + added when that gives exactly the store's passages; else a full rebuild."""
    # Crossing Config.ann_threshold (flat <-> approximate) or an IVF list-count step rebuilds.
    count = 0 if previous is None else previous.ntotal - len(changes.removed) + len(changes.added)
    if previous is not None and previous.d == dim and ann.suits(previous, count, config.ann_threshold):
        faiss_index.remove(previous, np.fromiter(changes.removed, dtype=np.int64))
        faiss_index.add(previous, *store.passage_vectors(model, dim, ids=changes.added))
        # Passage ids only grow (AUTOINCREMENT), so this is the id order a full rebuild gives.
        if np.array_equal(faiss_index.ids_of(previous), store.passage_ids()):
            return previous
        warnings.append("the previous FAISS index did not hold exactly the store's passages; rebuilt from the stored vectors")
    return faiss_index.build(
        *store.passage_vectors(model, dim), dim, ann_threshold=config.ann_threshold, ann_nprobe=config.ann_nprobe
    )


def _highest_faiss_generation(index_dir: Path) -> int:
    """Highest generation with a file on disk: a new generation never overwrites a file (even an
    uncommitted one a killed run left, or one from a store that --rebuild replaced)."""
    numbers = [int(m.group(1)) for p in index_dir.glob(f"{FAISS_PREFIX}*.index") if (m := _FAISS_NAME.fullmatch(p.name))]
    return max(numbers, default=0)


def _remove_sqlite_files(path: Path, journals_only: bool = False) -> None:
    for suffix in ("-wal", "-shm", "-journal") if journals_only else ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _remove_stale_faiss(index_dir: Path, generation: int, in_use: set[str]) -> None:
    """Delete files neither the current nor the previous generation uses (a reader may still be
    loading the previous one). Numbers above the current generation are never touched: they
    may belong to a writer that has not committed yet."""
    for path in index_dir.glob(f"{FAISS_PREFIX}*.index"):
        match = _FAISS_NAME.fullmatch(path.name)
        if match and int(match.group(1)) < generation and path.name not in in_use:
            path.unlink(missing_ok=True)
    for path in index_dir.glob(f".{FAISS_PREFIX}*.tmp-*"):  # left by a killed writer
        pid = path.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
