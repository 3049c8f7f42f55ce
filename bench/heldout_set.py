"""A question set for calibrating on, from the reader's held-out training articles.

The trainer holds out the SQuAD/TyDi articles whose title hashes into `--val-share`
(train/reader.py `held_out`); they were never trained on and are not an evaluation set, so the
abstention confidence can be fitted on them and then *measured* on eval/xquad_en. Writes a
corpus folder (one document per paragraph, first line the article title, as eval/xquad_en) and
a questions.jsonl in the evaluation format:

    .venv/bin/python -m bench.heldout_set --out bench/.cache/heldout
    .venv/bin/rag eval bench/.cache/heldout/questions.jsonl --corpus bench/.cache/heldout/corpus
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from train.reader import DEFAULT_DATA, held_out, load_squad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--val-share", type=float, default=0.03, help="as the trainer's")
    args = parser.parse_args()
    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    doc_ids: dict[str, str] = {}
    with open(args.out / "questions.jsonl", "w", encoding="utf-8") as out:
        for n, ex in enumerate(e for e in load_squad(args.data) if held_out(e.title, args.val_share) and e.answers):
            doc_id = doc_ids.get(ex.context)
            if doc_id is None:
                doc_id = doc_ids[ex.context] = "ho_" + hashlib.sha1(ex.context.encode()).hexdigest()[:12]
                (corpus / f"{doc_id}.txt").write_text(f"{ex.title.replace('_', ' ')}\n\n{ex.context}\n", encoding="utf-8")
            answers = list(dict.fromkeys(text for _, text in ex.answers))
            out.write(json.dumps({"id": f"ho{n}", "question": ex.question, "answers": answers,
                                  "gold_doc_ids": [doc_id]}) + "\n")
    print(f"{args.out}: {len(doc_ids)} paragraphs, {n + 1} questions")


if __name__ == "__main__":
    main()
