"""FAISS generations: how `rag index` publishes the dense index derived from the store.

A generation's FAISS index is a manifest of files (embeddings/index.py). A small change is
published as a delta file of the added vectors plus the removed passage ids, so adding one
document to a large index writes a small file. Once the deltas reach DELTA_FRACTION of the base
(or MAX_FAISS_FILES files), the publish merges them: the previous index minus the removed
passages plus the added ones, written as a new base. It is rebuilt from the stored vectors when
the model changes or the previous files are missing, damaged or not one vector per passage.

Every file is written temp -> fsync -> os.replace -> fsync dir before the SQLite transaction that
points at it commits, so a crash at any moment leaves the previous generation loadable.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Collection
from pathlib import Path

import faiss
import numpy as np

from embeddings import ann
from embeddings import index as faiss_index
from embeddings.manifest import IndexManifest
from rag.config import Config
from rag.crashpoints import crash_point
from rag.errors import DiskFull, is_disk_full
from rag.store import Store

FAISS_PREFIX = "faiss-g"
# Deltas are merged into a new base past this fraction of the base's vectors or this many files.
DELTA_FRACTION = 0.1
MAX_FAISS_FILES = 8
_FAISS_NAME = re.compile(rf"{FAISS_PREFIX}(\d+)\.index")


def faiss_path(index_dir: Path, generation: int) -> Path:
    """The file a generation's new base or delta is written to."""
    return index_dir / f"{FAISS_PREFIX}{generation}.index"


def rebuild_from_store(store: Store, config: Config, fingerprint: str | None = None) -> faiss.Index:
    """The FAISS index of every passage's stored vector under `model` (default: the published
    generation's), flat or approximate as config.ann_threshold says."""
    if fingerprint is None:
        fingerprint, dim = store.get_meta("model"), int(store.get_meta("dim"))
    else:
        dim = store.vector_dim(fingerprint)
    ids, vectors = store.passage_vectors(fingerprint, dim)
    return faiss_index.build(ids, vectors, dim, ann_threshold=config.ann_threshold, ann_nprobe=config.ann_nprobe)


def verified_manifest(store: Store, config: Config, fingerprint: str, warnings: list[str]) -> IndexManifest | None:
    """The published generation's files if the next one can build on them, else None (with a warning if damaged)."""
    manifest = store.faiss_info()
    if manifest is None or store.get_meta("model") != fingerprint:
        return None
    try:
        faiss_index.verify(config.index_dir, manifest)
    except faiss_index.IndexFileError as exc:
        warnings.append(f"{exc}; rebuilt from the stored vectors")
        return None
    return manifest


def publish(
    store: Store,
    config: Config,
    fingerprint: str,
    model_name: str,
    added: Collection[int],
    removed: Collection[int],
    previous: IndexManifest | None,
    warnings: list[str],
    passages: int,
) -> int:
    """Write the next generation's FAISS file, then point the store at it (the caller commits).

    `added` and `removed` are the passage ids this transaction changed, `previous` the
    generation to build on (from verified_manifest), `passages` the store's passage count.
    """
    generation = max(store.generation, _highest_faiss_generation(config.index_dir)) + 1
    dim = store.vector_dim(fingerprint)
    path = faiss_path(config.index_dir, generation)
    if previous is not None and previous.count != passages - len(added) + len(removed):
        warnings.append(
            f"the FAISS index of generation {store.generation} holds {previous.count} vectors, not one per passage; "
            "rebuilt from the stored vectors"
        )
        previous = None
    if previous is not None and _fits_delta(previous, added, removed):
        # Small change: only the added vectors go to a new file; the rest is the previous files.
        delta_index = faiss_index.build(*store.passage_vectors(fingerprint, dim, ids=added), dim) if added else None
        crash_point("before_faiss_replace")
        delta = _write(store, delta_index, path) if delta_index is not None else None
        crash_point("after_faiss_replace")
        manifest = previous.with_delta(delta, sorted(removed))
    else:
        # `previous` came from verified_manifest, which has just checked the files' checksums.
        base = faiss_index.load_verified(config.index_dir, previous, checksummed=True) if previous is not None else None
        index = _next_index(store, config, fingerprint, dim, added, removed, base, warnings)
        crash_point("before_faiss_replace")
        manifest = IndexManifest((_write(store, index, path),))
        crash_point("after_faiss_replace")
    record_generation(store, config, generation, manifest, fingerprint, model_name, dim)
    return generation


def _write(store: Store, index: faiss.Index, path: Path) -> faiss_index.IndexFileInfo:
    """Write a FAISS file of the transaction being built: deleted again if it does not commit
    (a file numbered above the published generation is otherwise kept for its writer), and a
    full disk is reported as DiskFull with the file's size."""
    try:
        info = faiss_index.write_atomic(index, path)  # leaves no temp file, whatever happens
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(path.parent, faiss_index.estimated_bytes(index)) from None
        raise
    store.on_rollback(lambda: path.unlink(missing_ok=True))
    return info


def record_generation(
    store: Store, config: Config, generation: int, manifest: IndexManifest, fingerprint: str, model_name: str, dim: int
) -> None:
    """Point the store at a written generation: its FAISS files and the meta keys the retriever
    reads (model fingerprint and name, dimension). The caller commits."""
    store.set_faiss_info(manifest)
    meta = {"generation": generation, "model": fingerprint, "model_name": model_name, "dim": dim,
            "indexed_at": time.time(), "config": config.to_json()}
    for key, value in meta.items():
        store.set_meta(key, str(value))


def _fits_delta(previous: IndexManifest, added: Collection[int], removed: Collection[int]) -> bool:
    """Publish as a delta while deltas stay small next to the base; else merge into a new base.

    Every load re-applies the deltas, so they are merged once they reach DELTA_FRACTION of the
    base or MAX_FAISS_FILES files; the merge costs one full write, spread over many changes.
    """
    size = previous.delta_size + len(added) + len(removed)
    return len(previous.files) < MAX_FAISS_FILES and size <= DELTA_FRACTION * previous.files[0].count


def _next_index(
    store: Store,
    config: Config,
    fingerprint: str,
    dim: int,
    added: Collection[int],
    removed: Collection[int],
    previous: faiss.Index | None,
    warnings: list[str],
) -> faiss.Index:
    """previous - removed + added when that gives exactly the store's passages; else a full rebuild."""
    # Crossing Config.ann_threshold (flat <-> approximate) or an IVF list-count step rebuilds.
    count = 0 if previous is None else previous.ntotal - len(removed) + len(added)
    if previous is not None and previous.d == dim and ann.suits(previous, count, config.ann_threshold):
        faiss_index.remove(previous, np.fromiter(removed, dtype=np.int64))
        faiss_index.add(previous, *store.passage_vectors(fingerprint, dim, ids=added))
        # Passage ids only grow (AUTOINCREMENT), so this is the id order a full rebuild gives.
        if np.array_equal(faiss_index.ids_of(previous), store.passage_ids()):
            return previous
        warnings.append("the previous FAISS index did not hold exactly the store's passages; rebuilt from the stored vectors")
    return rebuild_from_store(store, config, fingerprint)


def _highest_faiss_generation(index_dir: Path) -> int:
    """Highest generation with a file on disk: a new generation never overwrites a file (even an
    uncommitted one a killed run left, or one from a store that --rebuild replaced)."""
    numbers = [int(m.group(1)) for p in index_dir.glob(f"{FAISS_PREFIX}*.index") if (m := _FAISS_NAME.fullmatch(p.name))]
    return max(numbers, default=0)


def remove_stale(index_dir: Path, generation: int, in_use: set[str]) -> None:
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
