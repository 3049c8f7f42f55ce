"""The question-answering pipeline the CLI, the evaluator and the UI all call."""
from __future__ import annotations

import math
import time
from typing import Callable

from rag.answer import ANSWER_PASSAGES, NOT_FOUND, Answer, Citation, Extracted, extract
from rag.config import Config
from rag.errors import RagError
from rag.question import QuestionInfo, analyse
from rag.retrieve import Retriever
from rag.sentences import coverage
from rag.types import Hit


class QuestionError(RagError):
    """The question itself is unusable (empty, too long)."""


# The confidence's inputs, in the order of Config.conf_weights.
SIGNALS = ("cosine", "overlap", "type_fit", "coverage", "dense_margin")


def signals(extracted: Extracted, hits: list[Hit], cosine: float, info: QuestionInfo) -> list[float]:
    """What the confidence is computed from, in SIGNALS order:
    - cosine: the answer passage's dense similarity to the question;
    - overlap: how much of the question the answer sentence matches (rag/sentences.py);
    - type_fit: 1 when the answer is an entity of the asked-for type, 0 when untyped;
    - coverage: the share of the question's content words found anywhere in the top passages
      (a word found nowhere hints that the documents do not cover the question);
    - dense_margin: how far the best dense similarity among the top passages stands above the
      next (an answerable question usually has one passage clearly closest).
    All are scale-free (no raw BM25 score), so the calibration carries over to corpora of any size.
    """
    top = hits[:ANSWER_PASSAGES]
    dense = sorted((h.dense or 0.0 for h in top), reverse=True) + [0.0, 0.0]
    return [cosine, extracted.overlap, extracted.type_fit, coverage(top, info), dense[0] - dense[1]]


def confidence(values: list[float] | None, config: Config) -> float:
    """Probability-like confidence that the answer is supported: a logistic model over the
    signals, weights and threshold calibrated by `bench/calibrate_abstention.py`."""
    if values is None:
        return 0.0
    z = config.conf_bias + sum(w * v for w, v in zip(config.conf_weights, values, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


class QA:
    """Loads the index once (and the models on the first question) and answers questions."""

    def __init__(self, config: Config, warn: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.retriever = Retriever(config, warn=warn)

    def close(self) -> None:
        self.retriever.close()

    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise QuestionError("the question is empty")
        if len(question) > self.config.max_question_chars:
            raise QuestionError(
                f"the question is {len(question):,} characters; the limit is {self.config.max_question_chars:,}"
            )
        return question

    def ask(self, question: str, k: int | None = None, mode: str | None = None) -> Answer:
        question = self.check_question(question)
        k = k or self.config.k
        # The answer step reads more passages than a small k cites; the one it answers from is cited.
        info = analyse(question)
        retrieved = self.retriever.search(question, k=max(k, ANSWER_PASSAGES), mode=mode, info=info)
        citations = [Citation.from_hit(h, rank) for rank, h in enumerate(retrieved.hits, 1)]
        t = time.perf_counter()
        extracted = extract(question, retrieved.hits, info)
        values = None
        if extracted is not None:
            # The passage the answer comes from is cited first; the rest keep their order.
            citations.insert(0, citations.pop(extracted.hit_index))
            cosine = self.retriever.cosine(question, retrieved, retrieved.hits[extracted.hit_index])
            values = signals(extracted, retrieved.hits, cosine, info)
        conf = confidence(values, self.config)
        retrieved.timings["answer"] = (time.perf_counter() - t) * 1000
        abstained = extracted is None or conf < self.config.abstain_below
        return Answer(
            question=question,
            text=NOT_FOUND if abstained else extracted.text,
            abstained=abstained,
            source=None if abstained else extracted.source,
            citations=citations[:k],
            sentence=None if extracted is None else extracted.sentence,
            sentence_source=None if extracted is None else extracted.sentence_source,
            confidence=conf,
            generation=retrieved.generation,
            timings=retrieved.timings,
        )
