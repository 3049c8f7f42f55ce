"""The end-to-end slice through the `rag` command, with the real packaged model: in process (click's
CliRunner), but for one `rag ask` through the installed console script in a fresh process."""
from __future__ import annotations

import json

import pytest

from rag.evaluate import load_questions
from tests.conftest import SEED_FILE, SEED_QUESTIONS, SEEDS, invoke_rag, run_rag

GOLD = "handed it over to former Dutch Prime Minister Mark Rutte"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """seeds/ indexed through the CLI into a fresh index folder."""
    index_dir = tmp_path_factory.mktemp("cli-index")
    result = invoke_rag("index", "--seeds", str(SEEDS), "--index-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    return index_dir, result


def ask_json(index_dir, question, *extra, run=invoke_rag):
    result = run("ask", question, "--json", "--index-dir", str(index_dir), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_index_reports_what_it_did(indexed):
    _, result = indexed
    assert "1 documents (1 new" in result.stdout and "31 passages, 31 encoded" in result.stdout
    assert result.stderr == ""  # stdout is not a terminal: no encoding bar, and no "Loading weights" bar


def test_a_successful_ask_prints_nothing_on_stderr(indexed):
    index_dir, _ = indexed
    result = run_rag("ask", "Who succeeded Stoltenberg?", "--index-dir", str(index_dir))
    assert result.returncode == 0 and result.stdout.startswith("Mark Rutte\n")
    assert result.stderr == ""  # transformers drew "Loading weights 100%|███|" here


def test_first_citation_is_the_passage_that_answers_with_exact_offsets(indexed):
    index_dir, _ = indexed
    # The installed console script in a new process: the cold start a user's first `rag ask` pays.
    answer = ask_json(index_dir, "Who succeeded Stoltenberg?", run=run_rag)
    first = answer["citations"][0]
    assert GOLD in first["text"]
    assert first["doc_id"] == "000_81de98d510058a00"
    source = SEED_FILE.read_text(encoding="utf-8-sig")
    assert source[first["start"] : first["end"]] == first["text"]
    span = answer["answer_source"]
    assert source[span["start"] : span["end"]] == answer["answer"]


def test_json_has_the_documented_shape(indexed):
    index_dir, _ = indexed
    answer = ask_json(index_dir, "When was NATO created?", "-k", "3")
    assert {"question", "answer", "abstained", "answer_source", "citations"} <= answer.keys()
    assert len(answer["citations"]) == 3
    for c in answer["citations"]:
        assert set(c) >= {"doc_id", "title", "ordinal", "start", "end", "score", "text"}
        assert isinstance(c["score"], float) and isinstance(c["ordinal"], int)


def test_every_seed_question_has_its_gold_passage_in_the_top_three(seed_qa):
    answerable = [q for q in load_questions(SEED_QUESTIONS) if q.answerable]
    assert len(answerable) == 5
    for q in answerable:
        top3 = [c.text for c in seed_qa.ask(q.question, k=3).citations]
        assert any(g in text for g in q.gold_passage_contains for text in top3), (q.question, top3)


def test_questions_file_answers_each_line_with_one_model_load(indexed, tmp_path):
    index_dir, _ = indexed
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"question": "When was NATO created?"}\n\nWho is the Kremlin spokesman?\n')
    result = invoke_rag("ask", "--questions", str(qfile), "--json", "--index-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in lines] == ["When was NATO created?", "Who is the Kremlin spokesman?"]


def test_second_index_encodes_nothing_and_a_deleted_faiss_file_is_rebuilt_from_the_store(tmp_path):
    index_dir = tmp_path / "idx"
    assert invoke_rag("index", "--seeds", str(SEEDS), "--index-dir", str(index_dir)).returncode == 0
    again = invoke_rag("index", "--seeds", str(SEEDS), "--index-dir", str(index_dir))
    assert again.returncode == 0 and ", 0 encoded," in again.stdout
    for f in index_dir.glob("*.index"):
        f.unlink()
    answer = invoke_rag("ask", "When was NATO created?", "--json", "--index-dir", str(index_dir))
    assert answer.returncode == 0, answer.stderr
    assert "missing" in answer.stderr and "rebuilt" in answer.stderr
    assert "NATO was created in 1949" in json.loads(answer.stdout)["citations"][0]["text"]
    repaired = invoke_rag("index", "--seeds", str(SEEDS), "--index-dir", str(index_dir))
    assert ", 0 encoded," in repaired.stdout and list(index_dir.glob("*.index"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["index", "--seeds", "/nonexistent/seeds"], "seeds folder /nonexistent/seeds does not exist"),
        (["ask", "When?", "--index-dir", "/nonexistent/idx"], "no index at /nonexistent/idx/store.sqlite"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message):
    result = invoke_rag(*args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_empty_seeds_folder_and_unreadable_index_and_empty_question(tmp_path, indexed):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke_rag("index", "--seeds", str(empty), "--index-dir", str(tmp_path / "i"))
    assert result.returncode == 1 and "no indexable documents" in result.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "store.sqlite").write_bytes(b"this is not a database" * 100)
    result = invoke_rag("ask", "When?", "--index-dir", str(broken))
    assert result.returncode == 1 and "store.sqlite" in result.stderr and "rag index --rebuild" in result.stderr
    assert "Traceback" not in result.stderr

    index_dir, _ = indexed
    result = invoke_rag("ask", "   ", "--index-dir", str(index_dir))
    assert result.returncode != 0 and "give a question" in result.stderr and "Traceback" not in result.stderr
