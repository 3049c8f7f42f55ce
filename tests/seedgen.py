"""Deterministic synthetic seed folders for the indexing tests.

Many small documents; every passage is distinct, and every passage of document n carries the
word `marker(n)`, found in no other document, so a test can ask the lexical index for exactly
one document's passages.
"""
from __future__ import annotations

import random
from pathlib import Path

WORDS = (
    "river harbour engine copper lantern meadow signal archive orbit granite falcon ledger canyon "
    "velvet compass thunder quarry beacon saddle glacier tunnel pepper violin walnut cobalt fossil "
    "marble nectar oyster pilgrim quartz raven summit timber umbrella vessel willow anchor bridge "
    "cinder ember forge garnet hollow island jasper kettle lumber mirror needle orchard parcel "
    "ribbon silver tablet valley wagon basket candle feather garden helmet jacket ladder"
).split()


def marker(n: int) -> str:
    return f"mk{n:05d}zq"


def document(n: int, passages: int, version: int = 0) -> str:
    """Document n: a title line and passages-1 paragraphs of ~12 words (version varies the text)."""
    rng = random.Random(f"{n}-{version}")
    paragraphs = [f"Field report {n}"]
    for p in range(passages - 1):
        paragraphs.append(paragraph(n, p, rng))
    return "\n\n".join(paragraphs) + "\n"


def paragraph(n: int, p: int, rng: random.Random) -> str:
    return f"{marker(n)} note {p}: " + " ".join(rng.choice(WORDS) for _ in range(10)) + "."


def doc_name(n: int) -> str:
    return f"report{n:05d}.txt"


def write_corpus(folder: Path, docs: range, passages: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in docs:
        (folder / doc_name(n)).write_text(document(n, passages), encoding="utf-8")
