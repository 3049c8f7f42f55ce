"""Scenario 1: the `rag index` embedding path against the raw encoder on the same real passages.

The first SciFact abstracts, enough to make >= --passages passages, are split as `rag index`
splits them (title + passage, rag.indexer.embed_text). They are cut into the chunks the indexer
encodes at a time (rag.indexer: 8 batches), and each chunk is encoded twice, alternately first:
by embeddings.Encoder.encode (our path: length-sorted batches, normalised float32) and by a bare
SentenceTransformer.encode call on the same model object (batch 64, normalised). Per-chunk
throughputs give medians and p95; torch threads are pinned. The passage and claim vectors are
saved for bench/ann_recall.py (approximate-index recall on real vectors).

    .venv/bin/python -m bench.encode_throughput --passages 5000 --out /tmp/e.json
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from bench.common import CACHE, Stats, pin_threads, scifact_documents, scifact_questions, write_json

SEEDS = CACHE / "scifact-seeds"


def write_seeds(passages: int, max_words: int) -> int:
    """Write the first SciFact documents holding >= `passages` passages; returns the document count."""
    from rag.passages import split_passages

    marker = SEEDS / f".complete-{passages}-{max_words}"
    if marker.exists():
        return len(list(SEEDS.glob("*.txt")))
    shutil.rmtree(SEEDS, ignore_errors=True)
    SEEDS.mkdir(parents=True)
    total = docs = 0
    for doc_id, text in scifact_documents():
        if total >= passages:
            break
        (SEEDS / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        total += len(split_passages(doc_id, text, max_words))
        docs += 1
    marker.touch()
    return docs


def embed_texts(config) -> list[str]:
    """What the indexer gives the encoder for these seeds (title + passage, rag.indexer.embed_text)."""
    from rag.documents import load_documents
    from rag.indexer import embed_text
    from rag.passages import split_passages

    loaded = load_documents(config.seeds_dir, config.extensions, config.max_file_bytes)
    texts = {}
    for doc in loaded.documents:
        for p in split_passages(doc.doc_id, doc.text, config.max_passage_words):
            texts.setdefault(embed_text(doc.title, p.text), None)  # the indexer encodes each text once
    return list(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=5000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from rag import models
    from rag.config import DEFAULT_MODEL, Config
    from rag.indexer import encode_chunk

    config = Config(seeds_dir=SEEDS)
    pin_threads(config.torch_threads)
    docs = write_seeds(args.passages, config.max_passage_words)
    texts = embed_texts(config)
    encoder = models.encoder(DEFAULT_MODEL, config.torch_threads, config.encode_batch_size)
    encoder.encode(["warm up"] * 8)
    from sentence_transformers import SentenceTransformer

    raw = SentenceTransformer(str(encoder.model_dir), device="cpu", local_files_only=True)
    raw.encode(["warm up"] * 8)
    chunk = encode_chunk(config.encode_batch_size)  # the indexer's commit size

    seconds = {"ours": [], "raw": []}
    vectors = []
    for n, start in enumerate(range(0, len(texts), chunk)):
        part = texts[start : start + chunk]
        for name in (("ours", "raw") if n % 2 == 0 else ("raw", "ours")):
            t = time.perf_counter()
            if name == "ours":
                vectors.append(encoder.encode(part))
            else:
                raw.encode(part, batch_size=config.encode_batch_size, convert_to_numpy=True,
                           normalize_embeddings=True, show_progress_bar=False)
            seconds[name].append((len(part), time.perf_counter() - t))
        print(f"  encoded {start + len(part):,}/{len(texts):,} passages twice", flush=True)

    np.save(CACHE / "scifact-passages.npy", np.concatenate(vectors), allow_pickle=False)
    np.save(CACHE / "scifact-claims.npy", encoder.encode(scifact_questions()), allow_pickle=False)

    def rates(name: str) -> dict:
        total = sum(n for n, _ in seconds[name]) / sum(s for _, s in seconds[name])
        return {"overall": round(total, 1), **Stats.of([n / s for n, s in seconds[name]]).to_dict(1)}

    ours, raw = rates("ours"), rates("raw")
    write_json(args.out, {
        "documents": docs, "passages": len(texts), "chunk": chunk, "chunks": len(seconds["ours"]),
        "torch_threads": config.torch_threads, "batch_size": config.encode_batch_size,
        "ours_passages_per_s": ours, "raw_passages_per_s": raw,
        "ratio": round(ours["overall"] / raw["overall"], 3),
        "chunk_ratio": Stats.of([r[1] / o[1] for o, r in zip(seconds["ours"], seconds["raw"])]).to_dict(),
    })


if __name__ == "__main__":
    main()
