"""Stages and the runner that calls them: one shape for every step from question to answer.

A question becomes a `Query`; each stage reads what earlier stages left on it and adds its own
part (the question vector, candidates, hits, the answer span, the confidence). The runner times
every stage, so no stage times itself, and a mode is only a list of stages (rag/modes.py):
adding a stage, such as the trained reader, is one more entry in a list.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rag.question import QuestionInfo
from rag.types import Hit

if TYPE_CHECKING:  # only for annotations: this module loads no numpy, FAISS or model code
    import numpy as np

    from rag.answer import Extracted


@dataclass
class Query:
    """One question on its way through the stages."""

    question: str
    info: QuestionInfo
    k: int  # passages to keep after fusion (the citations plus what the answer step reads)
    depth: int  # candidates each retriever returns
    generation: int = 0  # the snapshot's published generation
    vector: np.ndarray | None = None  # the question's vector (model of the snapshot)
    dense: list[tuple[int, float]] = field(default_factory=list)  # (passage id, cosine)
    lexical: list[tuple[int, float]] = field(default_factory=list)  # (passage id, BM25)
    ranked: list[tuple[int, float]] = field(default_factory=list)  # (passage id, fused score)
    hits: list[Hit] = field(default_factory=list)
    extracted: Extracted | None = None
    signals: list[float] | None = None
    confidence: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # stage name -> milliseconds


class Stage(Protocol):
    name: str  # the key of its time in Answer.timings and the eval report

    def run(self, query: Query) -> None: ...


def run(stages: Sequence[Stage], query: Query) -> Query:
    """Call each stage in order, adding its wall time to query.timings under its name."""
    for stage in stages:
        started = time.perf_counter()
        stage.run(query)
        elapsed = (time.perf_counter() - started) * 1000
        query.timings[stage.name] = query.timings.get(stage.name, 0.0) + elapsed
    return query
