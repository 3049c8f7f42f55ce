"""One-document corpora from the reader's held-out articles: is retrieval inside one long
document (the seed's situation: every passage shares the topic words) a general weakness?

Each held-out SQuAD article with at least --min-paragraphs paragraphs becomes a folder with one
document (title, then its paragraphs), indexed on its own with the real model; up to
--per-article of its questions are asked through the default pipeline. Needs the held-out set
(`python -m bench.heldout_set --out bench/.cache/heldout`); never trained on, not an evaluation set.

    .venv/bin/python -m bench.one_document    # ~1 minute here once the 13 indexes are built
"""
from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

from bench.common import CACHE, pin_threads
from rag import metrics
from rag.evaluate import load_questions, retrieval_order


def articles(heldout: Path) -> dict[str, list[tuple[str, str]]]:
    """Article title -> [(doc id, paragraph)] from the held-out corpus (one paragraph a file)."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in sorted((heldout / "corpus").glob("*.txt")):
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        out[title].append((path.stem, body.strip()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=Path, default=CACHE / "heldout")
    parser.add_argument("--work", type=Path, default=CACHE / "one-document")
    parser.add_argument("--min-paragraphs", type=int, default=20)
    parser.add_argument("--per-article", type=int, default=40)
    args = parser.parse_args()
    from rag.config import Config
    from rag.indexer import index_seeds
    from rag.qa import QA

    pin_threads(Config().torch_threads)
    questions = load_questions(args.heldout / "questions.jsonl")
    rows = []
    for title, paragraphs in articles(args.heldout).items():
        if len(paragraphs) < args.min_paragraphs:
            continue
        folder = args.work / "".join(c if c.isalnum() else "_" for c in title)[:40]
        seeds = folder / "seeds"
        seeds.mkdir(parents=True, exist_ok=True)
        (seeds / "article.txt").write_text(title + "\n\n" + "\n\n".join(p for _, p in paragraphs) + "\n",
                                           encoding="utf-8")
        config = Config(seeds_dir=seeds, index_dir=folder / "index")
        index_seeds(config)  # incremental: encodes nothing on a second run
        ids = {doc_id for doc_id, _ in paragraphs}
        mine = [q for q in questions if ids & set(q.gold_doc_ids)]
        random.Random(7).shuffle(mine)
        qa = QA(config)
        try:
            for q in mine[: args.per_article]:
                answer = qa.ask(q.question, k=20)
                passages = [c.text for c in retrieval_order(answer.citations)]
                text = None if answer.abstained else answer.text
                rows.append({"article": title, "abstained": float(answer.abstained),
                             "hit1": metrics.passage_hit_at_k(passages, q.answers, 1),
                             "hit3": metrics.passage_hit_at_k(passages, q.answers, 3),
                             "em": metrics.exact_match(text, q.answers), "f1": metrics.token_f1(text, q.answers)})
        finally:
            qa.close()
    if not rows:
        raise SystemExit(f"no article in {args.heldout} has {args.min_paragraphs} paragraphs or more")
    mean = {key: metrics.mean(r[key] for r in rows) for key in ("hit1", "hit3", "em", "f1", "abstained")}
    print(f"{len(rows)} questions over {len({r['article'] for r in rows})} one-document corpora (rescored, the reader):")
    print(f"  passage holding the answer at rank 1 {mean['hit1']:.3f}, in the top 3 {mean['hit3']:.3f}")
    print(f"  EM {mean['em']:.3f}  F1 {mean['f1']:.3f}  abstained {mean['abstained']:.3f}")


if __name__ == "__main__":
    main()
