"""The reader alone, given each question's gold passage: EM / F1 (SQuAD normalisation) and how
often it would abstain by its own no-answer score.

    .venv/bin/python -m bench.reader_gold --data eval/tydiqa_en/tydiqa-goldp-en-dev.json.gz
    .venv/bin/python -m bench.reader_gold --data train/data --held-out   # the trainer's validation articles
    .venv/bin/python -m bench.reader_gold --data train/data --held-out --model models/reader .train/other

No retrieval: this measures the model, not the pipeline (`rag eval` measures that).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rag import metrics
from rag.config import Config
from rag.reader import Reader
from train.reader import held_out, load_squad


def score(model: Path, examples: list, threads: int) -> dict[str, list[float]]:
    """Per question: EM, F1, the span's margin over "no answer", and the read time."""
    reader = Reader(model, threads=threads)
    reader.read("warm up?", ["Warm up."])
    out: dict[str, list[float]] = {"em": [], "f1": [], "margin": [], "ms": []}
    for ex in examples:
        started = time.perf_counter()
        spans = reader.read(ex.question, [ex.context])
        out["ms"].append((time.perf_counter() - started) * 1000)
        span = spans[0] if spans else None
        prediction = ex.context[span.start : span.end] if span else ""
        gold = [text for _, text in ex.answers]
        out["em"].append(metrics.exact_match(prediction, gold))
        out["f1"].append(metrics.token_f1(prediction, gold))
        out["margin"].append(span.score - span.no_answer if span else float("-inf"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a SQuAD-format file or folder")
    parser.add_argument("--model", type=Path, nargs="+", default=[Config().reader_dir],
                        help="model folders; each after the first is also compared with it question by question")
    parser.add_argument("--held-out", action="store_true", help="only the trainer's held-out articles (--val-share)")
    parser.add_argument("--val-share", type=float, default=0.03)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    folder = args.data if args.data.is_dir() else args.data.parent
    examples = [e for e in load_squad(folder, only=None if args.data.is_dir() else args.data.name)
                if e.answers and (not args.held_out or held_out(e.title, args.val_share))][: args.limit]
    results = []
    for model in args.model:
        r = score(model, examples, args.threads)
        results.append(r)
        below = sum(m < 0 for m in r["margin"]) / len(r["margin"])
        print(f"{model} on {args.data} ({len(examples)} questions{', held-out articles' if args.held_out else ''}): "
              f"EM {statistics.mean(r['em']):.3f}  F1 {statistics.mean(r['f1']):.3f}  "
              f"no-answer score above the span's {below:.3f}  read p50 {statistics.median(r['ms']):.1f} ms "
              f"({args.threads} thread{'s' if args.threads > 1 else ''})")
    # Paired against the first model: the questions one gets exactly right and the other wrong.
    # On the same questions this says more than two means do (a sign test on the disagreements).
    for model, r in zip(args.model[1:], results[1:]):
        a, b = results[0]["em"], r["em"]
        print(f"exact match, {model} vs {args.model[0]}: right where it was wrong {sum(y > x for x, y in zip(a, b))}, "
              f"wrong where it was right {sum(x > y for x, y in zip(a, b))}")


if __name__ == "__main__":
    main()
