"""Evaluation metrics as pure functions: retrieval at document and passage level, SQuAD answers.

Conventions (the unit tests pin them with hand-computed cases):
- a ranking is the retriever's order, best first; ties were already broken by the retriever, so
  nothing here re-sorts;
- document-level metrics first collapse repeated doc ids to their first (best) rank, the usual
  max-passage convention, so one document split into several passages counts once;
- a metric that does not apply to a question (no gold documents, no gold answers) is None, and
  `mean` skips None, so retrieval-only sets and unanswerable questions never count as failures.
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np


def unique_in_order(doc_ids: Iterable[str]) -> list[str]:
    """Doc ids with repeats dropped, each kept at its first rank."""
    seen: set[str] = set()
    out = []
    for doc_id in doc_ids:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
    return out


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """Share of the gold documents among the first k distinct retrieved documents."""
    gold_set = set(gold)
    if not gold_set:
        return None
    found = gold_set.intersection(unique_in_order(ranked)[:k])
    return len(found) / len(gold_set)


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str], k: int = 10) -> float | None:
    """1 / rank of the first gold document within the first k distinct documents, else 0."""
    gold_set = set(gold)
    if not gold_set:
        return None
    for rank, doc_id in enumerate(unique_in_order(ranked)[:k], 1):
        if doc_id in gold_set:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], gold: Iterable[str], k: int = 10) -> float | None:
    """Binary-relevance nDCG@k (as BEIR/pytrec_eval): gain 1/log2(rank+1), ideal = all gold first."""
    gold_set = set(gold)
    if not gold_set:
        return None
    dcg = sum(1.0 / math.log2(rank + 1) for rank, d in enumerate(unique_in_order(ranked)[:k], 1) if d in gold_set)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold_set), k) + 1))
    return dcg / ideal


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def passage_hit_at_k(passages: Sequence[str], contains: Iterable[str], k: int) -> float | None:
    """1.0 if one of the first k passages contains a gold substring, else 0.0.

    Case and runs of whitespace are ignored, so a gold quote copied from a re-wrapped or
    differently capitalised copy still matches the passage it came from.
    """
    needles = [_squash(c) for c in contains if c.strip()]
    if not needles:
        return None
    return float(any(n in _squash(p) for p in passages[:k] for n in needles))


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, drop punctuation and articles, squash whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str | None, answers: Sequence[str]) -> float | None:
    """Best over the acceptable answers; an abstention (None) scores 0."""
    if not answers:
        return None
    pred = normalize_answer(prediction or "")
    return max(float(pred == normalize_answer(a)) for a in answers)


def token_f1(prediction: str | None, answers: Sequence[str]) -> float | None:
    """SQuAD v1.1 token F1, best over the acceptable answers; an abstention (None) scores 0."""
    if not answers:
        return None
    pred = normalize_answer(prediction or "").split()
    return max(_f1(pred, normalize_answer(a).split()) for a in answers)


def _f1(pred: list[str], gold: list[str]) -> float:
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def contains_answer(text: str | None, answers: Sequence[str]) -> float | None:
    """1.0 if the text contains a gold answer: as whole tokens after SQuAD normalisation, or as
    written (case and spacing aside) not inside a longer word. The second catches answers that
    normalisation glues to a neighbour: "Six" in "Six-time", "William Tyndale" in "William
    Tyndale's", "1185" in "(1185–1226)"."""
    if not answers:
        return None
    padded = f" {normalize_answer(text or '')} "
    if any(f" {normalize_answer(a)} " in padded for a in answers if normalize_answer(a)):
        return 1.0
    spaced = " ".join((text or "").lower().split())
    return float(any(
        re.search(r"(?<!\w)" + re.escape(" ".join(a.lower().split())) + r"(?!\w)", spaced)
        for a in answers if a.strip()
    ))


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that apply (not None); None when none applies."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """q-th percentile with linear interpolation (numpy's default); None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))
