"""The approximate FAISS index used past Config.ann_threshold passages: IVF over float16 vectors.

Chosen by measurement (`make bench`, README "Performance"), on this 2-core machine shared with
other work: exact flat search cost ~9-15 ms per query at 100k passages and ~140-230 ms at 1M.
HNSW (M=32) reached the same recall as IVF at a similar query cost, but took ~37 s per 100k
vectors to build on one core (several minutes at 1M, on every publish) and cannot remove
vectors; IVF trains and adds 100k vectors in ~10-30 s. Vectors are kept as float16 (`SQfp16`):
half the memory of float32 at the same recall (0.98 at 100k), where 8-bit codes lost ~3 points
of recall@10.

Inverted lists: ~4 * sqrt(n) (a power of two), trained on a fixed sample of the vectors so a
rebuild from the same vectors gives the same index. `nprobe` (lists scanned per query) is a
search parameter: stored in the FAISS file, and set from Config.ann_nprobe when a retriever
loads the index, so changing it needs no rebuild.
"""
from __future__ import annotations

import math

import faiss
import numpy as np

# FAISS warns below 39 training points per centroid; 64 gives stable centroids and keeps
# training to a few seconds at 1M passages.
TRAIN_POINTS_PER_LIST = 64
MIN_LISTS, MAX_LISTS = 16, 65536
MIN_VECTORS = MIN_LISTS * 39


def applies(count: int, threshold: int | None) -> bool:
    """True when `count` vectors get the approximate index: past the threshold and enough to train."""
    return threshold is not None and count > threshold and count >= MIN_VECTORS


def nlist_for(count: int) -> int:
    """Number of inverted lists for `count` vectors: ~4 * sqrt(count), a power of two."""
    target = 4 * math.sqrt(max(count, 1))
    nlist = 2 ** round(math.log2(target))
    # Each list needs enough points to train its centroid.
    while nlist > MIN_LISTS and nlist * 39 > count:
        nlist //= 2
    return max(MIN_LISTS, min(MAX_LISTS, nlist))


def build(ids: np.ndarray, vectors: np.ndarray, dim: int, nprobe: int) -> faiss.Index:
    """IVF index (inner product, float16 vectors) over L2-normalised `vectors`, keyed by `ids`."""
    count = len(ids)
    if count < MIN_VECTORS:
        raise ValueError(f"an IVF index needs at least {MIN_VECTORS} vectors to train, got {count}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    nlist = nlist_for(count)
    index = faiss.index_factory(dim, f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
    sample = min(count, nlist * TRAIN_POINTS_PER_LIST)
    rows = np.sort(np.random.default_rng(0).choice(count, sample, replace=False)) if sample < count else slice(None)
    index.train(vectors[rows])
    index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    set_nprobe(index, nprobe)
    return index


def describe(index: faiss.Index) -> str:
    """A short name for status output and benchmarks: "flat", or "IVF4096,SQfp16 nprobe=64"."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return "flat"
    return f"IVF{ivf.nlist},SQfp16 nprobe={ivf.nprobe}"


def is_ann(index: faiss.Index) -> bool:
    return faiss.try_extract_index_ivf(index) is not None


def suits(index: faiss.Index, count: int, threshold: int | None) -> bool:
    """True if `index` is what `embeddings.index.build` would make for `count` vectors (flat, or
    IVF with the same number of lists), so a publish may update it in place instead of rebuilding.

    An IVF index grown or shrunk past a power of two of lists is rebuilt: its lists would
    otherwise get long (slower queries) or its centroids stale.
    """
    ivf = faiss.try_extract_index_ivf(index)
    if not applies(count, threshold):
        return ivf is None
    return ivf is not None and ivf.nlist == nlist_for(count)


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Lists an IVF index scans per query (a search parameter: no rebuild); flat: nothing to set."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = min(nprobe, ivf.nlist)


def ids_of(index: faiss.Index) -> np.ndarray:
    """The ids an IVF index holds, sorted (its storage order is by list)."""
    ivf = faiss.extract_index_ivf(index)
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
        for i in range(ivf.nlist)
        if lists.list_size(i)
    ]
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
