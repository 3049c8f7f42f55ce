"""Answers: the passage sentence that best answers the question, cited with exact offsets.

The answer text is always a verbatim slice of the cited document: `answer.text ==
document.text[source.start:source.end]`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeddings import Encoder
from rag.passages import sentence_spans
from rag.retrieve import Hit

NOT_FOUND = "I couldn't find that in the documents."


@dataclass(frozen=True)
class Citation:
    doc_id: str
    title: str
    path: str
    ordinal: int
    start: int  # offsets into the document's decoded text
    end: int
    score: float
    text: str

    @classmethod
    def from_hit(cls, hit: Hit) -> "Citation":
        p = hit.passage
        return cls(p.doc_id, p.title, p.path, p.ordinal, p.start, p.end, round(hit.score, 6), p.text)


@dataclass(frozen=True)
class AnswerSource:
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    question: str
    text: str | None
    abstained: bool
    source: AnswerSource | None
    citations: list[Citation]
    generation: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The `rag ask --json` shape: add keys, never rename them (tools rely on it)."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "answer_source": None if self.source is None else self.source.__dict__.copy(),
            "citations": [c.__dict__.copy() for c in self.citations],
            "generation": self.generation,
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
        }


def best_sentence(hit: Hit, query_vector: np.ndarray, encoder: Encoder) -> tuple[int, int]:
    """Document offsets of the top passage's sentence closest to the question."""
    p = hit.passage
    spans = sentence_spans(p.text) or [(0, len(p.text))]
    if len(spans) == 1:
        s, e = spans[0]
    else:
        vectors = encoder.encode([p.text[s:e] for s, e in spans])
        s, e = spans[int(np.argmax(vectors @ query_vector))]
    return p.start + s, p.start + e


def compose(question: str, hits: list[Hit], query_vector: np.ndarray | None, encoder: Encoder) -> tuple[str | None, AnswerSource | None]:
    if not hits:
        return None, None
    top = hits[0]
    if query_vector is None:
        query_vector = encoder.encode_query(question)
    start, end = best_sentence(top, query_vector, encoder)
    text = top.passage.text[start - top.passage.start : end - top.passage.start]
    return text, AnswerSource(top.passage.doc_id, start, end)
