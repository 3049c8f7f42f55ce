"""`make bench-load`: many users asking at once while documents are uploaded and re-indexed.

Starts `rag chat` on loopback over the seeds plus SciFact abstracts as documents, then, for
each level of concurrent clients (8, 16, 32), runs that many `/ask` API clients for
`--duration` seconds. A third of the way in, the page's upload event adds a new document and
then "Re-index seeds" indexes another one dropped into the seeds folder, as users would.
Reported per level: questions answered, errors (must be 0), throughput, latency p50 / p95 /
max (the longest stall any question saw), and p95 of the questions asked while the upload or
re-index ran.

`--baseline REF` first runs the same load against REF's ui/backend.py and ui/app.py (the rest
of the code as it is here), so "before and after" differ only in how the chat server schedules
work; both runs go to bench/results/load.json and load.md.

    .venv/bin/python -m bench.load --baseline 0ab9b1e          # ~8 min with the defaults
    .venv/bin/python -m bench.load --duration 10 --levels 8    # a quick look
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import CACHE, RESULTS, ROOT, SCIFACT_PACKED, SEED_QUESTIONS, Stats, machine, read_questions, write_json

LEVELS = (8, 16, 32)
SCIFACT_DOCS = 300  # abstracts added to the seeds as documents (~600 passages)
UPLOAD_PARAGRAPHS = 150  # the document uploaded during each level
SCIFACT_QUESTIONS_USED = 60
READY_TIMEOUT = 300
ASK_TIMEOUT = 120


# -- the corpus and the index, built once ---------------------------------------------------------
def abstracts() -> list[tuple[str, str]]:
    with gzip.open(SCIFACT_PACKED, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return sorted((r["doc_id"], r["text"]) for r in rows)


def base_corpus(log) -> tuple[Path, Path]:
    """bench/.cache/load/{seeds,index}: the seeds + SCIFACT_DOCS abstracts, indexed once."""
    root = CACHE / "load"
    seeds, index = root / "seeds", root / "index"
    if not (index / "store.sqlite").exists():
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(ROOT / "seeds", seeds)
        for doc_id, text in abstracts()[:SCIFACT_DOCS]:
            (seeds / f"scifact-{doc_id}.txt").write_text(text.replace("\n", "\n\n", 1), encoding="utf-8")
        log(f"indexing {len(list(seeds.iterdir()))} documents into {index} (once; cached)")
        run_rag(ROOT, ["index", "--seeds", str(seeds), "--index-dir", str(index)])
    return seeds, index


def new_document(title: str, slot: int) -> bytes:
    """A document of UPLOAD_PARAGRAPHS abstracts no other slot uses and the index lacks, one paragraph each."""
    rows = abstracts()[SCIFACT_DOCS + slot * UPLOAD_PARAGRAPHS:][:UPLOAD_PARAGRAPHS]
    paragraphs = [title] + [" ".join(text.split("\n")[1:])[:900] for _, text in rows]
    return "\n\n".join(paragraphs).encode()


def questions() -> list[str]:
    scifact = read_questions((ROOT / "eval" / "scifact" / "questions.jsonl",))[:SCIFACT_QUESTIONS_USED]
    return read_questions(SEED_QUESTIONS) + scifact


def run_rag(code: Path, args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=code, env=_env(code), check=True,
                   stdout=subprocess.DEVNULL)


def _env(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def baseline_code(ref: str, into: Path) -> Path:
    """This tree's packages with ui/backend.py and ui/app.py as they were at `ref`."""
    for package in ("rag", "embeddings", "ui"):
        shutil.copytree(ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__"))
    (into / "models").symlink_to(ROOT / "models")
    for path in ("ui/backend.py", "ui/app.py"):
        old = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True)
        (into / path).write_text(old.stdout, encoding="utf-8")
    return into


