"""`rag eval`: question-file validation, corpora (folder or packed), the cached index, the report."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS, invoke_rag
from rag.config import Config
from rag.corpus import CorpusError, corpus_name, pack, unpack
from rag.errors import QuestionFileError, RagError
from rag.evaluate import load_questions, parse_modes, retrieval_order, run_eval

SEED_DOC = "000_81de98d510058a00"
ISSUE_MODE_KEYS = {
    "n_questions", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "passage_hit@1", "passage_hit@5",
    "em", "f1", "abstain_correct", "abstain_wrong", "latency_p50_ms", "latency_p95_ms",
}


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = json.dumps({"id": "a", "question": "When was NATO created?", "answers": ["1949"], "gold_doc_ids": [SEED_DOC]})


@pytest.mark.parametrize(
    "lines, expected",
    [
        ((GOOD, '{"id": "b", "question": "Who?",'), "{path}:2: not valid JSON"),
        ((GOOD, "", '{"id": "c", "answers": ["x"]}'), '{path}:3: no "question" string'),
        ((GOOD, '{"id": "d", "question": "   "}'), '{path}:2: no "question" string'),
        ((), "{path} holds no questions (the file is empty)"),
        (("", "   "), "{path} holds no questions (the file is empty)"),
        ((GOOD, json.dumps({"id": "e", "question": "Q?", "gold_doc_ids": ["nope"]})), "{path}:2: unknown gold doc id 'nope'"),
    ],
    ids=["not-json", "missing-question", "blank-question", "empty-file", "blank-lines-only", "unknown-gold-doc"],
)
def test_bad_question_files_get_a_message_naming_the_line(tmp_path, lines, expected):
    questions = write_lines(tmp_path / "q.jsonl", *lines)
    result = invoke_rag("eval", str(questions), "--index-dir", str(tmp_path / "index"), env={"RAG_SEEDS_DIR": str(SEEDS)})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("rag: error: ")
    assert expected.format(path=questions) in result.stderr
    assert "Traceback" not in result.stderr
    # validation happens before indexing: nothing was built
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize(
    "line, expected",
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"id": "x", "question": "Q?", "answers": "1949"}', '"answers" must be a list of strings'),
        ('{"id": "x", "question": "Q?", "gold_doc_ids": [1]}', '"gold_doc_ids" must be a list of strings'),
        ('{"id": "x", "question": "Q?", "answerable": "no"}', '"answerable" must be true or false'),
        ('{"id": "x", "question": "Q?", "answerable": false, "answers": ["y"]}', '"answerable" is false but'),
        ('{"id": true, "question": "Q?"}', '"id" must be a string or a number'),
    ],
)
def test_malformed_fields_are_named(tmp_path, line, expected):
    path = write_lines(tmp_path / "q.jsonl", GOOD, line)
    with pytest.raises(QuestionFileError, match=f"q.jsonl:2: .*{expected}"):
        load_questions(path)


def test_repeated_ids_name_both_lines(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", GOOD, GOOD)
    with pytest.raises(QuestionFileError, match="q.jsonl:2: id 'a' repeats line 1"):
        load_questions(path)


def test_question_fields_default_for_retrieval_only_sets(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", '{"question": "Is it?", "gold_doc_ids": ["d"]}', '{"id": 7, "question": "Q"}')
    first, second = load_questions(path)
    assert (first.id, first.answers, first.answerable, first.line) == ("line1", (), True, 1)
    assert second.id == "7"


def test_the_shipped_question_sets_are_valid():
    sizes = {"seed": 7, "xquad_en": 1190, "scifact": 300}
    for name, size in sizes.items():
        assert len(load_questions(ROOT / "eval" / name / "questions.jsonl")) == size
        assert (ROOT / "eval" / name / "SOURCE.md").is_file()


def test_unknown_modes_are_refused_with_the_choices():
    from rag.config import MODES, Config

    hybrid = Config(mode="hybrid", answerer="reader")
    assert parse_modes("bm25, dense,bm25", hybrid) == ("bm25", "dense")
    assert parse_modes(None, hybrid) == ("hybrid",)
    assert parse_modes("all", hybrid) == (*MODES, "hybrid:rules")
    assert parse_modes("rescored:rules,rescored", hybrid) == ("rescored:rules", "rescored")
    with pytest.raises(RagError, match=r"unknown mode 'bm52' in --compare; choose from .*bm25"):
        parse_modes("bm52,dense", hybrid)


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    docs = {
        "volcano": "Mount Etna\nMount Etna is an active volcano on the east coast of Sicily.\n",
        "trains": "Shinkansen\nThe Shinkansen is a network of high-speed railway lines in Japan.\n",
        "cheese": "Gruyère\nGruyère is a hard yellow Swiss cheese named after the town of Gruyères.\n",
    }
    for doc_id, text in docs.items():
        (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    return folder


def test_pack_and_unpack_round_trip_byte_for_byte(tmp_path):
    folder = make_corpus(tmp_path / "tiny")
    packed = tmp_path / "tiny.jsonl.gz"
    assert pack(folder, packed) == 3
    first = packed.read_bytes()
    pack(folder, packed)
    assert packed.read_bytes() == first  # reproducible: no timestamp in the gzip header
    out = tmp_path / "unpacked"
    out.mkdir()
    (out / "stale.txt").write_text("a document no longer in the corpus")
    assert unpack(packed, out) == {"volcano", "trains", "cheese"}
    assert sorted(p.name for p in out.iterdir()) == ["cheese.txt", "trains.txt", "volcano.txt"]
    for path in folder.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"doc_id": "a", "text": "T\\nbody"}\n{"doc_id": "a", "text": "T\\nagain"}\n', ":2: doc_id 'a' repeats line 1"),
        ('{"doc_id": "../evil", "text": "T\\nbody"}\n', ":1: \"doc_id\" must be"),
        ('{"doc_id": "a"}\n', ':1: no "text" string'),
        ("not json\n", ":1: not valid JSON"),
        ("", "holds no documents"),
    ],
)
def test_bad_packed_corpus_lines_are_named(tmp_path, content, expected):
    packed = tmp_path / "corpus.jsonl.gz"
    packed.write_bytes(gzip.compress(content.encode()))
    with pytest.raises(CorpusError, match=expected.replace("(", r"\(")):
        unpack(packed, tmp_path / "out")


def test_corpus_names_come_from_the_set_folder():
    assert corpus_name(Path("eval/xquad_en/corpus.jsonl.gz")) == "xquad_en"
    assert corpus_name(Path("../shared/eval/external/scifact/corpus")) == "scifact"
    assert corpus_name(Path("eval/seed/questions.jsonl")) == "seed"
    assert corpus_name(Path("/data/my docs.jsonl")) == "my_docs"


def test_corpus_folder_or_packed_file_share_one_cached_index(tmp_path):
    folder = make_corpus(tmp_path / "sets" / "tiny" / "corpus")
    questions = write_lines(
        tmp_path / "q.jsonl",
        json.dumps({"id": "v", "question": "Which volcano is on Sicily?", "gold_doc_ids": ["volcano"]}),
        json.dumps({"id": "t", "question": "high-speed railway lines in Japan", "gold_doc_ids": ["trains"]}),
        json.dumps({"id": "c", "question": "a hard yellow Swiss cheese", "gold_doc_ids": ["cheese"]}),
    )
    index_dir = tmp_path / "idx"
    first = run_eval(questions, corpus=folder, index_dir=str(index_dir), compare="bm25,dense", show_progress=False,
                     log=lambda _: None)
    assert first.settings["index_dir"] == str(index_dir / "eval" / "tiny")
    assert first.settings["index"]["encoded"] == 3
    for summary in first.summaries:
        assert summary.recall(1) == 1.0 and summary.mrr == 1.0
        # retrieval-only set: answer and abstention metrics do not apply (null), they do not fail
        assert (summary.em, summary.f1, summary.abstain_correct, summary.abstain_wrong) == (None, None, None, None)
        assert summary.passage_hit[1] is None
    # three documents only, ranked 10 deep: each appears once (bm25 returns only those sharing a word)
    assert all(len(set(o.doc_ids)) == len(o.doc_ids) for o in first.outcomes)
    assert all(sorted(o.doc_ids) == ["cheese", "trains", "volcano"] for o in first.outcomes if o.mode == "dense")

    packed = tmp_path / "tiny.jsonl.gz"
    pack(folder, packed)
    again = run_eval(questions, corpus=packed, index_dir=str(index_dir), compare="bm25", show_progress=False,
                     log=lambda _: None)
    assert again.settings["index_dir"] == first.settings["index_dir"]
    assert again.settings["index"]["encoded"] == 0  # same texts: nothing re-encoded
    assert again.summaries[0].recall(1) == 1.0


RETRIEVAL = {"embed", "lexical", "fusion", "fetch"}  # every mode embeds: the confidence needs the cosine
# The answer stages: the configured answerer's span stage, then the confidence.
ANSWER = {{"reader": "read", "rules": "extract"}[Config().answerer], "confidence"}
STAGES = {
    "bm25": RETRIEVAL | ANSWER,
    "dense": {"embed", "dense", "fusion", "fetch"} | ANSWER,
    "hybrid": RETRIEVAL | {"dense"} | ANSWER,
    "rescored": RETRIEVAL | {"dense", "rescore"} | ANSWER,
}


def test_stage_times_are_separate_parts_of_each_questions_latency(tmp_path):
    questions = write_lines(
        tmp_path / "q.jsonl",
        json.dumps({"id": "v", "question": "Which volcano is on Sicily?", "answers": ["Mount Etna"]}),
        json.dumps({"id": "c", "question": "Which cheese is named after a town?", "answers": ["Gruyère"]}),
    )
    run = run_eval(questions, corpus=make_corpus(tmp_path / "tiny"), index_dir=str(tmp_path / "idx"),
                   compare="bm25,rescored", show_progress=False, log=lambda _: None)
    assert len(run.outcomes) == 4
    for o in run.outcomes:  # each stage is timed once, inside the question's own time
        assert set(o.timings) == STAGES[o.mode]
        assert all(o.timings[s] > 0 for s in ANSWER), (o.mode, o.timings)
        assert sum(o.timings.values()) <= o.latency_ms, (o.mode, o.timings, o.latency_ms)


def test_eval_on_the_seed_questions_writes_the_three_report_files(tmp_path, seed_config):
    report = tmp_path / "report"
    result = invoke_rag(
        "eval", "eval/seed/questions.jsonl", "--compare", "bm25,dense,hybrid,rescored", "--report", str(report),
        "--index-dir", str(seed_config.index_dir), env={"RAG_SEEDS_DIR": str(SEEDS)},
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["bm25", "dense", "hybrid", "rescored"]
    assert all(r.count("|") == rows[0].count("|") for r in rows)

    data = json.loads((report / "report.json").read_text())
    assert list(data["modes"]) == ["bm25", "dense", "hybrid", "rescored"]
    for mode, values in data["modes"].items():
        assert ISSUE_MODE_KEYS <= set(values)
        assert values["n_questions"] == 7
        # one seed document, gold for every answerable question: found first in every mode
        assert values["recall@1"] == values["mrr@10"] == values["ndcg@10"] == 1.0
        assert values["passage_hit@5"] is not None and values["em"] is not None and values["f1"] is not None
        assert values["abstain_correct"] is not None and values["abstain_wrong"] is not None
        assert 0 < values["latency_p50_ms"] <= values["latency_p95_ms"]
        stages = values["latency_stages_ms"]
        assert set(stages) == STAGES[mode]
        assert all(stages[s]["p50"] > 0 for s in ANSWER)
        for stage, times in stages.items():  # a stage is part of each question's time, so its
            assert times["p50"] <= values["latency_p50_ms"], stage  # percentiles are at most the whole's
            assert times["p95"] <= values["latency_p95_ms"], stage
    assert data["config"]["model_fingerprint"].startswith("all-MiniLM-L6-v2@")
    # The shipped reader, named by the sha256 its model card gives in full.
    card = (ROOT / "models" / "reader" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert data["config"]["reader"].startswith("reader@") and data["config"]["reader"][7:] in card
    assert data["config"]["versions"]["torch"]
    per_question = data["per_question"]
    assert len(per_question) == 28
    assert {"id", "mode", "doc_ids", "answer", "abstained"} <= set(per_question[0])
    assert {q["doc_ids"][0] for q in per_question} == {SEED_DOC}

    markdown = (report / "report.md").read_text()
    assert "| bm25 |" in markdown and "worst questions (rescored)" in markdown  # the default mode
    assert "s32" in markdown  # the unanswerable questions are judged too
    assert (report / "recall_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rankings_are_the_retrievers_not_the_citation_order(seed_qa):
    # QA.ask cites the answer's passage first (here for 1 of the 6); metrics score the retriever's ranking
    for question in ("Who succeeded Stoltenberg?", "Which countries joined NATO last year?", "Who is Peskov?"):
        for mode in ("bm25", "dense"):
            cited = seed_qa.ask(question, k=10, mode=mode).citations
            hits = seed_qa.retriever.search(question, k=10, mode=mode).hits
            assert [c.text for c in retrieval_order(cited)] == [h.passage.text for h in hits]
