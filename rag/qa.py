"""The question-answering pipeline the CLI, the evaluator and the UI all call."""
from __future__ import annotations

from rag.errors import RagError

import time
from typing import Callable

from rag.answer import NOT_FOUND, Answer, Citation, compose
from rag.config import Config
from rag.retrieve import Retriever


class QuestionError(RagError):
    """The question itself is unusable (empty, too long)."""


class QA:
    """Loads the index once (and the model on the first question) and answers questions."""

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
        retrieved = self.retriever.search(question, k=k, mode=mode)
        t = time.perf_counter()
        text, source = compose(question, retrieved.hits, retrieved.query_vector, self.retriever.encoder)
        retrieved.timings["answer"] = (time.perf_counter() - t) * 1000
        citations = [Citation.from_hit(h) for h in retrieved.hits]
        abstained = text is None
        return Answer(
            question=question,
            text=NOT_FOUND if abstained else text,
            abstained=abstained,
            source=source,
            citations=citations,
            generation=retrieved.generation,
            timings=retrieved.timings,
        )
