"""What every benchmark shares: paths, thread pinning, statistics, memory, the real-text sources.

Benchmarks time the real code paths (rag.indexer, rag.qa, rag.retrieve); only the bulk corpora
are synthetic (bench/synthetic.py).
"""
from __future__ import annotations

import gzip
import json
import os
import platform
import resource
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"  # git-ignored: bulk corpora are built once and reused
RESULTS = ROOT / "bench" / "results"
SCIFACT_PACKED = ROOT / "eval" / "scifact" / "corpus.jsonl.gz"
SCIFACT_SHARED = ROOT.parent / "shared" / "eval" / "external" / "scifact"
SCIFACT_QUESTIONS = (ROOT / "eval" / "scifact" / "questions.jsonl", SCIFACT_SHARED / "questions.jsonl")
SEED_QUESTIONS = (ROOT / "eval" / "seed" / "questions.jsonl", ROOT.parent / "shared" / "eval" / "seed_questions.jsonl")


def pin_threads(threads: int) -> None:
    """Pin torch, FAISS (OpenMP) and BLAS to `threads`: on 2 shared cores extra threads stall."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def machine() -> dict:
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    p95: float

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return cls(len(ordered), statistics.median(ordered), p95)

    def to_dict(self, digits: int = 3) -> dict:
        return {"n": self.n, "median": round(self.median, digits), "p95": round(self.p95, digits)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def scifact_documents() -> Iterator[tuple[str, str]]:
    """(doc_id, text) of the SciFact corpus (first line of text is the title), in id order."""
    if SCIFACT_PACKED.exists():
        with gzip.open(SCIFACT_PACKED, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        yield from sorted((r["doc_id"], r["text"]) for r in rows)
        return
    folder = SCIFACT_SHARED / "corpus"
    if not folder.is_dir():
        raise SystemExit(f"bench: the SciFact corpus is missing (looked for {SCIFACT_PACKED} and {folder})")
    for path in sorted(folder.glob("*.txt")):
        yield path.stem, path.read_text(encoding="utf-8")


def read_questions(candidates: tuple[Path, ...]) -> list[str]:
    """The questions of the first JSON Lines file that exists among `candidates`."""
    for path in candidates:
        if path.exists():
            return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    raise SystemExit(f"bench: question file missing (looked for {', '.join(map(str, candidates))})")


def scifact_questions() -> list[str]:
    return read_questions(SCIFACT_QUESTIONS)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
