"""Crash safety: `rag index` is SIGKILLed at seeded random moments and at fixed points around the
FAISS replace and the SQLite commit, over a corpus that changes between runs. After every kill
the index passes `rag status --check`, and questions get exactly the previous generation's
results or exactly the new one's, never a mix and never an error.

Speed: a subprocess that has nothing to encode never imports torch (~1 s instead of ~5 s), so
before most runs the test stores the vectors the run will need, as a killed earlier run would
have (the run then finds them by content hash). Two runs do encode, and are killed after their
vectors are committed. RAG_TEST_PAUSE makes the indexer pause at each phase boundary and say
so on stderr; a kill lands at a random moment after the documents are loaded, and the last
phase announced before it is recorded to show the kills spread over the run. Answers are
compared in process (Retriever.search gives the passages `rag ask` cites); after the kill just
before the commit, the real `rag ask --json` is run too.
"""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import RAG, run_rag, stored_doc_ids
from rag.config import Config
from rag.indexer import encode_missing_vectors, index_seeds
from rag.retrieve import Retriever
from rag.status import check_index, index_status
from seedgen import doc_name, document, marker, write_corpus

DOCS, PASSAGES = 24, 5
RANDOM_KILLS = 20  # runs killed at a random moment (a run that finishes first is followed by another)
HOOKS = ("before_faiss_replace", "after_faiss_replace", "before_commit", "after_commit")
PAUSE = 0.04  # seconds at each phase boundary in the killed runs
GENERAL = "harbour lantern signal compass"


@pytest.fixture
def corpus(tmp_path, encoder) -> Config:
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(DOCS), PASSAGES)
    index_seeds(config)
    return config


class Corpus:
    """Seeded changes to the seeds folder: add, edit a paragraph, delete, rename."""

    def __init__(self, config: Config, seed: int) -> None:
        self.seeds = config.seeds_dir
        self.rng = random.Random(seed)
        self.files = {n: doc_name(n) for n in range(DOCS)}  # document number -> file name
        self.next_doc = DOCS

    def change(self, step: int, kind: str | None = None) -> tuple[str, int]:
        if kind is None:
            kind = self.rng.choice(["add", "edit", "edit", "delete", "rename"] if len(self.files) > 8 else ["add"])
        if kind == "add":
            n, self.next_doc = self.next_doc, self.next_doc + 1
            self.files[n] = doc_name(n)
            (self.seeds / self.files[n]).write_text(document(n, PASSAGES), encoding="utf-8")
            return kind, n
        n = self.rng.choice(sorted(self.files))
        path = self.seeds / self.files[n]
        if kind == "edit":
            paragraphs = path.read_text(encoding="utf-8").split("\n\n")
            paragraphs[self.rng.randrange(1, len(paragraphs))] = f"{marker(n)} revision {step}: {self.rng.random()}"
            path.write_text("\n\n".join(paragraphs), encoding="utf-8")
        elif kind == "delete":
            path.unlink()
            del self.files[n]
        else:  # same text under another name: a new document whose vectors already exist
            self.files[n] = f"renamed-{step}-{doc_name(n)}"
            path.rename(self.seeds / self.files[n])
        return kind, n

    def doc_ids(self) -> set[str]:
        return {p.stem for p in self.seeds.iterdir()}


def answers(config: Config, encoder, questions: list[str]) -> tuple[int, list[list[tuple]]]:
    """(generation, the passages `rag ask` would cite for each question, with their scores)."""
    retriever = Retriever(config)
    try:
        found = [retriever.search(question) for question in questions]
        assert len({r.generation for r in found}) == 1
        cited = [[(h.passage.doc_id, h.passage.ordinal, h.passage.text, round(h.score, 6)) for h in r.hits] for r in found]
        return found[0].generation, cited
    finally:
        retriever.close()


def rag_ask_cites(config: Config, questions: list[str]) -> tuple[int, list[set[tuple]]]:
    """What `rag ask --json` cites, as sets (it puts the answer's passage first, not the best-ranked)."""
    qfile = config.index_dir.parent / "questions.txt"
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    done = run_rag("ask", "--questions", str(qfile), "--json", "--index-dir", str(config.index_dir))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len({a["generation"] for a in answers}) == 1
    cited = [{(c["doc_id"], c["ordinal"], c["text"], c["score"]) for c in a["citations"]} for a in answers]
    return answers[0]["generation"], cited


