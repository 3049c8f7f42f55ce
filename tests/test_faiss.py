"""The FAISS index against a numpy brute-force reference, and its atomic file round trip."""
from __future__ import annotations

import numpy as np
import pytest

from embeddings import index as faiss_index


def _unit_rows(rng, n, dim):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_matches_numpy_brute_force(tmp_path):
    rng = np.random.default_rng(7)
    vectors = _unit_rows(rng, 3000, 384)
    ids = rng.choice(10**9, size=3000, replace=False).astype(np.int64)  # sparse, like passage ids
    index = faiss_index.build(ids, vectors, 384)
    for query in _unit_rows(rng, 25, 384):
        scores, got = faiss_index.search(index, query, 10)
        brute = vectors @ query
        order = np.argsort(-brute, kind="stable")[:10]
        assert got.tolist() == ids[order].tolist()
        np.testing.assert_allclose(scores, brute[order], rtol=1e-5, atol=1e-5)


def test_search_with_k_larger_than_the_index_returns_only_real_hits():
    rng = np.random.default_rng(1)
    index = faiss_index.build(np.array([5, 9]), _unit_rows(rng, 2, 8), 8)
    scores, ids = faiss_index.search(index, _unit_rows(rng, 1, 8)[0], 10)
    assert sorted(ids.tolist()) == [5, 9] and len(scores) == 2


def test_written_file_loads_back_and_a_changed_byte_is_detected(tmp_path):
    rng = np.random.default_rng(3)
    index = faiss_index.build(np.arange(50), _unit_rows(rng, 50, 16), 16)
    info = faiss_index.write_atomic(index, tmp_path / "g1.index")
    loaded = faiss_index.load_verified(tmp_path, info)
    assert loaded.ntotal == 50
    data = bytearray((tmp_path / "g1.index").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "g1.index").write_bytes(bytes(data))
    with pytest.raises(faiss_index.IndexFileError, match="checksum"):
        faiss_index.load_verified(tmp_path, info)
