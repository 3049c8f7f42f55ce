"""While this process re-indexes a changing corpus, another process asks questions in a loop:
every query succeeds, and each answer is exactly the one its generation gives (dense, lexical
and passage texts all from one snapshot, never a mix of two generations)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import open_qa, stored_doc_ids
from rag.config import Config
from rag.indexer import embed_text, index_seeds
from rag.qa import QA
from rag.store import Store, StoreBusy
from seedgen import doc_name, document, marker, write_corpus

DOCS, PASSAGES = 30, 5
STEPS = 8

# The reader: the public QA API in a loop, one JSON line per answer (to a file: a pipe nobody
# reads until the end would fill up and stall it), until told to stop.
READER = """
import json, sys
from pathlib import Path
from rag.config import Config
from rag.qa import QA
from rag.store import Store, StoreBusy

index_dir, questions, stop, out = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
qa = QA(Config(index_dir=index_dir))
qa.ask(questions[0])
print("ready", flush=True)
with open(out, "w") as log:
    while not stop.exists():
        for question in questions:
            answer = qa.ask(question).to_dict()
            answer.pop("timings_ms")
            log.write(json.dumps(answer) + "\\n")
            log.flush()
"""


def change(config: Config, step: int) -> None:
    """Edit one document, and every third step delete one and add one."""
    path = config.seeds_dir / doc_name(step)
    paragraphs = path.read_text(encoding="utf-8").split("\n\n")
    paragraphs[2] = f"{marker(step)} note rewritten in step {step}: the tide tables were wrong."
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    if step % 3 == 0:
        (config.seeds_dir / doc_name(DOCS - 1 - step)).unlink()
        (config.seeds_dir / doc_name(100 + step)).write_text(document(100 + step, PASSAGES), encoding="utf-8")


def reference(qa: QA, questions: list[str]) -> tuple[int, dict[str, dict]]:
    by_question = {}
    for question in questions:
        answer = qa.ask(question).to_dict()
        answer.pop("timings_ms")
        by_question[question] = answer
    generations = {a["generation"] for a in by_question.values()}
    assert len(generations) == 1
    return generations.pop(), by_question


def wait_until_seen(log, generation: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if any(json.loads(line)["generation"] == generation for line in lines[-20:] if line.endswith("}")):
            return
        time.sleep(0.05)
    raise AssertionError(f"the reader answered nothing from generation {generation} within {timeout} s")


def test_queries_during_reindexing_each_come_from_one_generation(tmp_path, encoder, monkeypatch):
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(DOCS), PASSAGES)
    index_seeds(config)
    questions = [f"{marker(n)} note" for n in (0, 3, 6, DOCS - 1, 106)] + ["tide tables wrong"]
    stop, log = tmp_path / "stop", tmp_path / "answers.jsonl"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(config.index_dir), json.dumps(questions), str(stop), str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
        qa = open_qa(config, encoder)
        expected = dict([reference(qa, questions)])
        monkeypatch.setenv("RAG_TEST_PAUSE", "0.05")  # hold each publish open a little longer
        for step in range(STEPS):
            change(config, step)
            index_seeds(config)
            generation, answers = reference(qa, questions)
            expected[generation] = answers
            wait_until_seen(log, generation)  # so every generation is queried while the next is published
        qa.close()
    finally:
        stop.touch()
        _, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err

    seen = [json.loads(line) for line in log.read_text().splitlines()]
    for answer in seen:
        assert answer["generation"] in expected, answer["generation"]
        assert answer == expected[answer["generation"]][answer["question"]]
    generations = {a["generation"] for a in seen}
    print(f"\n{len(seen)} answers during {STEPS} publishes, from {len(generations)} generations")
    assert len(generations) == STEPS + 1  # the reader really ran while generations changed


def test_a_lexical_hit_carries_its_cosine_read_inside_the_query_snapshot(tmp_path, encoder):
    # The confidence needs the answer passage's cosine. For a lexical-only hit it comes from the
    # passage's stored vector, read by the fetch stage inside the query's snapshot: a generation
    # published later may delete the passage (CI once saw a confidence differ from its
    # generation's when the vector was read after retrieval).
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(3), 3)
    index_seeds(config)
    qa = open_qa(config, encoder)
    question = f"{marker(1)} note"
    hit = qa.retriever.search(question, mode="bm25").hits[0]  # lexical hits: no dense score
    expected = encoder.encode_query(question) @ encoder.encode([embed_text(hit.passage.title, hit.passage.text)])[0]
    assert hit.dense is None and hit.cosine == pytest.approx(float(expected), abs=1e-5) and hit.cosine > 0.2
    (config.seeds_dir / doc_name(1)).unlink()
    index_seeds(config)
    assert doc_name(1).removesuffix(".txt") not in stored_doc_ids(config)
    assert qa.retriever.search(question, mode="bm25").hits[0].passage.doc_id != hit.passage.doc_id
    qa.close()


def test_reads_go_on_while_a_writer_holds_the_lock_and_a_second_writer_gets_a_clear_error(tmp_path, encoder):
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(2), 3)
    index_seeds(config)
    holder, other = Store.open(config.store_path), Store.open(config.store_path)
    holder.conn.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
    other.conn.execute("PRAGMA busy_timeout = 100")  # instead of 30 s
    try:
        assert other.counts()["passages"] == 6  # readers are never blocked (WAL)
        with pytest.raises(StoreBusy, match=f"{config.store_path} is locked by another writer"):
            with other.transaction():
                pass
    finally:
        holder.conn.execute("ROLLBACK")
        holder.close()
        other.close()