def run_and_kill(config: Config, env: dict[str, str], marker_line: str | None, delay: float) -> tuple[bool, str]:
    """Start `rag index`; SIGKILL it `delay` s after it prints `marker_line` (None: it kills itself).

    Returns (killed, last phase it announced).
    """
    args = [RAG, "index", "--seeds", str(config.seeds_dir), "--index-dir", str(config.index_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    lines = []
    if marker_line is not None:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(marker_line):
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    lines += proc.stderr.readlines()
    code = proc.wait(timeout=120)
    assert "Traceback" not in "".join(lines), "".join(lines)
    phases = [line.split("at ", 1)[1].strip() for line in lines if line.startswith("rag-test: at ")]
    return code == -signal.SIGKILL, phases[-1] if phases else "start-up"


def test_kills_at_random_moments_and_fixed_points_leave_one_whole_generation(corpus, encoder):
    changes = Corpus(corpus, seed=2024)
    rng = random.Random(7)
    plan = ["random"] * RANDOM_KILLS + list(HOOKS) + ["after_encoding"] * 2
    rng.shuffle(plan)
    random_runs = 0
    phases: collections.Counter[str] = collections.Counter()
    random_kills = 0
    faiss_files: set[int] = set()  # files per generation: 1 after a merge, more with deltas
    before_docs = stored_doc_ids(corpus)
    generation, before = answers(corpus, encoder, [GENERAL])
    for step, how in enumerate(plan):  # `plan` grows while iterating, see below
        kind, n = changes.change(step, kind="add" if how == "after_encoding" else None)
        questions = [GENERAL, f"{marker(n)} note"]
        _, before = answers(corpus, encoder, questions)  # the committed generation, asked the new questions
        if how != "after_encoding":
            encode_missing_vectors(corpus)  # the run will find every vector it needs
        if how == "random":
            killed, phase = run_and_kill(corpus, {"RAG_TEST_PAUSE": str(PAUSE)}, "rag-test: at documents_loaded",
                                         rng.uniform(0, 5 * PAUSE))
        elif how == "after_encoding":
            killed, phase = run_and_kill(corpus, {"RAG_TEST_PAUSE": str(PAUSE)}, "rag-test: at vectors_committed",
                                         rng.uniform(0, 4 * PAUSE))
        else:
            (killed, _), phase = run_and_kill(corpus, {"RAG_TEST_KILL_AT": how}, None, 0), how
            assert killed, how
        random_kills += killed and how == "random"
        random_runs += how == "random"
        if how == "random" and not killed and len(plan) < 3 * RANDOM_KILLS:
            plan.append("random")
        phases[phase if killed else "finished"] += 1

        problems = check_index(corpus)
        assert problems == [], (step, how, phase, problems)
        if how in HOOKS or step % 4 == 0:
            done = run_rag("status", "--check", "--index-dir", str(corpus.index_dir))
            # Exit 0 is the integrity verdict; stdout may add that the seeds folder is ahead of the
            # index, as it is after a run killed before publishing.
            assert done.returncode == 0 and "check failed" not in done.stderr, done.stderr
        after_kill_generation, after_kill = answers(corpus, encoder, questions)
        after_kill_docs = stored_doc_ids(corpus)
        if how == "before_commit":  # the next generation's FAISS file is on disk, uncommitted
            assert rag_ask_cites(corpus, questions) == (after_kill_generation, [set(a) for a in after_kill])

        completed = index_seeds(corpus)  # the next run finishes the job
        faiss_files.add(len(index_status(corpus)["faiss_files"]))
        if how == "after_encoding" and killed:
            assert completed.encoded == 0, "vectors committed before the kill were encoded again"
        new_generation, after = answers(corpus, encoder, questions)
        assert stored_doc_ids(corpus) == changes.doc_ids()
        assert before != after, "the change should show in the answers, or the test proves nothing"

        if after_kill_generation == generation:
            assert (after_kill, after_kill_docs) == (before, before_docs), (step, how, phase)
        else:
            assert (after_kill_generation, after_kill, after_kill_docs) == (new_generation, after, changes.doc_ids())
        if how in HOOKS:  # only a kill after the commit leaves the new generation
            assert (after_kill_generation != generation) == (how == "after_commit"), how
        generation, before_docs = new_generation, changes.doc_ids()

    print(f"\n{random_kills} of {random_runs} runs killed at random moments; last phase announced: {dict(phases)}")
    assert random_kills >= RANDOM_KILLS
    assert 1 in faiss_files and max(faiss_files) > 1  # kills hit both delta publishes and merges
    assert len([p for p in phases if p not in ("finished", "start-up")]) >= 4  # the kills spread over the run
