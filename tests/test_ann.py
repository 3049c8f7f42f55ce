"""The approximate FAISS index (embeddings/ann.py) against exact search, and its selection at publish."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from embeddings import ann
from embeddings import index as faiss_index
from rag.config import Config

DIM = 384


def topic_vectors(count: int, topics: int, seed: int) -> np.ndarray:
    """L2-normalised vectors around `topics` random directions, as sentence embeddings of text on
    a few subjects are: each passage is its topic plus as much noise again."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((count, DIM)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out = centres[rng.integers(0, topics, count)] + noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def near(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Queries close to (not equal to) corpus vectors."""
    rng = np.random.default_rng(seed)
    jitter = rng.standard_normal((count, DIM)).astype(np.float32)
    out = vectors[rng.integers(0, len(vectors), count)] + 0.5 * jitter / np.linalg.norm(jitter, axis=1, keepdims=True)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def exact_top10(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """Brute force with numpy: the reference the FAISS index is held to."""
    scores = queries @ vectors.T
    return [set(ids[np.argsort(-row, kind="stable")[:10]].tolist()) for row in scores]


def same_top10_share(index, ids, vectors, queries) -> float:
    truth = exact_top10(ids, vectors, queries)
    found = [set(faiss_index.search(index, q, 10)[1].tolist()) for q in queries]
    return sum(f == t for f, t in zip(found, truth)) / len(queries)


def test_forced_approximate_index_returns_the_exact_top10_for_95_percent_of_queries():
    config = Config(ann_threshold=1_000)  # force the automatic selection on
    vectors = topic_vectors(20_000, topics=200, seed=1)
    ids = np.arange(10, 20_010, dtype=np.int64)  # passage ids need not start at 0
    index = faiss_index.build(ids, vectors, DIM, ann_threshold=config.ann_threshold, ann_nprobe=config.ann_nprobe)
    ivf = faiss.extract_index_ivf(index)
    assert ann.is_ann(index)
    assert ivf.nprobe < ivf.nlist  # approximate: not every list is scanned
    assert same_top10_share(index, ids, vectors, near(vectors, 200, seed=2)) >= 0.95


def test_below_the_threshold_the_index_is_exact():
    vectors = topic_vectors(2_000, topics=20, seed=3)
    ids = np.arange(1, 2_001, dtype=np.int64)
    index = faiss_index.build(ids, vectors, DIM, ann_threshold=Config().ann_threshold, ann_nprobe=Config().ann_nprobe)
    assert not ann.is_ann(index)
    assert same_top10_share(index, ids, vectors, near(vectors, 50, seed=4)) == 1.0


def test_approximate_index_survives_its_file_format_and_keeps_nprobe(tmp_path):
    vectors = topic_vectors(5_000, topics=50, seed=5)
    ids = np.arange(1, 5_001, dtype=np.int64)
    built = faiss_index.build(ids, vectors, DIM, ann_threshold=0, ann_nprobe=7)
    info = faiss_index.write_atomic(built, tmp_path / "faiss-g1.index")
    loaded = faiss_index.load_verified(tmp_path, info)
    assert ann.describe(loaded) == ann.describe(built)
    assert "nprobe=7" in ann.describe(loaded)
    queries = near(vectors, 20, seed=6)
    for q in queries:
        assert faiss_index.search(loaded, q, 10)[1].tolist() == faiss_index.search(built, q, 10)[1].tolist()


def test_removed_passages_are_never_returned_and_ids_stay_sorted():
    vectors = topic_vectors(3_000, topics=30, seed=7)
    ids = np.arange(1, 3_001, dtype=np.int64)
    index = faiss_index.build(ids, vectors, DIM, ann_threshold=0, ann_nprobe=16)
    gone = np.arange(1, 3_001, 3, dtype=np.int64)
    assert faiss_index.remove(index, gone) == len(gone)
    assert faiss_index.ids_of(index).tolist() == sorted(set(ids.tolist()) - set(gone.tolist()))
    for q in vectors[gone[:20] - 1]:  # a removed passage's own vector finds other passages
        assert not set(faiss_index.search(index, q, 10)[1].tolist()) & set(gone.tolist())


@pytest.mark.parametrize(
    "count, threshold, expect_ivf",
    [(700, 500, True), (700, 1_000, False), (700, None, False), (600, 100, False)],  # 600 < MIN_VECTORS
)
def test_applies_only_past_the_threshold_with_enough_vectors_to_train(count, threshold, expect_ivf):
    assert ann.applies(count, threshold) is expect_ivf


def test_an_index_suits_a_new_count_only_within_its_list_step():
    vectors = topic_vectors(5_000, topics=50, seed=8)
    index = faiss_index.build(np.arange(5_000), vectors, DIM, ann_threshold=1_000, ann_nprobe=32)
    nlist = faiss.extract_index_ivf(index).nlist
    assert ann.suits(index, 5_100, 1_000)  # a few passages more: add in place
    assert not ann.suits(index, 5_100, 10_000)  # back under the threshold: exact again
    grown = next(n for n in range(5_000, 10**7, 1_000) if ann.nlist_for(n) != nlist)
    assert not ann.suits(index, grown, 1_000)


def test_publish_selects_the_approximate_index_past_the_threshold(tmp_path, encoder):
    """Through `rag index` and the retriever: dense hits equal exact search over the stored vectors."""
    from rag.indexer import index_seeds
    from rag.retrieve import Retriever
    from rag.store import Store

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    subjects = ["volcano", "violin", "glacier", "orbit", "harbour", "copper", "falcon", "meadow"]
    for d in range(36):
        paragraphs = [f"Notes {d}"] + [
            f"Entry {d}-{p} on the {subjects[(d + p) % len(subjects)]}: item {p * 7 + d} of series {d}."
            for p in range(20)
        ]
        (seeds / f"doc{d:02d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index", ann_threshold=500)
    report = index_seeds(config)
    assert report.passages > 624  # enough to train the IVF lists

    with Store.open(config.store_path) as store:
        loaded = faiss_index.load_verified(config.index_dir, store.faiss_info())
        ids, vectors = store.passage_vectors(store.get_meta("model"), int(store.get_meta("dim")))
    assert ann.is_ann(loaded)

    questions = [f"Entry {d}-{d % 20} on the {subjects[d % 8]}" for d in range(0, 36, 2)]
    retriever = Retriever(config)
    try:
        got = [set(h.passage.id for h in retriever.search(q, k=10, mode="dense").hits) for q in questions]
    finally:
        retriever.close()
    truth = exact_top10(ids, vectors, encoder.encode(questions))
    assert sum(g == t for g, t in zip(got, truth)) / len(questions) >= 0.95
