"""The opt-in "reranked" mode: the top passages also scored by a larger packaged bi-encoder
(all-mpnet-base-v2) from vectors `rag index --rerank-model` stores and keeps current."""
from __future__ import annotations

import json

import numpy as np

from conftest import invoke_rag
from rag.config import RERANK_MODEL, Config
from rag.indexer import index_seeds
from rag.qa import QA
from rag.retrieve import rerank
from rag.status import index_status
from rag.types import Hit, StoredPassage

DOCS = {
    "tides.txt": "Tides\n\nThe harbour empties twice a day at low tide.\n\nSpring tides follow the full moon.\n",
    "lamps.txt": "Lamps\n\nThe keeper trimmed the lamp wick every evening.\n",
}


def _seeds(tmp_path, docs: dict[str, str]):
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    for name, text in docs.items():
        (seeds / name).write_text(text, encoding="utf-8")
    return seeds


def test_reranked_mode_on_an_index_without_its_vectors_says_how_to_build_them(tmp_path, encoder):
    config = Config(seeds_dir=_seeds(tmp_path, DOCS), index_dir=tmp_path / "index")
    index_seeds(config)
    done = invoke_rag("ask", "When is low tide?", "--mode", "reranked", "--index-dir", str(config.index_dir))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"run `rag index --rerank-model {RERANK_MODEL}` first" in done.stderr


def test_rerank_vectors_are_encoded_once_and_follow_new_documents(tmp_path, encoder):
    config = Config(seeds_dir=_seeds(tmp_path, DOCS), index_dir=tmp_path / "index")
    first = index_seeds(config)
    # Added to an existing index: only mpnet's vectors are encoded; the documents did not change,
    # so no new generation is needed.
    with_rerank = index_seeds(config.replace(rerank_model=RERANK_MODEL))
    assert (with_rerank.encoded, with_rerank.published) == (first.passages, False)
    status = index_status(config)
    assert status["rerank_model"].startswith(f"{RERANK_MODEL}@")
    assert sorted(status["vector_sets"].values()) == [first.passages, first.passages]

    # Later runs need no flag: the index remembers its re-ranking model.
    assert index_seeds(config).encoded == 0
    _seeds(tmp_path, {"bells.txt": "Bells\n\nThe chapel bell rings at noon.\n"})
    added = index_seeds(config)
    assert (added.new, added.encoded) == (1, 2 * (added.passages - first.passages))

    qa = QA(config)
    try:
        answer = qa.ask("When does the chapel bell ring?", mode="reranked")
        assert answer.citations[0].doc_id == "bells" and answer.text == "noon"
        assert answer.timings["rerank"] > 0
        assert qa.retriever.reranker().name == RERANK_MODEL
    finally:
        qa.close()


def _hit(pid: int, score: float) -> Hit:
    return Hit(StoredPassage(pid, f"d{pid}", "t", f"d{pid}.txt", 0, 0, 1, "x"), score, None, None)


def test_rerank_adds_the_weighted_cosine_to_the_top_passages_only():
    query = np.array([1.0, 0.0], dtype=np.float32)
    vectors = {1: np.array([0.0, 1.0]), 2: np.array([1.0, 0.0]), 3: np.array([0.6, 0.8])}
    hits = [_hit(1, 0.9), _hit(2, 0.8), _hit(3, 0.75), _hit(4, 0.7)]
    ranked = rerank(hits, query, vectors, depth=3, weight=1.0)
    assert [h.passage.id for h in ranked] == [2, 3, 1, 4]  # 1.8, 1.35, 0.9; the 4th is not re-scored
    assert [round(h.score, 3) for h in ranked] == [1.8, 1.35, 0.9, 0.7]
    assert [h.passage.id for h in rerank(hits, query, vectors, depth=3, weight=0.0)] == [1, 2, 3, 4]


def test_eval_compares_reranked_on_a_corpus_by_building_its_vectors_in_the_corpus_index(tmp_path):
    corpus = _seeds(tmp_path, DOCS)
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "t1", "question": "When does the harbour empty?", "answers": ["twice a day"],
                    "gold_doc_ids": ["tides"]}) + "\n",
        encoding="utf-8",
    )
    index_dir = tmp_path / "index"
    done = invoke_rag("eval", str(questions), "--corpus", str(corpus), "--compare", "rescored,reranked",
                      "--index-dir", str(index_dir), "--report", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["modes"]["reranked"]["recall@1"] == 1.0
    assert "rerank" in report["modes"]["reranked"]["latency_stages_ms"]
    # The corpus got its own index with the re-ranking vectors; the seeds index was not touched.
    assert index_status(Config(index_dir=index_dir / "eval" / "seeds"))["rerank_model"].startswith(RERANK_MODEL)
    assert not (index_dir / "store.sqlite").exists()
