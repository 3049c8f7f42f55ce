"""`make bench`: every scenario of issue 7 in one run, each in its own process; writes
bench/results/bench.{json,md,png} and the README "Performance" table.

    .venv/bin/python -m bench.run            # 10k, 100k and 1M passages (~20-30 min with the 1M cache)
    .venv/bin/python -m bench.run --quick    # 10k and 100k, 1,000 encoded passages: a few minutes

Bulk stores are built once into bench/.cache/ (the 1M one takes 5-22 minutes the first time, by machine: README "Performance").
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import CACHE, RESULTS, ROOT, machine, pin_threads, write_json

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)


def child(module: str, *args: object, label: str) -> dict:
    """Run `python -m bench.<module> ... --out F` in a fresh process and return its JSON."""
    out = CACHE / "runs" / f"{label}.json"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    print(f"- {label} ...", flush=True)
    done = subprocess.run([sys.executable, "-m", f"bench.{module}", *map(str, args), "--out", str(out)], cwd=ROOT)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"bench: {label} failed (exit {done.returncode})")
    print(f"  {label} done in {time.perf_counter() - started:.0f} s", flush=True)
    return json.loads(out.read_text())


def seed_index() -> Path:
    """An index of seeds/ built with the real model, reused while seeds/ is unchanged."""
    from rag.config import Config
    from rag.indexer import index_seeds

    config = Config(seeds_dir=ROOT / "seeds", index_dir=CACHE / "seed-index")
    index_seeds(config)  # incremental: encodes nothing when the seeds did not change
    return config.index_dir


def incremental(quick: bool) -> dict | None:
    """Scenario 5, from the re-embedding issue's own benchmark, if it is there."""
    script = ROOT / "bench" / "bench_incremental.py"
    if not script.exists():
        return None
    out = CACHE / "runs" / "incremental.json"
    print("- incremental add (bench/bench_incremental.py) ...", flush=True)
    args = [sys.executable, str(script), "--out", str(out)] + (["--passages", "20000"] if quick else [])
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        print(f"  incremental benchmark failed: {done.stderr[-400:]}", flush=True)
        return {"error": done.stderr[-400:]}
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k only, 1,000 encoded passages")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    from rag.config import Config

    config = Config()
    pin_threads(config.torch_threads)
    started = time.perf_counter()
    sizes = QUICK_SIZES if args.quick else SIZES
    results: dict = {
        "machine": machine(), "quick": args.quick,
        "config": {k: getattr(config, k) for k in ("torch_threads", "ann_threshold", "ann_nprobe", "candidates", "k")},
        "started": time.strftime("%Y-%m-%d %H:%M"),
    }
    results["encode"] = child("encode_throughput", "--passages", 1000 if args.quick else 5000, label="encode")
    results["sizes"] = {}
    for n in sizes:
        entry = {"build": child("synthetic", "--passages", n, label=f"build-{n}")}
        entry["query"] = child("query_latency", "--passages", n, label=f"query-{n}")
        if n > config.ann_threshold:
            entry["ann"] = child("ann_recall", "--passages", n, label=f"ann-{n}")
        results["sizes"][str(n)] = entry
    results["ann_scifact"] = child("ann_recall", "--scifact", label="ann-scifact")
    index = seed_index()
    results["seed"] = child("query_latency", "--seed-index", index, "--queries", 70, label="seed-answer")
    results["cold_start"] = child("cold_start", "--index", index, label="cold-start")
    results["incremental"] = incremental(args.quick)
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)

    from bench.report import plot, readme_section, write_markdown

    write_json(RESULTS / "bench.json", results)
    plot(results, RESULTS / "bench.png")
    write_markdown(results, RESULTS / "bench.md")
    if not args.no_readme:
        readme_section(results, ROOT / "README.md")
    print((RESULTS / "bench.md").read_text())


if __name__ == "__main__":
    main()
