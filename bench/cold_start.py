"""Scenario 3: wall time of `rag ask` in a new process, and which imports it pays for.

Runs the installed console script on an index of seeds/ several times, alternating with
`rag --help` (the floor: Python, click and our CLI module), then once under
`python -X importtime` to list the slowest top-level imports of the same command.

    .venv/bin/python -m bench.cold_start --index /tmp/seed-index --out /tmp/c.json
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Stats, write_json

QUESTION = "Who succeeded Stoltenberg?"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed: {done.stderr[-500:]}")
    return time.perf_counter() - started


def slowest_imports(cmd: list[str], top: int = 12) -> list[dict]:
    """Top-level packages by cumulative import time (ms) from `python -X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True, env=_env())
    totals: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and len(match.group(3)) <= 1:  # nesting depth 0: imported by our code directly
            package = match.group(4).split(".")[0]
            totals[package] = max(totals.get(package, 0), int(match.group(2)))
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": name, "cumulative_ms": round(us / 1000, 1)} for name, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    rag = str(Path(sys.executable).with_name("rag"))
    ask = [rag, "ask", QUESTION, "--index-dir", str(args.index)]
    floor = [rag, "--help"]
    wall(ask)  # first run warms the OS page cache; we measure a cold process, not a cold disk
    asks, helps = [], []
    for n in range(args.repeats):
        for cmd, into in ((ask, asks), (floor, helps)) if n % 2 == 0 else ((floor, helps), (ask, asks)):
            into.append(wall(cmd))
    module_ask = ["-m", "rag.cli", "ask", QUESTION, "--index-dir", str(args.index)]
    write_json(args.out, {
        "ask_s": Stats.of(asks).to_dict(2), "help_s": Stats.of(helps).to_dict(2),
        "slowest_imports": slowest_imports(module_ask),
    })


if __name__ == "__main__":
    main()
