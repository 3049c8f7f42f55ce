"""Approximate vs exact dense search: recall@10 and latency, interleaved query by query.

Loads a store's vectors and its published FAISS file (the approximate one past
Config.ann_threshold), builds the exact flat index beside it, and for each nprobe in the sweep
times the approximate search (k = Config.candidates); at the default nprobe, exact search is
timed too, alternately with it, query by query. Two corpora:

* synthetic (--passages N): the bulk store of bench/synthetic.py, queries near corpus vectors;
* SciFact (--scifact): real MiniLM passage vectors and real claim vectors saved by
  bench/encode_throughput.py, with the approximate index forced on (threshold 0).

    .venv/bin/python -m bench.ann_recall --passages 1000000 --out /tmp/r.json
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import CACHE, Stats, pin_threads, write_json

SWEEP = (16, 32, 64, 128, 256)


def compare(approx, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int, sweep=SWEEP) -> dict:
    """recall@10 of `approx` against exact search, and both latencies, for each nprobe."""
    import faiss

    from embeddings import ann

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth = ids[exact.search(queries, 10)[1]]
    ivf = faiss.extract_index_ivf(approx)
    default = ivf.nprobe
    rows = []
    for nprobe in sorted({*sweep, default}):
        if nprobe > ivf.nlist:
            continue
        ivf.nprobe = nprobe
        exact_ms, approx_ms, found = [], [], []
        timed = (exact, approx) if nprobe == default else (approx,)  # exact search is slow: time it once
        for n, query in enumerate(queries):
            q = query.reshape(1, -1)
            # Alternate which goes first, so neither always runs with warm caches.
            for which in (timed if n % 2 else timed[::-1]):
                t = time.perf_counter()
                _, got = which.search(q, k)
                (exact_ms if which is exact else approx_ms).append((time.perf_counter() - t) * 1000)
                if which is approx:
                    found.append(got[0][:10])
        recall = [len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]
        same = [set(f.tolist()) == set(t.tolist()) for f, t in zip(found, truth)]
        rows.append({
            "nprobe": nprobe, "default": nprobe == default,
            "recall_at_10": round(float(np.mean(recall)), 4), "same_top10": round(float(np.mean(same)), 4),
            "approx_ms": Stats.of(approx_ms).to_dict(), "exact_ms": Stats.of(exact_ms).to_dict() if exact_ms else None,
        })
    ivf.nprobe = default
    return {"index": ann.describe(approx), "queries": len(queries), "k": k, "sweep": rows}


def synthetic(passages: int, queries: int) -> dict:
    from bench.synthetic import near_queries, store_dir
    from embeddings import ann
    from embeddings import index as faiss_index
    from rag.config import Config
    from rag.store import Store

    config = Config(index_dir=store_dir(passages))
    with Store.open(config.store_path) as store:
        model, dim = store.get_meta("model"), int(store.get_meta("dim"))
        ids, vectors = store.passage_vectors(model, dim)
        approx = faiss_index.load_verified(config.index_dir, store.faiss_info())
        ann.set_nprobe(approx, config.ann_nprobe)  # as rag.retrieve does
    result = compare(approx, vectors, ids, near_queries(vectors, queries), config.candidates)
    return {"corpus": f"synthetic {passages:,}", **result}


def scifact() -> dict:
    from embeddings import index as faiss_index
    from rag.config import Config

    config = Config()
    vectors = np.load(CACHE / "scifact-passages.npy", allow_pickle=False)
    queries = np.load(CACHE / "scifact-claims.npy", allow_pickle=False)
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    approx = faiss_index.build(ids, vectors, vectors.shape[1], ann_threshold=0, ann_nprobe=config.ann_nprobe)
    result = compare(approx, vectors, ids, queries, config.candidates)
    return {"corpus": f"SciFact {len(vectors):,} (real MiniLM vectors)", **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int)
    parser.add_argument("--scifact", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    pin_threads(1)
    write_json(args.out, scifact() if args.scifact else synthetic(args.passages, args.queries))


if __name__ == "__main__":
    main()
