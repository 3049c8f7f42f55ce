"""Past one `rag chat` process (README "Scaling out"): several servers read one published index.

Two `rag chat` processes on loopback serve the same index folder while a third process runs
`rag index` and publishes a new generation. Clients keep asking both servers throughout: every
answer is right (the seed's fact), none is an error, the generation each server answers from
only goes up, and once the publish has committed both answer from the new generation, citing
the document it added.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from processes import stop_group, wait_for_line

from conftest import RAG, ROOT
from rag.config import Config
from rag.indexer import index_seeds
from ui.screenshot import free_port

STARTUP_SECONDS = 240  # two servers loading gradio, torch and the models on a shared 2-core machine
SEED_QUESTION, SEED_ANSWER = "Who succeeded Stoltenberg?", "Rutte"
NEW_QUESTION = "Who keeps the lighthouse on Varnholm island?"
NEW_DOCUMENT = ("Varnholm lighthouse\n\nThe lighthouse on Varnholm island has been kept since 2011 by Ingrid Maelstrom, "
                "who lights the lamp each evening and logs every passing ship.\n")


def start_server(config: Config, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [RAG, "chat", "--port", str(port), "--index-dir", str(config.index_dir), "--seeds", str(config.seeds_dir)],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )


@pytest.fixture
def two_servers(tmp_path, seeds_copy, encoder):
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    assert index_seeds(config).generation == 1
    ports = [free_port(), free_port()]
    procs = [start_server(config, port) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}/" for port in ports]
        deadline = time.monotonic() + STARTUP_SECONDS
        for proc, url in zip(procs, urls):
            wait_for_line(proc, f"seed-rag chat: {url}", deadline, drain=True)
        yield config, urls
    finally:
        for proc in procs:
            stop_group(proc)


def test_two_servers_keep_answering_from_one_index_while_a_third_process_publishes(two_servers):
    from gradio_client import Client

    config, urls = two_servers
    clients = [Client(url, verbose=False) for url in urls]
    answers: dict[int, list[tuple[int, str]]] = {0: [], 1: []}  # server -> (generation, answer) in order
    errors: list[str] = []
    done = threading.Event()

    def keep_asking(n: int) -> None:
        while not done.is_set():
            try:
                reply = json.loads(clients[n].predict(SEED_QUESTION, 3, "rescored", api_name="/ask"))
            except Exception as exc:  # any failure of a server under a concurrent publish is the bug
                errors.append(f"server {n}: {type(exc).__name__}: {exc}")
                return
            answers[n].append((reply["generation"], reply["answer"]))

    askers = [threading.Thread(target=keep_asking, args=(n,)) for n in (0, 1)]
    for asker in askers:
        asker.start()
    try:
        while min(len(a) for a in answers.values()) < 2 and not errors:  # both are answering from generation 1
            time.sleep(0.2)
        (config.seeds_dir / "varnholm.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
        before = [len(a) for a in answers.values()]
        indexed = subprocess.run([RAG, "index", "--index-dir", str(config.index_dir), "--seeds", str(config.seeds_dir)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert indexed.returncode == 0, indexed.stderr
        assert "generation 2" in indexed.stdout
        counts = [len(a) for a in answers.values()]
        assert all(c > b for c, b in zip(counts, before)), (before, counts)  # both answered while it indexed
        while any(len(a) < c + 2 for a, c in zip(answers.values(), counts)) and not errors:  # a few more each
            time.sleep(0.2)
    finally:
        done.set()
        for asker in askers:
            asker.join(timeout=60)
    assert errors == []
    for n, seen in answers.items():
        generations = [g for g, _ in seen]
        assert generations == sorted(generations), (n, generations)  # never back to an older generation
        assert generations[0] == 1 and generations[-1] == 2, (n, generations)
        assert all(SEED_ANSWER in answer for _, answer in seen), (n, seen)
    for client in clients:  # both now answer from the new generation, with the new document
        reply = json.loads(client.predict(NEW_QUESTION, 3, "rescored", api_name="/ask"))
        assert reply["generation"] == 2
        assert "Ingrid Maelstrom" in reply["answer"]
        assert reply["citations"][0]["doc_id"] == "varnholm"
