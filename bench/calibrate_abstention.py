"""Calibrate the abstention confidence (rag/qa.py) on a question set and its index.

Answerable examples: each question as is. Unanswerable examples: the same question with its
gold documents removed from the results (retrieve deeper, drop every hit from a gold
document, answer from what is left). Dropping hits instead of re-indexing without the
document changes only the min-max normalisation of the fused scores, not which passages
are candidates, and keeps the run to minutes.

Fits a logistic model over the answer signals with plain gradient descent (no extra
dependency), then picks the threshold that abstains most on unanswerable questions while
wrongly abstaining on at most --max-wrong of the answerable ones. Prints the Config values.

    .venv/bin/python bench/calibrate_abstention.py --index-dir .rag/eval/xquad_en \
        --questions eval/xquad_en/questions.jsonl
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag.answer import extract
from rag.config import Config
from rag.retrieve import Retriever


def features(retriever: Retriever, question: str, drop_docs: set[str], k: int) -> list[float] | None:
    retrieved = retriever.search(question, k=k + 10)
    hits = [h for h in retrieved.hits if h.passage.doc_id not in drop_docs][:k]
    extracted = extract(question, hits)
    if extracted is None:
        return None
    cosine = retriever.cosine(question, retrieved, hits[extracted.hit_index])
    return [cosine, extracted.overlap, extracted.type_fit]


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 4000, lr: float = 0.5) -> np.ndarray:
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= lr * xb.T @ (p - y) / len(y)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True, type=Path)
    parser.add_argument("--questions", required=True, type=Path)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--max-wrong", type=float, default=0.10)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    retriever = Retriever(Config(index_dir=args.index_dir))
    rows, labels = [], []
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    for q in questions[: args.limit]:
        for drop, answerable in ((set(), 1), (set(q["gold_doc_ids"]), 0)):
            f = features(retriever, q["question"], drop, args.k)
            if f is not None:
                rows.append(f)
                labels.append(answerable)
    x, y = np.array(rows), np.array(labels, dtype=float)
    w = fit_logistic(x, y)
    conf = 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
    best = None
    for threshold in np.linspace(0.05, 0.95, 91):
        wrong = float(np.mean(conf[y == 1] < threshold))
        right = float(np.mean(conf[y == 0] < threshold))
        if wrong <= args.max_wrong and (best is None or right > best[1]):
            best = (threshold, right, wrong)
    threshold, right, wrong = best
    print(f"examples: {int(y.sum())} answerable, {int((1 - y).sum())} with gold removed")
    print(f"conf_bias={w[0]:.3f} conf_w_dense={w[1]:.3f} conf_w_overlap={w[2]:.3f} conf_w_typed={w[3]:.3f}")
    print(f"abstain_below={threshold:.2f}: abstains on {right:.3f} of gold-removed, wrongly on {wrong:.3f} of answerable")


if __name__ == "__main__":
    main()
