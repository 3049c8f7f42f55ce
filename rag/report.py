"""Write an evaluation run: report.json (every number), report.md (table + worst questions), a plot.

report.json keeps the keys the issue fixed (`modes.<mode>.{n_questions, recall@1, ...}`,
`config`, `per_question[{id, mode, doc_ids, answer, abstained}]`) and adds a few more beside them
(per-stage latency, the recall@k curve, per-question scores). A metric that does not apply is null.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rag.corpus import corpus_name
from rag.evaluate import EvalRun, ModeSummary, Outcome

WORST = 20
SNIPPET_CHARS = 240
# Pipeline order for the latency table; stages the pipeline adds later follow in their own order.
# "fetch" reads the hits' texts and stored vectors from SQLite; "read" (the trained reader) or
# "extract" (the span rules) finds the answer span; "confidence" decides whether to abstain.
STAGE_ORDER = ("embed", "dense", "lexical", "fusion", "fetch", "rescore", "rerank", "read", "extract", "confidence")
RETRIEVAL_STAGES = STAGE_ORDER[:7]
# Modes often tie (identical curves); distinct markers and dashes keep every line visible.
LINE_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("x", "--"))
# (column header, report.json key) in table order.
COLUMNS = (
    ("n", "n_questions"),
    ("R@1", "recall@1"),
    ("R@5", "recall@5"),
    ("R@10", "recall@10"),
    ("MRR@10", "mrr@10"),
    ("nDCG@10", "ndcg@10"),
    ("hit@1", "passage_hit@1"),
    ("hit@5", "passage_hit@5"),
    ("EM", "em"),
    ("F1", "f1"),
    ("sent", "sentence_contains_answer"),
    ("abst ok", "abstain_correct"),
    ("abst wrong", "abstain_wrong"),
    ("p50 ms", "latency_p50_ms"),
    ("p95 ms", "latency_p95_ms"),
)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def mode_dict(s: ModeSummary) -> dict[str, Any]:
    return {
        "n_questions": s.n_questions,
        "recall@1": _round(s.recall(1)),
        "recall@5": _round(s.recall(5)),
        "recall@10": _round(s.recall(10)),
        "mrr@10": _round(s.mrr),
        "ndcg@10": _round(s.ndcg),
        "passage_hit@1": _round(s.passage_hit[1]),
        "passage_hit@5": _round(s.passage_hit[5]),
        "em": _round(s.em),
        "f1": _round(s.f1),
        "abstain_correct": _round(s.abstain_correct),
        "abstain_wrong": _round(s.abstain_wrong),
        "latency_p50_ms": _round(s.latency_p50, 2),
        "latency_p95_ms": _round(s.latency_p95, 2),
        "sentence_contains_answer": _round(s.sentence_hit),
        "latency_stages_ms": {k: {"p50": _round(p50, 2), "p95": _round(p95, 2)} for k, (p50, p95) in s.stages.items()},
        "recall_at_k": [_round(v) for v in s.recall_curve],
    }


def question_dict(o: Outcome) -> dict[str, Any]:
    sc = o.scores
    return {
        "id": o.question.id,
        "mode": o.mode,
        "doc_ids": list(o.doc_ids),
        "answer": o.answer,
        "abstained": o.abstained,
        "latency_ms": round(o.latency_ms, 2),
        "scores": {
            "recall@10": _round(sc.recall[9]) if sc.recall else None,
            "rr@10": _round(sc.rr),
            "ndcg@10": _round(sc.ndcg),
            "passage_hit@5": sc.passage_hit[5],
            "em": sc.em,
            "f1": _round(sc.f1),
        },
    }


def report_dict(run: EvalRun) -> dict[str, Any]:
    return {
        "modes": {s.mode: mode_dict(s) for s in run.summaries},
        "config": dict(run.settings),
        "per_question": [question_dict(o) for o in run.outcomes],
    }


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "n_questions":
        return str(value)
    if key.startswith("latency"):
        return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
    return f"{value:.3f}"


def markdown_table(run: EvalRun) -> str:
    """One row per mode, one column per metric ("–" where a metric does not apply)."""
    rows = ["| mode | " + " | ".join(h for h, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for s in run.summaries:
        values = mode_dict(s)
        rows.append(f"| {s.mode} | " + " | ".join(_cell(k, values[k]) for _, k in COLUMNS) + " |")
    return "\n".join(rows)


def stage_table(run: EvalRun) -> str:
    seen = {k for s in run.summaries for k in s.stages}
    stages = [k for k in STAGE_ORDER if k in seen] + sorted(seen.difference(STAGE_ORDER))
    rows = ["| mode | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
    for s in run.summaries:
        cells = [
            f"{_cell('latency', s.stages[k][0])} / {_cell('latency', s.stages[k][1])}" if k in s.stages else "–"
            for k in stages
        ]
        rows.append(f"| {s.mode} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def quality(o: Outcome) -> float | None:
    """How well one question went, in [0, 1], for ranking the worst; None when nothing is judged."""
    sc = o.scores
    if not o.question.answerable:
        return sc.abstain_correct
    parts = [v for v in (sc.rr, sc.f1) if v is not None]
    return sum(parts) / len(parts) if parts else None


def worst(run: EvalRun, n: int = WORST) -> list[Outcome]:
    judged = [(q, o) for o in run.outcomes if o.mode == run.primary_mode and (q := quality(o)) is not None]
    judged.sort(key=lambda pair: (pair[0], pair[1].question.line))
    return [o for _, o in judged[:n]]


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _describe(o: Outcome) -> list[str]:
    q = o.question
    if not q.answerable:
        expected = "an abstention (not answerable from the documents)"
    else:
        parts = []
        if q.answers:
            parts.append("answer " + " | ".join(f"“{a}”" for a in q.answers))
        if q.gold_doc_ids:
            parts.append("documents " + ", ".join(f"`{d}`" for d in q.gold_doc_ids))
        expected = "; ".join(parts) or "(no gold given)"
    got = "abstained" if o.abstained else f"“{_snippet(o.answer or '')}”"
    ranks = [f"`{d}` at {o.doc_ids.index(d) + 1}" if d in o.doc_ids else f"`{d}` not retrieved" for d in q.gold_doc_ids]
    lines = [
        f"- expected: {expected}",
        f"- got: {got}" + (f" (F1 {o.scores.f1:.2f})" if o.scores.f1 is not None else ""),
    ]
    if ranks:
        lines.append(f"- gold rank (of {len(o.doc_ids)} documents retrieved): " + ", ".join(ranks))
    lines.append("- retrieved: " + (", ".join(f"`{d}`" for d in o.doc_ids[:5]) or "nothing"))
    if o.passages:
        lines.append(f"- top passage: “{_snippet(o.passages[0])}”")
    return lines


def markdown_report(run: EvalRun) -> str:
    cfg = run.settings
    out = [
        f"# Evaluation: {cfg.get('questions')} on {cfg.get('corpus')}",
        "",
        f"{cfg.get('n_questions')} questions × {len(run.modes)} modes, ranking depth {run.depth} passages "
        f"(document metrics count each document once, at its best passage). Model {cfg.get('model')} "
        f"({cfg.get('model_fingerprint')}); {cfg.get('seconds')} s in all. "
        "“–”: the metric does not apply to this set.",
        "",
        markdown_table(run),
        "",
        "R@k: share of gold documents in the top k documents; hit@k: a top-k passage contains a gold quote; "
        "EM/F1: SQuAD-normalised, best over the answers (an abstention scores 0); sent: the answer's sentence "
        "contains a gold answer; abst ok: unanswerable questions abstained on; abst wrong: answerable ones "
        "abstained on; latency per question, wall clock.",
        "",
        "## Latency by stage (p50 / p95 ms)",
        "",
        stage_table(run),
        "",
        f"## The {WORST} worst questions ({run.primary_mode})",
        "",
        "Ranked by the mean of reciprocal rank and F1 (abstention for unanswerable questions), worst first.",
        "",
    ]
    for n, o in enumerate(worst(run), 1):
        out.append(f"### {n}. `{o.question.id}` (line {o.question.line}): {o.question.question}")
        out.extend(_describe(o))
        out.append("")
    return "\n".join(out)


def plot_recall(run: EvalRun, path: Path) -> None:
    """recall@k for k = 1..depth, one line per mode, rendered with the Agg backend (no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ks = list(range(1, run.depth + 1))
    plotted = False
    values = [v for s in run.summaries for v in s.recall_curve if v is not None]
    for n, s in enumerate(run.summaries):
        if any(v is not None for v in s.recall_curve):
            marker, dashes = LINE_STYLES[n % len(LINE_STYLES)]
            curve = [float("nan") if v is None else v for v in s.recall_curve]
            ax.plot(ks, curve, marker=marker, linestyle=dashes, ms=4, label=s.mode)
            plotted = True
    if plotted:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no question has gold_doc_ids", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("recall@k")
    # Start the axis just below the lowest value: curves near 1.0 would merge on a 0-1 axis.
    ax.set_ylim(max(0.0, math.floor(min(values, default=0.0) * 10 - 0.2) / 10), 1.01)
    ax.set_xlim(1, run.depth)
    ax.grid(alpha=0.3)
    ax.set_title(f"{corpus_name(Path(str(run.settings.get('questions'))))}: recall@k by mode", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(run: EvalRun, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "report.json", folder / "report.md", folder / "recall_at_k.png"]
    paths[0].write_text(json.dumps(report_dict(run), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown_report(run), encoding="utf-8")
    plot_recall(run, paths[2])
    return paths
