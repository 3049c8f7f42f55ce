"""`make bench-ray`: passages/s of the encode phase in process vs `rag index --ray` with 1 and 2 workers.

One corpus (xquad_en's passages + the first --scifact-docs SciFact abstracts), one run, each
variant in a fresh process on a fresh index (so each pays its own start-up: torch import and
model load in process; a local Ray start, actor start-up and model load per actor on Ray):

    .venv/bin/python -m bench.bench_ray                 # ~858 passages, ~4 min on 2 busy cores
    .venv/bin/python -m bench.bench_ray --scifact-docs 50 --no-faults --out /tmp/ray.json

Per variant: the encode phase's seconds (rag/indexer.py timings["encode"]), passages/s, the
seconds to the first vector (start-up), and passages/s after it (steady state). "Ray overhead
at equal cores" compares Ray with 1 worker to the in-process encoder (1 torch thread each).
Then the fault checks (tests/test_ray.py: a worker killed mid-job, the driver killed mid-job,
an address that does not answer) run and their outcome is recorded. Writes bench/results/ray.json
and ray.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, ROOT, machine, scifact_documents, write_json

VARIANTS = {"in-process": None, "ray-1-worker": 1, "ray-2-workers": 2}
FAULT_TESTS = {
    "worker_killed_mid_job": "test_an_encoder_actor_killed_mid_job_loses_no_vector_and_makes_none_twice",
    "driver_killed_mid_job": "test_a_driver_killed_mid_job_keeps_the_previous_generation_and_its_committed_vectors",
    "dead_address": "test_an_address_where_no_cluster_answers_is_a_one_line_error_in_bounded_time",
}


def write_seeds(folder: Path, scifact_docs: int) -> None:
    from rag.corpus import unpack

    unpack(ROOT / "eval" / "xquad_en" / "corpus.jsonl.gz", folder)
    for n, (doc_id, text) in enumerate(scifact_documents()):
        if n >= scifact_docs:
            break
        (folder / f"scifact-{doc_id}.txt").write_text(text, encoding="utf-8")


def one(seeds: Path, index_dir: Path, workers: int | None) -> dict:
    """Index `seeds` into a fresh `index_dir` in this process, encoding in process or on a local Ray."""
    from rag.config import Config
    from rag.indexer import index_seeds

    config = Config(seeds_dir=seeds, index_dir=index_dir)
    ticks: list[float] = []

    def progress(total: int):
        return lambda n: ticks.append(time.perf_counter())

    out: dict = {"workers": workers}
    if workers is None:
        started = time.perf_counter()
        report = index_seeds(config, progress=progress)
    else:
        from rag.ray_encode import RayEncoding

        on_ray = RayEncoding(None, workers)
        mark = time.perf_counter()
        on_ray.connect()  # a local Ray on this machine's cores: a fixed cost, reported on its own
        out["ray_start_s"] = round(time.perf_counter() - mark, 2)
        started = time.perf_counter()
        report = index_seeds(config, progress=progress, encode=on_ray)
        on_ray.close()
    encode_s = report.timings["encode"]
    encode_started = started + report.timings["load"]
    first = ticks[0] - encode_started if ticks else None
    out.update(
        passages=report.encoded,
        encode_s=round(encode_s, 2),
        passages_per_s=round(report.encoded / encode_s, 2),
        first_vector_s=round(first, 2) if first is not None else None,
        steady_passages_per_s=round(report.encoded / (encode_s - first), 2) if first is not None else None,
        index_s=round(report.seconds, 2),
    )
    return out


def run_faults() -> dict:
    """The fault tests of tests/test_ray.py, in one pytest run (its module fixtures start Ray once)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           *(f"tests/test_ray.py::{test}" for test in FAULT_TESTS.values())],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    results = {}
    for name, test in FAULT_TESTS.items():
        passed = f"PASSED tests/test_ray.py::{test}" in done.stdout
        results[name] = {"passed": passed, "test": f"tests/test_ray.py::{test}", "seconds_all_checks": seconds}
        print(f"fault check {name}: {'passed' if passed else 'FAILED'}", flush=True)
    if done.returncode:
        print(done.stdout[-3000:], file=sys.stderr)
    return results


def markdown(results: dict) -> str:
    rows = ["| variant | passages | encode s | passages/s | first vector s | steady passages/s |",
            "|---|---|---|---|---|---|"]
    for name, r in results["variants"].items():
        rows.append(f"| {name} | {r['passages']} | {r['encode_s']} | {r['passages_per_s']} | {r['first_vector_s']} "
                    f"| {r['steady_passages_per_s']} |")
    lines = [f"# bench-ray ({time.strftime('%Y-%m-%d', time.gmtime(results['finished']))})", "",
             f"Corpus: {results['corpus']}. Machine: {results['machine']['cores']} cores, load average at start "
             f"{results['machine']['load_average_at_start']}. Command: `{results['command']}`.", "", *rows, ""]
    lines += [f"- Ray overhead at equal cores (1 worker vs in process, encode seconds): {results['ray_overhead_1_worker']:+.0%}",
              f"- Speed-up of 2 workers over in process: {results['speedup_2_workers']:.2f}x",
              f"- Local Ray start (ray.init, once per run): {results['variants']['ray-1-worker'].get('ray_start_s')} s"]
    for name, fault in results.get("faults", {}).items():
        lines.append(f"- fault check {name}: {'passed' if fault['passed'] else 'FAILED'} (`{fault['test']}`)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scifact-docs", type=int, default=300)
    parser.add_argument("--no-faults", action="store_true", help="skip the fault checks")
    parser.add_argument("--out", type=Path, default=RESULTS / "ray.json")
    parser.add_argument("--one", nargs=3, metavar=("SEEDS", "INDEX_DIR", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.one:  # a child: one variant, its result as JSON on stdout's last line
        seeds, index_dir, workers = args.one
        print(json.dumps(one(Path(seeds), Path(index_dir), None if workers == "0" else int(workers))))
        return
    results: dict = {"machine": machine(), "command": " ".join(["python -m bench.bench_ray", *sys.argv[1:]])}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        seeds = Path(tmp) / "seeds"
        write_seeds(seeds, args.scifact_docs)
        results["corpus"] = f"xquad_en + the first {args.scifact_docs} SciFact abstracts ({len(list(seeds.iterdir()))} files)"
        results["variants"] = {}
        for name, workers in VARIANTS.items():
            done = subprocess.run([sys.executable, "-m", "bench.bench_ray", "--one", str(seeds), str(Path(tmp) / name),
                                   str(workers or 0)], cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"bench-ray: {name} failed:\n{done.stderr[-3000:]}")
            results["variants"][name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name}: {results['variants'][name]}", flush=True)
    variants = results["variants"]
    results["ray_overhead_1_worker"] = round(variants["ray-1-worker"]["encode_s"] / variants["in-process"]["encode_s"] - 1, 3)
    results["speedup_2_workers"] = round(variants["in-process"]["encode_s"] / variants["ray-2-workers"]["encode_s"], 3)
    if not args.no_faults:
        results["faults"] = run_faults()
    results["finished"] = time.time()
    write_json(args.out, results)
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    if not all(f["passed"] for f in results.get("faults", {}).values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