# -- the server -----------------------------------------------------------------------------------
class Server:
    """`rag chat` in a child process, over a private copy of the base corpus."""

    def __init__(self, code: Path, seeds: Path, index: Path, port: int, workers: int | None) -> None:
        args = ["chat", "--seeds", str(seeds), "--index-dir", str(index), "--port", str(port)]
        if workers is not None:
            args += ["--workers", str(workers)]
        self.url = f"http://127.0.0.1:{port}/"
        self.log = open(index.parent / "server.log", "w")
        self.process = subprocess.Popen([sys.executable, "-m", "rag.cli", *args], cwd=code, env=_env(code),
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + READY_TIMEOUT
        for line in self.process.stdout:  # "seed-rag chat: URL" once the models are warm
            if line.startswith("seed-rag chat:"):
                break
            if time.monotonic() > deadline:
                break
        else:
            raise SystemExit(f"bench: rag chat did not start; see {self.log.name}")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=ASK_TIMEOUT) as response:
        return json.loads(response.read())


def _events(url: str):
    """(event, data) pairs of a server-sent event stream."""
    with urllib.request.urlopen(url, timeout=ASK_TIMEOUT) as response:
        event = None
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                yield event, line[5:].strip()


def ask(url: str, question: str) -> None:
    """One question through the public /ask API (what gradio_client does, in two requests)."""
    event_id = _post(url + "gradio_api/call/ask", {"data": [question, 5, "rescored"]})["event_id"]
    for event, data in _events(f"{url}gradio_api/call/ask/{event_id}"):
        if event == "complete":
            if "citations" not in json.loads(json.loads(data)[0]):  # the `rag ask --json` text
                raise RuntimeError(f"unexpected answer {data[:200]}")
            return
        if event == "error":
            raise RuntimeError(f"error event: {data[:200]}")
    raise RuntimeError("the answer stream ended without a result")


class Page:
    """The page's own private events (upload, re-index), called the way its JavaScript calls them."""

    def __init__(self, url: str) -> None:
        self.url = url
        with urllib.request.urlopen(url + "config", timeout=30) as response:
            config = json.loads(response.read())
        by_elem = {c.get("props", {}).get("elem_id"): c["id"] for c in config["components"]}
        self.fn = {}
        for dep in config["dependencies"]:
            for target, trigger in dep["targets"]:
                if (target, trigger) == (by_elem["upload"], "upload"):
                    self.fn["upload"] = (dep["id"], target)
                elif (target, trigger) == (by_elem["reindex"], "click"):
                    self.fn["reindex"] = (dep["id"], target)

    def _run(self, name: str, data: list) -> str:
        fn_index, trigger = self.fn[name]
        session = uuid.uuid4().hex
        _post(self.url + "gradio_api/queue/join",
              {"data": data, "fn_index": fn_index, "trigger_id": trigger, "session_hash": session, "event_data": None})
        for _, raw in _events(f"{self.url}gradio_api/queue/data?session_hash={session}"):
            message = json.loads(raw)
            if message.get("msg") == "process_completed":
                if not message.get("success"):
                    raise RuntimeError(f"{name} failed: {raw[:300]}")
                return json.dumps(message["output"]["data"][0])
        raise RuntimeError(f"{name}: the event stream ended without a result")

    def upload(self, name: str, data: bytes) -> str:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                f"Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.url + "gradio_api/upload", body,
                                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            [path] = json.loads(response.read())
        file_data = {"path": path, "orig_name": name, "size": len(data), "mime_type": "text/plain",
                     "meta": {"_type": "gradio.FileData"}}
        return self._run("upload", [[file_data]])

    def reindex(self) -> str:
        return self._run("reindex", [])


# -- one level ------------------------------------------------------------------------------------
@dataclass
class Record:
    started: float
    seconds: float


@dataclass
class Level:
    clients: int
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    indexing: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of the upload and re-index

    def summary(self, duration: float) -> dict:
        seconds = [r.seconds for r in self.records]
        during = [r.seconds for r in self.records
                  if any(r.started < end and r.started + r.seconds > start for start, end in self.indexing)]
        stats, busy = Stats.of(seconds or [0.0]), Stats.of(during or [0.0])
        return {
            "clients": self.clients, "answered": len(seconds), "errors": len(self.errors),
            "error_examples": self.errors[:3], "questions_per_s": round(len(seconds) / duration, 2),
            "p50_s": round(stats.median, 3), "p95_s": round(stats.p95, 3), "max_s": round(max(seconds, default=0), 3),
            "during_indexing": {"answered": len(during), "p95_s": round(busy.p95, 3),
                                "max_s": round(max(during, default=0), 3)},
            "indexing_s": [round(end - start, 2) for start, end in self.indexing],
        }


