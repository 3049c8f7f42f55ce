"""The answer's confidence: a logistic model over scale-free signals, and the abstention stage.

Each answerer has its own signals and calibrated weights (Config.conf_* for the span rules,
Config.reader_conf_* for the trained reader), fitted by `bench/calibrate_abstention.py`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from rag.answer import Extracted
from rag.pipeline import Query
from rag.question import QuestionInfo
from rag.sentences import coverage
from rag.types import Hit

# The confidence's inputs, per answerer, in the order of its weights.
SIGNALS = {
    "rules": ("cosine", "overlap", "type_fit", "coverage", "dense_margin"),
    "reader": ("cosine", "overlap", "coverage", "dense_margin", "reader_margin", "reader_no_answer"),
}
# Passages whose evidence the signals weigh (the answer step's reading depth for the rules).
SIGNAL_PASSAGES = 5


def signals(extracted: Extracted, hits: list[Hit], info: QuestionInfo, answerer: str) -> list[float]:
    """What the confidence is computed from, in SIGNALS[answerer] order:
    - cosine: the answer passage's dense similarity to the question;
    - overlap: how much of the question the answer sentence matches (rag/sentences.py);
    - type_fit: 1 when the answer is an entity of the asked-for type, 0 when untyped (rules);
    - coverage: the share of the question's content words found anywhere in the top passages
      (a word found nowhere hints that the documents do not cover the question);
    - dense_margin: how far the best dense similarity among the top passages stands above the
      next (an answerable question usually has one passage clearly closest);
    - reader_margin: the reader's best span score minus its no-answer score (reader).
    - reader_no_answer: the reader's lowest no-answer score among the passages it read: when even
      the likeliest passage says "no answer here", the documents probably do not say (reader;
      2-fold on held-out training articles it lifts abstention on gold-removed questions from
      .644 to .664 at the same ~7.5% of answerable ones wrongly abstained).
    All are scale-free (no raw BM25 score), so the calibration carries over to corpora of any size.
    """
    top = hits[:SIGNAL_PASSAGES]
    dense = sorted((h.dense or 0.0 for h in top), reverse=True) + [0.0, 0.0]
    cosine = hits[extracted.hit_index].cosine or 0.0
    values = {
        "cosine": cosine,
        "overlap": extracted.overlap,
        "type_fit": extracted.type_fit,
        "coverage": coverage(top, info),
        "dense_margin": dense[0] - dense[1],
        "reader_margin": extracted.reader_margin,
        "reader_no_answer": extracted.reader_no_answer,
    }
    return [values[name] for name in SIGNALS[answerer]]


def logistic(values: list[float] | None, bias: float, weights: tuple[float, ...]) -> float:
    """Probability-like confidence that the answer is supported."""
    if values is None:
        return 0.0
    z = bias + sum(w * v for w, v in zip(weights, values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass
class Confidence:
    answerer: str
    bias: float
    weights: tuple[float, ...]
    name: str = "confidence"

    def run(self, query: Query) -> None:
        if query.extracted is None:
            query.signals, query.confidence = None, 0.0
            return
        query.signals = signals(query.extracted, query.hits, query.info, self.answerer)
        query.confidence = logistic(query.signals, self.bias, self.weights)
