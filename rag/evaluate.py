"""`rag eval`: score a question file on a corpus, every compared mode on one index, in one run.

The question file is validated (and its gold doc ids checked against the corpus) before
anything is indexed or loaded, and every problem names its line. Each question is asked through
the same `QA.ask` the CLI and the UI use, once per mode, with the modes interleaved per question so that they share the same
machine conditions for the latency figures.
"""
from __future__ import annotations

import datetime
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import metrics
from rag.config import ANSWERERS, MODES, RERANK_MODEL, Config, ConfigError
from rag.corpus import CorpusError, corpus_name, folder_doc_ids, is_packed, unpack
from rag.errors import QuestionFileError, RagError
from rag.jsonl import parse_object

if TYPE_CHECKING:
    from rag.indexer import ProgressFactory
    from rag.qa import QA

# Retrieval metrics need a ranking deeper than the citations a user sees: recall@10 and nDCG@10.
MIN_DEPTH = 10
PASSAGE_HIT_KS = (1, 5)
VERSIONED = ("seed-rag", "torch", "transformers", "faiss-cpu", "numpy", "spacy")


@dataclass(frozen=True)
class Question:
    line: int
    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()
    gold_passage_contains: tuple[str, ...] = ()
    answerable: bool = True


def load_questions(path: Path) -> list[Question]:
    """Parse and validate a JSON Lines question file (format: DESIGN.md, last section)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuestionFileError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    questions: list[Question] = []
    lines_of: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        q = _parse_question(path, n, line)
        if q.id in lines_of:
            raise QuestionFileError(f"{path}:{n}: id {q.id!r} repeats line {lines_of[q.id]}")
        lines_of[q.id] = n
        questions.append(q)
    if not questions:
        raise QuestionFileError(f"{path} holds no questions (the file is empty)")
    return questions


def _parse_question(path: Path, n: int, line: str) -> Question:
    where = f"{path}:{n}"
    item = parse_object(where, line, QuestionFileError, 'like {"id": ..., "question": ...}')
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionFileError(f"{where}: no \"question\" string")
    qid = item.get("id", f"line{n}")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        raise QuestionFileError(f"{where}: \"id\" must be a string or a number")
    answerable = item.get("answerable", True)
    if not isinstance(answerable, bool):
        raise QuestionFileError(f"{where}: \"answerable\" must be true or false")
    answers = _strings(item, "answers", where)
    if not answerable and answers:
        raise QuestionFileError(f"{where}: \"answerable\" is false but \"answers\" are given")
    return Question(
        line=n,
        id=str(qid),
        question=question.strip(),
        answers=answers,
        gold_doc_ids=_strings(item, "gold_doc_ids", where),
        gold_passage_contains=_strings(item, "gold_passage_contains", where),
        answerable=answerable,
    )


def _strings(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QuestionFileError(f"{where}: \"{key}\" must be a list of strings")
    return tuple(value)


def check_gold_doc_ids(path: Path, questions: list[Question], known: set[str], corpus: str) -> None:
    """Every gold doc id must name a document of the corpus; list the first few that do not."""
    problems = [
        f"{path}:{q.line}: unknown gold doc id {doc_id!r}"
        for q in questions
        for doc_id in q.gold_doc_ids
        if doc_id not in known
    ]
    if problems:
        more = f"\n(and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise QuestionFileError(
            "\n".join(problems[:5]) + more + f"\ndoc ids are file names without extension in {corpus}"
        )


def parse_modes(compare: str | None, config: Config) -> tuple[str, ...]:
    """`--compare bm25,dense,rescored:rules` (or `all`) -> modes, checked against the pipeline's
    modes and answerers. `all` is every retrieval mode with the configured answerer, plus the
    default mode with each other answerer (the answer stages side by side)."""
    if not compare:
        wanted = [config.mode]
    elif compare.strip() == "all":
        others = [a for a in ANSWERERS if a != config.answerer]
        wanted = list(MODES) + [f"{config.mode}:{a}" for a in others]
    else:
        wanted = [m.strip() for m in compare.split(",") if m.strip()]
    unknown = []
    for spec in wanted:
        try:
            config.split_mode(spec)
        except ConfigError:
            unknown.append(spec)
    if unknown or not wanted:
        raise RagError(
            f"unknown mode {', '.join(map(repr, unknown)) or '(none given)'} in --compare; "
            f"choose from {', '.join(MODES)}, each optionally with :{' or :'.join(ANSWERERS)} "
            f"(comma-separated), or all"
        )
    return tuple(dict.fromkeys(wanted))


@dataclass(frozen=True)
class Target:
    """Where the questions are asked: the index configuration and the corpus's doc ids."""

    config: Config
    doc_ids: set[str]
    corpus: str  # what the user named, for messages and the report


