"""The FAISS index: derived from the vectors in the store, written atomically, verified on load.

The SQLite store is the source of truth. A FAISS file is only a cache of its vectors for one
generation; whenever it is missing or does not match what the store recorded, it is rebuilt
from the stored vectors.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


class IndexFileError(RuntimeError):
    """The FAISS file is missing, truncated, corrupt or from another generation."""


@dataclass(frozen=True)
class IndexFileInfo:
    name: str  # file name inside the index directory
    sha256: str
    count: int
    dim: int


def build(ids: np.ndarray, vectors: np.ndarray, dim: int) -> faiss.Index:
    """Exact inner-product search over L2-normalised vectors, keyed by passage id."""
    index = faiss.IndexIDMap(faiss.IndexFlatIP(dim))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def write_atomic(index: faiss.Index, path: Path) -> IndexFileInfo:
    """Write to a temp file, fsync, rename over `path`, fsync the folder.

    A crash at any point leaves either no file at `path` or the complete one.
    """
    data = faiss.serialize_index(index).tobytes()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return IndexFileInfo(path.name, hashlib.sha256(data).hexdigest(), index.ntotal, index.d)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_verified(folder: Path, expected: IndexFileInfo) -> faiss.Index:
    """Read the file and check it is byte-for-byte the one the store recorded."""
    path = folder / expected.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IndexFileError(f"FAISS file {path} is missing") from None
    except OSError as exc:
        raise IndexFileError(f"FAISS file {path} cannot be read: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected.sha256:
        raise IndexFileError(f"FAISS file {path} does not match its recorded checksum (truncated, corrupt or replaced)")
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
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
