"""Scenarios 2 and 4: query latency by stage and memory, on one bulk store, in a fresh process.

Runs the real query path (rag.qa.QA: query embedding, FAISS, FTS5, fusion, answer) over SciFact
claims against a synthetic store of --passages passages (bench/synthetic.py), or over the seed
questions against an index of seeds/ (--seed-index), and reports medians and p95 per stage
plus the process's peak RSS. One store per process, so peak RSS belongs to that size alone.

    .venv/bin/python -m bench.query_latency --passages 100000 --out /tmp/q.json
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import (
    SEED_QUESTIONS,
    Stats,
    current_rss_mb,
    peak_rss_mb,
    pin_threads,
    read_questions,
    scifact_questions,
    write_json,
)
from rag.report import RETRIEVAL_STAGES, STAGE_ORDER

# The default pipeline's stages, as `rag eval` reports them (the opt-in "reranked" mode's own
# stage is measured by `rag eval --compare`); a stage a mode skips counts 0 ms.
STAGES = tuple(s for s in STAGE_ORDER if s != "rerank")
RETRIEVAL = tuple(s for s in RETRIEVAL_STAGES if s != "rerank")


def measure(config, questions: list[str], warmup: int = 5) -> dict:
    """Ask every question once after `warmup` questions; stage timings come from Answer.timings."""
    from rag.qa import QA

    rss_start = current_rss_mb()
    started = time.perf_counter()
    qa = QA(config)
    try:
        for question in questions[:warmup]:  # loads the model, the FAISS file and spaCy
            qa.ask(question)
        first_s = time.perf_counter() - started
        rss_loaded = current_rss_mb()
        per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
        retrieval, total = [], []
        for question in questions:
            t = time.perf_counter()
            answer = qa.ask(question)
            total.append((time.perf_counter() - t) * 1000)
            for stage in STAGES:
                per_stage[stage].append(answer.timings.get(stage, 0.0))
            retrieval.append(sum(answer.timings.get(s, 0.0) for s in RETRIEVAL))
    finally:
        qa.close()
    return {
        "queries": len(questions),
        "stages_ms": {s: Stats.of(v).to_dict() for s, v in per_stage.items()},
        "retrieval_ms": Stats.of(retrieval).to_dict(),
        "ask_ms": Stats.of(total).to_dict(),
        "open_and_warmup_s": round(first_s, 2),
        "rss_start_mb": round(rss_start, 1),
        "rss_loaded_mb": round(rss_loaded, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def on_disk(folder: Path) -> dict:
    faiss_files = list(folder.glob("faiss-g*.index"))
    store = sum(p.stat().st_size for p in folder.glob("store.sqlite*"))
    return {"store_bytes": store, "faiss_bytes": sum(p.stat().st_size for p in faiss_files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, help="size of the synthetic store (bench/synthetic.py)")
    parser.add_argument("--seed-index", type=Path, help="an index of seeds/ instead, asked the seed questions")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from rag.config import Config

    threads = Config().torch_threads
    pin_threads(threads)
    from bench.synthetic import store_dir
    from embeddings import ann
    from embeddings import index as faiss_index
    from rag.store import Store

    if args.seed_index:
        config = Config(index_dir=args.seed_index)
        seed = read_questions(SEED_QUESTIONS)
        questions = (seed * (args.queries // len(seed) + 1))[: args.queries]
    else:
        config = Config(index_dir=store_dir(args.passages))
        questions = scifact_questions()[: args.queries]
    result = measure(config, questions)
    with Store.open(config.store_path) as store:
        info = store.faiss_info()
    index = faiss_index.load_verified(config.index_dir, info)
    ann.set_nprobe(index, config.ann_nprobe)  # as the retriever did for the timed queries
    result["index"] = ann.describe(index)
    result.update(passages=info.count, torch_threads=threads, **on_disk(config.index_dir))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