def prepare_target(corpus: Path | None, index_dir: str | None) -> Target:
    """The project's seeds index, or a corpus's own cached index under `<index dir>/eval/<name>`.

    A corpus never shares the seeds index: indexing it there would delete the seeds' documents.
    """
    base = Config.from_env(index_dir=index_dir)
    if corpus is None:
        return Target(base, folder_doc_ids(base.seeds_dir, base.extensions), str(base.seeds_dir))
    own = base.index_dir / "eval" / corpus_name(corpus)
    if corpus.is_dir():
        return Target(base.replace(seeds_dir=corpus, index_dir=own), folder_doc_ids(corpus, base.extensions), str(corpus))
    if corpus.is_file() and is_packed(corpus):
        folder = own / "corpus"
        return Target(base.replace(seeds_dir=folder, index_dir=own), unpack(corpus, folder), str(corpus))
    if not corpus.exists():
        raise CorpusError(f"corpus {corpus} does not exist")
    raise CorpusError(f"corpus {corpus}: give a folder of <doc_id>.txt files or a .jsonl / .jsonl.gz file")


@dataclass(frozen=True)
class Scores:
    """One question's metrics in one mode; None where the metric does not apply."""

    recall: tuple[float, ...] | None  # recall@1 .. recall@depth
    rr: float | None  # reciprocal rank within 10
    ndcg: float | None
    passage_hit: Mapping[int, float | None]
    em: float | None
    f1: float | None
    sentence_hit: float | None
    abstain_correct: float | None  # on unanswerable questions: 1 if it abstained
    abstain_wrong: float | None  # on answerable questions with answers: 1 if it abstained


def score(q: Question, doc_ids: list[str], passages: list[str], answer: str | None, abstained: bool,
          sentence: str, depth: int) -> Scores:
    has_gold = bool(q.gold_doc_ids)
    recall = tuple(metrics.recall_at_k(doc_ids, q.gold_doc_ids, k) for k in range(1, depth + 1)) if has_gold else None
    answers = q.answers
    return Scores(
        recall=recall,
        rr=metrics.reciprocal_rank(doc_ids, q.gold_doc_ids, 10),
        ndcg=metrics.ndcg_at_k(doc_ids, q.gold_doc_ids, 10),
        passage_hit={k: metrics.passage_hit_at_k(passages, q.gold_passage_contains, k) for k in PASSAGE_HIT_KS},
        em=metrics.exact_match(None if abstained else answer, answers),
        f1=metrics.token_f1(None if abstained else answer, answers),
        sentence_hit=metrics.contains_answer(sentence, answers),
        abstain_correct=None if q.answerable else float(abstained),
        abstain_wrong=float(abstained) if answers else None,
    )


@dataclass(frozen=True)
class Outcome:
    question: Question
    mode: str
    doc_ids: tuple[str, ...]  # ranked, distinct
    passages: tuple[str, ...]  # retrieved passage texts, ranked
    answer: str | None  # None when it abstained
    abstained: bool
    latency_ms: float
    timings: Mapping[str, float]
    scores: Scores


@dataclass(frozen=True)
class ModeSummary:
    mode: str
    n_questions: int
    recall_curve: tuple[float | None, ...]  # mean recall@1 .. recall@depth
    mrr: float | None
    ndcg: float | None
    passage_hit: Mapping[int, float | None]
    em: float | None
    f1: float | None
    sentence_hit: float | None
    abstain_correct: float | None
    abstain_wrong: float | None
    latency_p50: float | None
    latency_p95: float | None
    stages: Mapping[str, tuple[float | None, float | None]]  # stage -> (p50, p95) ms

    def recall(self, k: int) -> float | None:
        return self.recall_curve[k - 1]


def summarise(mode: str, outcomes: list[Outcome], depth: int) -> ModeSummary:
    mine = [o for o in outcomes if o.mode == mode]
    s = [o.scores for o in mine]
    curve = tuple(metrics.mean(x.recall[k] if x.recall else None for x in s) for k in range(depth))
    stages: dict[str, list[float]] = {}
    for o in mine:
        for stage, ms in o.timings.items():
            stages.setdefault(stage, []).append(ms)
    latencies = [o.latency_ms for o in mine]
    return ModeSummary(
        mode=mode,
        n_questions=len(mine),
        recall_curve=curve,
        mrr=metrics.mean(x.rr for x in s),
        ndcg=metrics.mean(x.ndcg for x in s),
        passage_hit={k: metrics.mean(x.passage_hit[k] for x in s) for k in PASSAGE_HIT_KS},
        em=metrics.mean(x.em for x in s),
        f1=metrics.mean(x.f1 for x in s),
        sentence_hit=metrics.mean(x.sentence_hit for x in s),
        abstain_correct=metrics.mean(x.abstain_correct for x in s),
        abstain_wrong=metrics.mean(x.abstain_wrong for x in s),
        latency_p50=metrics.percentile(latencies, 50),
        latency_p95=metrics.percentile(latencies, 95),
        stages={k: (metrics.percentile(v, 50), metrics.percentile(v, 95)) for k, v in stages.items()},
    )


