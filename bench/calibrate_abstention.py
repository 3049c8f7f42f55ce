"""Calibrate the abstention confidence (rag/confidence.py) on a question set and its index.

Answerable examples: each question as is. Unanswerable examples: the same question with its
gold documents removed from the results (retrieve the fused candidates deeper, drop every hit
from a gold document, re-score and answer from what is left). Dropping hits instead of
re-indexing without the document changes only the min-max normalisation of the fused scores,
not which passages are candidates, and keeps the run to minutes.

Fits a logistic model over the answerer's signals (rag/confidence.py SIGNALS) with plain gradient descent
(no extra dependency), then picks the threshold that abstains most on unanswerable questions
while wrongly abstaining on at most --max-wrong of the answerable ones, and prints the Config
values. It also reports a 2-fold split by question (fit and threshold on one half, measured
on the other), the figure to expect on questions the calibration has not seen.

    .venv/bin/python bench/calibrate_abstention.py --index-dir .rag/eval/xquad_en \
        --questions eval/xquad_en/questions.jsonl [--answerer rules]
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag import pipeline
from rag.confidence import SIGNALS
from rag.config import ANSWERERS, Config
from rag.evaluate import load_questions
from rag.qa import QA
from rag.retrieve import SentenceRescore


def examples(qa: QA, answerer: str, question: str, gold_docs: set[str], k: int) -> list[tuple[list[float], int]]:
    """(signals, answerable) for the question as is and with its gold documents' hits dropped;
    both come from one retrieval (the fused candidates, retrieved deeper than k)."""
    config = qa.config
    rescored = config.mode == "rescored"
    retrieved = qa.retriever.search(question, k=k + 10, mode="hybrid" if rescored else config.mode)
    _, answering = qa.stages(config.mode, answerer)
    out = []
    for drop, answerable in ((set(), 1), (gold_docs, 0)):
        query = replace(retrieved, hits=[h for h in retrieved.hits if h.passage.doc_id not in drop], timings={})
        if rescored:
            SentenceRescore(config.rescore_depth, config.rescore_weight).run(query)
        query.hits = query.hits[:k]
        pipeline.run(answering, query)
        if query.extracted is not None:
            out.append((query.signals, answerable))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 20000, lr: float = 0.5) -> np.ndarray:
    """Bias and weights on the raw signals (standardised while fitting, for the step size)."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    xb = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= lr * xb.T @ (p - y) / len(y)
    weights = w[1:] / sd
    return np.concatenate([[w[0] - weights @ mu], weights])


def confidences(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))


def pick_threshold(conf: np.ndarray, y: np.ndarray, max_wrong: float) -> float:
    best = None
    for threshold in np.linspace(0.01, 0.99, 99):
        wrong = float(np.mean(conf[y == 1] < threshold))
        right = float(np.mean(conf[y == 0] < threshold))
        if wrong <= max_wrong and (best is None or right > best[1]):
            best = (threshold, right)
    return best[0]


def rates(conf: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    """(share of unanswerable abstained, share of answerable wrongly abstained)."""
    return float(np.mean(conf[y == 0] < threshold)), float(np.mean(conf[y == 1] < threshold))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True, type=Path)
    parser.add_argument("--questions", required=True, type=Path)
    parser.add_argument("--limit", type=int, default=None)
    # 0.09: a margin under the 10% of answerable questions the answer-quality issue allows.
    parser.add_argument("--max-wrong", type=float, default=0.09)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--answerer", choices=ANSWERERS, default=Config().answerer)
    args = parser.parse_args()
    qa = QA(Config(index_dir=args.index_dir))
    rows, labels, groups = [], [], []
    for n, q in enumerate(load_questions(args.questions)[: args.limit]):
        for values, answerable in examples(qa, args.answerer, q.question, set(q.gold_doc_ids), args.k):
            rows.append(values)
            labels.append(answerable)
            groups.append(n % 2)
    x, y, groups = np.array(rows), np.array(labels, dtype=float), np.array(groups)
    held_out = []
    for fold in (0, 1):
        train, test = groups != fold, groups == fold
        w = fit_logistic(x[train], y[train])
        threshold = pick_threshold(confidences(w, x[train]), y[train], args.max_wrong)
        held_out.append(rates(confidences(w, x[test]), y[test], threshold))
    w = fit_logistic(x, y)
    conf = confidences(w, x)
    threshold = pick_threshold(conf, y, args.max_wrong)
    right, wrong = rates(conf, y, threshold)
    abstained = conf < threshold
    precision = float(np.mean(y[abstained] == 0)) if abstained.any() else 0.0
    prefix = "reader_" if args.answerer == "reader" else ""
    print(f"examples: {int(y.sum())} answerable, {int((1 - y).sum())} with gold removed; "
          f"signals {', '.join(SIGNALS[args.answerer])}")
    print(f"{prefix}conf_bias={w[0]:.3f} {prefix}conf_weights=({', '.join(f'{v:.3f}' for v in w[1:])}) "
          f"{prefix}abstain_below={threshold:.2f}")
    print(f"fitted on all: abstains on {right:.3f} of gold-removed (abstention recall), wrongly on {wrong:.3f} "
          f"of answerable; abstention precision {precision:.3f}")
    right, wrong = np.mean(held_out, axis=0)
    print(f"2-fold held out: abstains on {right:.3f} of gold-removed, wrongly on {wrong:.3f} of answerable")
    config = qa.config  # what rag uses now, to check a change still fits the calibration
    configured = [getattr(config, prefix + name) for name in ("conf_bias", "conf_weights", "abstain_below")]
    right, wrong = rates(confidences(np.array([configured[0], *configured[1]]), x), y, configured[2])
    print(f"configured weights and threshold: abstains on {right:.3f} of gold-removed, wrongly on {wrong:.3f} of answerable")


if __name__ == "__main__":
    main()
