"""The reader alone, given each question's gold passage: EM / F1 (SQuAD normalisation) and how
often it would abstain by its own no-answer score.

    .venv/bin/python -m bench.reader_gold --data eval/tydiqa_en/tydiqa-goldp-en-dev.json.gz
    .venv/bin/python -m bench.reader_gold --data train/data --held-out   # the trainer's validation articles

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a SQuAD-format file or folder")
    parser.add_argument("--model", type=Path, default=Config().reader_dir)
    parser.add_argument("--held-out", action="store_true", help="only the trainer's held-out articles (--val-share)")
    parser.add_argument("--val-share", type=float, default=0.03)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    folder = args.data if args.data.is_dir() else args.data.parent
    examples = [e for e in load_squad(folder, only=None if args.data.is_dir() else args.data.name)
                if e.answers and (not args.held_out or held_out(e.title, args.val_share))][: args.limit]
    reader = Reader(args.model, threads=args.threads)
    reader.read("warm up?", ["Warm up."])
    em, f1, margins, ms = [], [], [], []
    for ex in examples:
        started = time.perf_counter()
        spans = reader.read(ex.question, [ex.context])
        ms.append((time.perf_counter() - started) * 1000)
        span = spans[0] if spans else None
        prediction = ex.context[span.start : span.end] if span else ""
        gold = [text for _, text in ex.answers]
        em.append(metrics.exact_match(prediction, gold))
        f1.append(metrics.token_f1(prediction, gold))
        margins.append(span.score - span.no_answer if span else float("-inf"))
    below = sum(m < 0 for m in margins) / len(margins)
    print(f"{args.data} ({len(examples)} questions{', held-out articles' if args.held_out else ''}): "
          f"EM {statistics.mean(em):.3f}  F1 {statistics.mean(f1):.3f}  "
          f"no-answer score above the span's {below:.3f}  read p50 {statistics.median(ms):.1f} ms "
          f"({args.threads} thread{'s' if args.threads > 1 else ''})")


if __name__ == "__main__":
    main()