@dataclass(frozen=True)
class EvalRun:
    modes: tuple[str, ...]
    summaries: tuple[ModeSummary, ...]
    outcomes: tuple[Outcome, ...]
    depth: int
    primary_mode: str  # the mode the report's worst-questions list is about
    settings: Mapping[str, Any] = field(default_factory=dict)  # the report's "config" section


def run_eval(
    questions_path: Path,
    corpus: Path | None = None,
    index_dir: str | None = None,
    k: int = 10,
    compare: str | None = None,
    limit: int | None = None,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    encode_progress: ProgressFactory | None = None,
    show_progress: bool = True,
) -> EvalRun:
    """Validate, index (incrementally), ask every question in every mode, and summarise."""
    started = time.perf_counter()
    questions = load_questions(questions_path)
    if limit is not None:
        questions = questions[:limit]
    target = prepare_target(corpus, index_dir)
    modes = parse_modes(compare, target.config)
    reranked = any(target.config.split_mode(m)[0] == "reranked" for m in modes)
    if reranked and corpus is not None and target.config.rerank_model is None:
        # The corpus's own index (never the seeds index, which would then encode every upload
        # twice) stores the re-ranking model's vectors from now on.
        target = replace(target, config=target.config.replace(rerank_model=RERANK_MODEL))
    check_gold_doc_ids(questions_path, questions, target.doc_ids, target.corpus)
    depth = max(MIN_DEPTH, k)

    from rag.indexer import index_seeds
    from rag.qa import QA, QuestionError

    indexed = index_seeds(target.config, progress=encode_progress)
    for warning in indexed.warnings:
        log(f"warning: {warning}")
    log(f"index {target.config.index_dir}: {indexed.summary()}")
    qa = QA(target.config, warn=log)
    try:
        for q in questions:
            try:
                qa.check_question(q.question)
            except QuestionError as exc:
                raise QuestionFileError(f"{questions_path}:{q.line}: {exc}") from None
        outcomes = _ask_all(qa, questions, modes, depth, show_progress)
    finally:
        qa.close()
    primary = target.config.mode if target.config.mode in modes else modes[0]
    settings = {
        "questions": str(questions_path),
        "corpus": target.corpus,
        "index_dir": str(target.config.index_dir),
        "depth": depth,
        "modes": list(modes),
        "limit": limit,
        "n_questions": len(questions),
        "warmup": "one untimed question per mode before timing (model load)",
        "rag": target.config.to_dict(),
        "index": {"documents": indexed.documents, "passages": indexed.passages, "encoded": indexed.encoded,
                  "generation": indexed.generation, "seconds": round(indexed.seconds, 2)},
        **_model_info(target.config),
        "versions": _versions(),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return EvalRun(
        modes=modes,
        summaries=tuple(summarise(m, outcomes, depth) for m in modes),
        outcomes=tuple(outcomes),
        depth=depth,
        primary_mode=primary,
        settings=settings,
    )


def _ask_all(qa: QA, questions: list[Question], modes: tuple[str, ...], depth: int, show_progress: bool) -> list[Outcome]:
    from tqdm import tqdm

    for mode in modes:  # untimed: loads the model and the FAISS index, warms caches
        qa.ask(questions[0].question, k=depth, mode=mode)
    outcomes = []
    with tqdm(total=len(questions) * len(modes), unit="q", desc="eval", file=sys.stderr,
              disable=not show_progress, mininterval=0.5) as bar:
        for q in questions:
            for mode in modes:
                t = time.perf_counter()
                answer = qa.ask(q.question, k=depth, mode=mode)
                latency = (time.perf_counter() - t) * 1000
                outcomes.append(_outcome(q, mode, answer, latency, depth))
                bar.update()
    return outcomes


def retrieval_order(citations: list) -> list:
    """The citations in the retriever's order (`Citation.rank`).

    `QA.ask` cites the passage the answer came from first, which is right for a reader but not
    a ranking: scoring that order would credit the answer step to retrieval.
    """
    return sorted(citations, key=lambda c: c.rank)


def _outcome(q: Question, mode: str, answer, latency_ms: float, depth: int) -> Outcome:
    ranked = retrieval_order(answer.citations)
    doc_ids = metrics.unique_in_order(c.doc_id for c in ranked)
    passages = [c.text for c in ranked]
    text = None if answer.abstained else answer.text
    # An abstention counts as a miss for the answer's sentence, as it does for EM and F1.
    sentence = "" if answer.abstained else (answer.sentence or "")
    return Outcome(
        question=q,
        mode=mode,
        doc_ids=tuple(doc_ids),
        passages=tuple(passages),
        answer=text,
        abstained=answer.abstained,
        latency_ms=latency_ms,
        timings=dict(answer.timings),
        scores=score(q, doc_ids, passages, text, answer.abstained, sentence, depth),
    )


def _model_info(config: Config) -> dict[str, str | None]:
    from rag.models import reader_fingerprint
    from rag.store import Store

    with Store.open(config.store_path, read_only=True) as store:
        return {"model": store.get_meta("model_name"), "model_fingerprint": store.get_meta("model"),
                "answerer": config.answerer, "reader": reader_fingerprint(config.reader_dir)}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out