def run_level(url: str, clients: int, duration: float, asked: list[str], seeds: Path, page: Page, slot: int,
              log) -> dict:
    level = Level(clients)
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def client(n: int) -> None:
        i = n
        while time.monotonic() < stop_at:
            question = asked[i % len(asked)]
            i += clients
            start = time.monotonic()
            try:
                ask(url, question)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    level.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                level.records.append(Record(start, time.monotonic() - start))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(duration / 3)
    start = time.monotonic()
    page.upload(f"load-{clients}.txt", new_document(f"Load test upload {clients}", 2 * slot))
    level.indexing.append((start, time.monotonic()))
    # A document dropped into the seeds folder, then "Re-index seeds" pressed.
    (seeds / f"dropped-{clients}.txt").write_bytes(new_document(f"Load test file {clients}", 2 * slot + 1))
    start = time.monotonic()
    page.reindex()
    level.indexing.append((start, time.monotonic()))
    for thread in threads:
        thread.join(timeout=duration + ASK_TIMEOUT)
    summary = level.summary(duration)
    log(f"  {clients:>3} clients: {summary['answered']} answered, {summary['errors']} errors, "
        f"{summary['questions_per_s']} q/s, p50 {summary['p50_s']} s, p95 {summary['p95_s']} s, "
        f"max {summary['max_s']} s; during indexing p95 {summary['during_indexing']['p95_s']} s, "
        f"max {summary['during_indexing']['max_s']} s (upload, re-index: {summary['indexing_s']} s)")
    return summary


def run(label: str, code: Path, levels: list[int], duration: float, port: int, workers: int | None, log) -> dict:
    base_seeds, base_index = base_corpus(log)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        seeds, index = Path(tmp) / "seeds", Path(tmp) / "index"
        shutil.copytree(base_seeds, seeds)
        shutil.copytree(base_index, index)
        log(f"{label}: rag chat from {code} on port {port}")
        server = Server(code, seeds, index, port, workers)
        try:
            page = Page(server.url)
            asked = questions()
            results = [run_level(server.url, n, duration, asked, seeds, page, slot, log) for slot, n in enumerate(levels)]
        finally:
            server.stop()
    return {"label": label, "workers": workers, "levels": results}


# -- the report -----------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"`rag chat` under load: {report['duration_s']:.0f} s per level; a third of the way in, an upload of "
        f"{UPLOAD_PARAGRAPHS} paragraphs, then a re-index that finds a new {UPLOAD_PARAGRAPHS}-paragraph file; "
        f"{report['documents']} documents at the start. "
        f"Machine: {m['cpu']}, {m['cores']} cores, no GPU; load average {m['load_average_at_start']} at start"
        + (f" ({report['note']})" if report.get("note") else "") + ".",
        "",
        "| server | clients | answered | errors | questions/s | p50 s | p95 s | longest stall s "
        "| p95 s while indexing | upload, re-index s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run_ in report["runs"]:
        for r in run_["levels"]:
            lines.append(
                f"| {run_['label']} | {r['clients']} | {r['answered']} | {r['errors']} | {r['questions_per_s']} "
                f"| {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['during_indexing']['p95_s']} "
                f"| {', '.join(map(str, r['indexing_s']))} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrent clients per level")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per level (default 60)")
    parser.add_argument("--workers", type=int, default=None, help="rag chat --workers (default: its own)")
    parser.add_argument("--baseline", metavar="REF", help="also run REF's ui/backend.py and ui/app.py, first")
    parser.add_argument("--port", type=int, default=7891)
    parser.add_argument("--note", default="", help="a line for the report, e.g. what else was running")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",")]
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-load-code-") as tmp:
        if args.baseline:
            old = baseline_code(args.baseline, Path(tmp))
            runs.append(run(f"before ({args.baseline}: one lock)", old, levels, args.duration, args.port, None, log))
        runs.append(run("after (worker pool)", ROOT, levels, args.duration, args.port + 1, args.workers, log))
    report = {"machine": machine(), "duration_s": args.duration, "note": args.note,
              "documents": len(list((CACHE / "load" / "seeds").iterdir())), "runs": runs}
    write_json(args.out, report)
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    if any(r["errors"] for run_ in runs for r in run_["levels"]):
        raise SystemExit("bench-load: some questions failed (see error_examples in the JSON)")


if __name__ == "__main__":
    main()
