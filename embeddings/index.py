"""The FAISS index: derived from the vectors in the store, written atomically, verified on load.

The SQLite store is the source of truth. A generation's FAISS index is described by an
`IndexManifest`: a base file, small delta files (passages added since the base was written)
and the ids removed since. Files are never modified once written, so a small change to a
large index writes a small file rather than the whole index again (Lucene's segments, in
miniature); the deltas are applied when the index is loaded. Whenever a file is missing or
does not match what the store recorded, the index is rebuilt from the stored vectors.
"""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import faiss
import numpy as np

from embeddings import ann
from embeddings.manifest import IndexFileInfo, IndexManifest


class IndexFileError(RuntimeError):
    """The FAISS file is missing, truncated, corrupt or from another generation."""


def build(
    ids: np.ndarray, vectors: np.ndarray, dim: int, ann_threshold: int | None = None, ann_nprobe: int = 192
) -> faiss.Index:
    """Exact inner-product search over L2-normalised vectors, keyed by passage id; past
    `ann_threshold` vectors, the approximate index of embeddings/ann.py instead."""
    if ann.applies(len(ids), ann_threshold):
        return ann.build(ids, vectors, dim, ann_nprobe)
    index = faiss.IndexIDMap(faiss.IndexFlatIP(dim))
    add(index, ids, vectors)
    return index


def add(index: faiss.Index, ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))


def remove(index: faiss.Index, ids: np.ndarray) -> int:
    """Remove these ids (absent ones are ignored); returns how many were removed."""
    if not len(ids):
        return 0
    return int(index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))))


def ids_of(index: faiss.Index) -> np.ndarray:
    """The passage ids an index built by `build` holds, in storage order (sorted for IVF)."""
    if ann.is_ann(index):
        return ann.ids_of(index)
    return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)


def write_atomic(index: faiss.Index, path: Path) -> IndexFileInfo:
    """Write to a temp file, fsync, rename over `path`, fsync the folder.

    A crash at any point leaves either no file at `path` or the complete one. FAISS writes the
    file itself (serialising to memory first costs seconds at 100k vectors).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        _write_index(index, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
            digest = _sha256(fh)
        os.replace(tmp, path)
    except BaseException:
        # A long-running writer (the chat) would keep a failed write's temp file forever: the
        # stale-file sweep spares the temp files of live processes. A full disk most of all.
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return IndexFileInfo(path.name, digest, index.ntotal, index.d)


def _write_index(index: faiss.Index, path: Path) -> None:
    """faiss.write_index, with a full disk raised as OSError(ENOSPC) (FAISS raises RuntimeError)."""
    try:
        faiss.write_index(index, str(path))
    except RuntimeError as exc:
        if "No space left" in str(exc) or "Disk quota" in str(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise


def estimated_bytes(index: faiss.Index) -> int:
    """About the size of `index` written to a file: its vectors' codes and ids."""
    code_size = getattr(index, "code_size", 0) or index.d * 4
    return index.ntotal * (code_size + 8) + 4096


def _sha256(fh) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_verified(folder: Path, expected: IndexManifest | IndexFileInfo, checksummed: bool = False) -> faiss.Index:
    """Load a generation's index (or one file), checking every file is byte-for-byte the one
    the store recorded (skipped when the caller has just run `verify`: files never change once
    written, and hashing a large base twice costs seconds); deltas are added to the base and
    removed ids taken out."""
    manifest = expected if isinstance(expected, IndexManifest) else IndexManifest((expected,))
    index = _load_file(folder, manifest.files[0], checksummed)
    for info in manifest.files[1:]:
        delta = _load_file(folder, info, checksummed)
        add(index, ids_of(delta), delta.index.reconstruct_n(0, delta.ntotal))
    remove(index, np.asarray(manifest.removed, dtype=np.int64))
    if index.ntotal != manifest.count:
        raise IndexFileError(
            f"FAISS files {', '.join(manifest.names)} hold {index.ntotal} vectors after their deltas, "
            f"the store expects {manifest.count}"
        )
    return index


def verify(folder: Path, manifest: IndexManifest) -> None:
    """Check every file of a generation against its recorded checksum, without loading it."""
    for info in manifest.files:
        _check_file(folder, info)


def _check_file(folder: Path, expected: IndexFileInfo) -> Path:
    path = folder / expected.name
    try:
        with open(path, "rb") as fh:
            digest = _sha256(fh)
    except FileNotFoundError:
        raise IndexFileError(f"FAISS file {path} is missing") from None
    except OSError as exc:
        raise IndexFileError(f"FAISS file {path} cannot be read: {exc.strerror or exc}") from None
    if digest != expected.sha256:
        raise IndexFileError(f"FAISS file {path} does not match its recorded checksum (truncated, corrupt or replaced)")
    return path


def _load_file(folder: Path, expected: IndexFileInfo, checksummed: bool = False) -> faiss.Index:
    path = folder / expected.name if checksummed else _check_file(folder, expected)
    try:
        # Files are never modified once renamed into place, so the bytes just hashed are the ones read.
        index = faiss.read_index(str(path))
    except RuntimeError as exc:  # faiss reports format errors as RuntimeError
        raise IndexFileError(f"FAISS file {path} cannot be parsed: {exc}") from None
    if index.ntotal != expected.count or index.d != expected.dim:
        raise IndexFileError(
            f"FAISS file {path} holds {index.ntotal} vectors of dimension {index.d}, "
            f"the store expects {expected.count} of dimension {expected.dim}"
        )
    return index


def search(index: faiss.Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the k nearest, dropping FAISS's -1 padding when k > ntotal."""
    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), min(k, index.ntotal))
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
