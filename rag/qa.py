"""The question-answering pipeline the CLI, the evaluator and the UI all call."""
from __future__ import annotations

import math
import time
from typing import Callable

from rag.answer import ANSWER_PASSAGES, NOT_FOUND, Answer, Citation, Extracted, extract
from rag.config import Config
from rag.errors import RagError
from rag.retrieve import Retriever


class QuestionError(RagError):
    """The question itself is unusable (empty, too long)."""


def confidence(extracted: Extracted | None, cosine: float, config: Config) -> float:
    """Probability-like confidence that the answer is supported, from retrieval and answer signals.

    A logistic model over: the cited passage's cosine similarity to the question, the share of
    the question's content words in the answer sentence, and whether a span of the asked-for
    type was found. Weights and threshold are calibrated by `bench/calibrate_abstention.py`.
    """
    if extracted is None:
        return 0.0
    z = (
        config.conf_bias
        + config.conf_w_dense * cosine
        + config.conf_w_overlap * extracted.overlap
        + config.conf_w_typed * extracted.type_fit
    )
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
        retrieved = self.retriever.search(question, k=max(k, ANSWER_PASSAGES), mode=mode)
        citations = [Citation.from_hit(h, rank) for rank, h in enumerate(retrieved.hits, 1)]
        t = time.perf_counter()
        extracted = extract(question, retrieved.hits)
        cosine = 0.0
        if extracted is not None:
            # The passage the answer comes from is cited first; the rest keep their order.
            citations.insert(0, citations.pop(extracted.hit_index))
            cosine = self.retriever.cosine(question, retrieved, retrieved.hits[extracted.hit_index])
        conf = confidence(extracted, cosine, self.config)
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
