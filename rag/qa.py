"""The question-answering pipeline the CLI, the evaluator and the UI all call.

A question runs through the retrieval stages of its mode inside one read snapshot
(rag/retrieve.py), then through the answer stages of its answerer: the span the answer is
(rag/reader.py or rag/answer.py) and the confidence that decides whether to abstain
(rag/confidence.py). rag/pipeline.py times every stage.
"""
from __future__ import annotations

from collections.abc import Callable

from rag import pipeline
from rag.answer import ANSWER_PASSAGES, NOT_FOUND, Answer, Citation, Extract
from rag.confidence import Confidence
from rag.config import Config
from rag.errors import RagError
from rag.inputs import check_question
from rag.pipeline import Query, Stage
from rag.question import analyse
from rag.reader import Read
from rag.retrieve import Retriever, retrieval_stages


class QuestionError(RagError):
    """The question itself is unusable (empty, too long)."""


class QA:
    """Loads the index once (and the models on the first question) and answers questions."""

    def __init__(self, config: Config, warn: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.retriever = Retriever(config, warn=warn)
        self._stages: dict[tuple[str, str], tuple[list[Stage], list[Stage]]] = {}

    def close(self) -> None:
        self.retriever.close()

    def check_question(self, question: object) -> str:
        """The question trimmed, or a RagError: text of valid Unicode (rag/inputs.py), not empty,
        not too long. Every entry (CLI, chat, API, eval) reaches it through `ask` or calls it."""
        question = check_question(question).strip()
        if not question:
            raise QuestionError("the question is empty")
        if len(question) > self.config.max_question_chars:
            raise QuestionError(
                f"the question is {len(question):,} characters; the limit is {self.config.max_question_chars:,}"
            )
        return question

    def stages(self, mode: str, answerer: str) -> tuple[list[Stage], list[Stage]]:
        """(retrieval stages, answer stages) of a mode and an answerer, built once."""
        if (mode, answerer) not in self._stages:
            config = self.config
            if answerer == "reader":
                span: Stage = Read(config.reader_dir, config.reader_passages, config.torch_threads,
                                   config.reader_precision)
                conf = Confidence(answerer, config.reader_conf_bias, config.reader_conf_weights)
            else:
                span = Extract()
                conf = Confidence(answerer, config.conf_bias, config.conf_weights)
            self._stages[mode, answerer] = (retrieval_stages(mode, self.retriever), [span, conf])
        return self._stages[mode, answerer]

    def passages_read(self, answerer: str) -> int:
        return self.config.reader_passages if answerer == "reader" else ANSWER_PASSAGES

    def abstain_below(self, answerer: str) -> float:
        return self.config.reader_abstain_below if answerer == "reader" else self.config.abstain_below

    def ask(self, question: str, k: int | None = None, mode: str | None = None) -> Answer:
        """Answer a question; `mode` is a retrieval mode, optionally with an answerer
        ("rescored:rules"), by default the configured ones."""
        question = self.check_question(question)
        k = k or self.config.k
        mode, answerer = self.config.split_mode(mode)
        retrieval, answering = self.stages(mode, answerer)
        # The answer step reads more passages than a small k cites; the one it answers from is cited.
        query = Query(question, analyse(question), k=max(k, self.passages_read(answerer)),
                      depth=max(self.config.candidates, k))
        with self.retriever.snapshot() as generation:
            query.generation = generation
            pipeline.run(retrieval, query)
        pipeline.run(answering, query)
        return self.answer(query, k, answerer)

    def answer(self, query: Query, k: int, answerer: str) -> Answer:
        """The Answer of a query that has been through its stages."""
        citations = [Citation.from_hit(h, rank) for rank, h in enumerate(query.hits, 1)]
        extracted = query.extracted
        if extracted is not None:
            # The passage the answer comes from is cited first; the rest keep their order.
            citations.insert(0, citations.pop(extracted.hit_index))
        abstained = extracted is None or query.confidence < self.abstain_below(answerer)
        return Answer(
            question=query.question,
            text=NOT_FOUND if abstained else extracted.text,
            abstained=abstained,
            source=None if abstained else extracted.source,
            citations=citations[:k],
            sentence=None if extracted is None else extracted.sentence,
            sentence_source=None if extracted is None else extracted.sentence_source,
            confidence=query.confidence,
            generation=query.generation,
            timings=query.timings,
        )
