"""`rag index --ray`: the encode phase on a local Ray cluster (2 CPUs, shared by this module).

The vectors Ray makes are the in-process ones (xquad_en's corpus, max abs difference 1e-5) and
`rag ask` answers the same from both indexes. Faults: an encoder actor SIGKILLed mid-job (the
job finishes, every passage has exactly one vector, each the right one); the driver SIGKILLed
after its first committed chunk (the previous generation stands, the committed vectors are
kept and the next run encodes only the rest); an address where no Ray cluster answers (a
one-line error within a bounded time); Ray not installed (the error names the extra).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import EVAL, invoke_rag, run_rag
from rag.config import RERANK_MODEL, Config
from rag.corpus import unpack
from rag.indexer import encode_chunk, index_seeds
from rag.ray_encode import RayEncoding
from rag.status import check_index
from rag.store import Store
from seedgen import write_corpus

XQUAD = EVAL / "xquad_en"
XQUAD_PASSAGES = 292


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module: 2 CPUs, a small object store, quiet; yields its address."""
    import ray

    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024**2, log_to_driver=False,
             include_dashboard=False, logging_level=logging.ERROR)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def xquad(tmp_path_factory, encoder) -> Config:
    """xquad_en's corpus indexed in this process: the reference vectors and answers."""
    base = tmp_path_factory.mktemp("xquad")
    unpack(XQUAD / "corpus.jsonl.gz", base / "seeds")
    config = Config(seeds_dir=base / "seeds", index_dir=base / "in-process")
    assert index_seeds(config).encoded == XQUAD_PASSAGES
    return config


def model_vectors(config: Config, model: str = "model") -> dict[str, np.ndarray]:
    """embed hash -> vector of the index's model (or, with "rerank_model", its rerank model), as stored."""
    with Store.open(config.store_path, read_only=True) as store:
        fingerprint = store.get_meta(model)
        rows = store.conn.execute("SELECT embed_hash, vector FROM vectors WHERE model=?", (fingerprint,)).fetchall()
    return {h: np.frombuffer(blob, dtype=np.float32) for h, blob in rows}


def passage_hashes(config: Config) -> list[str]:
    with Store.open(config.store_path, read_only=True) as store:
        return [h for (h,) in store.conn.execute("SELECT embed_hash FROM passages")]


def generation(config: Config) -> int:
    with Store.open(config.store_path, read_only=True) as store:
        return store.generation


def max_difference(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> float:
    """Largest difference between `got` and the reference vectors of the same texts."""
    assert got and set(got) <= set(want)
    return max(float(np.abs(want[h] - v).max()) for h, v in got.items())


def test_ray_vectors_and_answers_equal_the_in_process_ones(cluster, xquad, tmp_path):
    ray_dir = tmp_path / "ray"
    ran = invoke_rag("index", "--ray", "--ray-workers", "2", "--seeds", str(xquad.seeds_dir), "--index-dir", str(ray_dir))
    assert ran.returncode == 0, ran.stderr
    assert f"{XQUAD_PASSAGES} passages, {XQUAD_PASSAGES} encoded, generation 1" in ran.stdout
    on_ray = xquad.replace(index_dir=ray_dir)
    got, want = model_vectors(on_ray), model_vectors(xquad)
    assert set(got) == set(want) and max_difference(got, want) <= 1e-5
    assert check_index(on_ray) == []
    questions = [json.loads(line)["question"] for line in (XQUAD / "questions.jsonl").read_text().splitlines()[:3]]
    for question in questions:
        answers = [invoke_rag("ask", question, "--json", "--index-dir", str(d)) for d in (xquad.index_dir, ray_dir)]
        assert all(a.returncode == 0 for a in answers), answers
        got, want = (json.loads(a.stdout) for a in answers)
        assert got["answer"] == want["answer"] and got["answer"]
        assert [(c["doc_id"], c["ordinal"]) for c in got["citations"]] == [(c["doc_id"], c["ordinal"]) for c in want["citations"]]


def test_the_rerank_model_goes_through_ray_too(cluster, tmp_path, encoder):
    """`--rerank-model` (and so `--model`: the same encode phase) is encoded by actors loading that model."""
    seeds = tmp_path / "seeds"
    write_corpus(seeds, range(3), 4)
    reference = Config(seeds_dir=seeds, index_dir=tmp_path / "in-process", rerank_model=RERANK_MODEL)
    index_seeds(reference)
    ray_dir = tmp_path / "ray"
    ran = invoke_rag("index", "--ray", "--rerank-model", RERANK_MODEL, "--seeds", str(seeds), "--index-dir", str(ray_dir))
    assert ran.returncode == 0, ran.stderr
    for model in ("model", "rerank_model"):
        got, want = (model_vectors(c, model) for c in (reference.replace(index_dir=ray_dir), reference))
        assert set(got) == set(want) and max_difference(got, want) <= 1e-5
    assert len(next(iter(model_vectors(reference, "rerank_model").values()))) == 768  # mpnet's, not MiniLM's


def encoder_actor_pids() -> list[int]:
    """Processes of Ray Data's encoder actors (their title is ray::MapWorker(MapBatches(_EmbedBatch)))."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"MapBatches(_EmbedBatch)" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_an_encoder_actor_killed_mid_job_loses_no_vector_and_makes_none_twice(cluster, xquad, tmp_path):
    # Half of xquad_en's documents in batches of 16: the first comes back while most of the job's
    # ~9 batches are still to do.
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for path in sorted(xquad.seeds_dir.iterdir())[::2]:
        shutil.copy(path, seeds)
    config = xquad.replace(seeds_dir=seeds, index_dir=tmp_path / "killed-worker", encode_batch_size=16)
    killed: list[int] = []
    received: list[int] = []
    earlier = set(encoder_actor_pids())  # an earlier job's actors may not have exited yet

    def progress(total: int):
        def tick(n: int) -> None:
            received.append(n)
            if not killed:
                pids = sorted(set(encoder_actor_pids()) - earlier)
                assert len(pids) == 2, pids  # this job's pool
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
        return tick

    with RayEncoding(workers=2) as on_ray:
        report = index_seeds(config, progress=progress, encode=on_ray)
    assert killed and not Path(f"/proc/{killed[0]}").exists()
    assert received[0] <= 16 and len(received) > 2  # the kill came with work left to do
    # Exactly one vector per distinct passage text: the driver counted each hash once (a repeat
    # or a missing one is an error), and the store holds those and no more.
    hashes = set(passage_hashes(config))
    assert report.encoded == len(hashes) == sum(received) > 100
    vectors = model_vectors(config)
    assert set(vectors) == hashes
    assert max_difference(vectors, model_vectors(xquad)) <= 1e-5
    assert check_index(config) == []


def test_a_driver_killed_mid_job_keeps_the_previous_generation_and_its_committed_vectors(cluster, tmp_path, encoder):
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(6), 10)
    first = index_seeds(config)  # generation 1, encoded in process
    write_corpus(config.seeds_dir, range(6, 62), 10)  # 560 more passages: a chunk of 512, then the rest
    before = model_vectors(config)
    killed = run_rag("index", "--ray", cluster, "--seeds", str(config.seeds_dir), "--index-dir", str(config.index_dir),
                     env={"RAG_TEST_KILL_AT": "vectors_committed"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert generation(config) == first.generation == 1  # readers still get generation 1, intact
    assert check_index(config) == []
    kept = model_vectors(config)
    assert set(before) < set(kept)  # the first chunk's vectors were committed and stay
    committed = len(kept) - len(before)
    ran = invoke_rag("index", "--ray", "--seeds", str(config.seeds_dir), "--index-dir", str(config.index_dir))
    assert ran.returncode == 0, ran.stderr
    passages = set(passage_hashes(config))
    assert f", {len(passages) - len(kept)} encoded, generation 2" in ran.stdout  # only the rest
    assert committed == encode_chunk(config.encode_batch_size) and len(passages) > len(kept)  # one chunk, then the rest
    assert set(model_vectors(config)) == passages


def test_an_address_where_no_cluster_answers_is_a_one_line_error_in_bounded_time(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    args = ("index", "--seeds", str(tmp_path / "seeds"), "--index-dir", str(tmp_path / "index"))
    write_corpus(tmp_path / "seeds", range(2), 3)
    started = time.monotonic()
    refused = run_rag(*args, env={"RAG_RAY_ADDRESS": f"127.0.0.1:{port}"}, timeout=60)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"rag: error: no Ray cluster answers at 127.0.0.1:{port} (connection refused): "
        f"start one with `ray start --head --port={port}` there, or check the address")
    assert time.monotonic() - started < 30
    # An address that accepts connections and never speaks Ray: bounded by RAG_RAY_CONNECT_TIMEOUT.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        mute = run_rag(*args, "--ray", address, env={"RAG_RAY_CONNECT_TIMEOUT": "8"}, timeout=120)
        took = time.monotonic() - started
    assert mute.returncode == 1 and "Traceback" not in mute.stderr
    assert f"rag: error: {address} accepts connections but no Ray cluster there could be joined within 8 s" in mute.stderr
    assert took < 40
    assert not (tmp_path / "index" / "store.sqlite").exists() or generation(Config(index_dir=tmp_path / "index")) == 0


def test_without_ray_installed_the_error_names_the_extra(tmp_path):
    fake = tmp_path / "no-ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    pythonpath = os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])
    ran = run_rag("index", "--ray", "--seeds", str(tmp_path / "seeds"), env={"PYTHONPATH": pythonpath}, timeout=60)
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "pip install 'seed-rag[ray]'" in ran.stderr.strip().splitlines()[-1]


def test_ray_options_without_ray_or_with_watch_are_usage_errors(tmp_path):
    alone = invoke_rag("index", "--ray-workers", "2", "--seeds", str(tmp_path))
    assert alone.returncode == 2 and "--ray-workers goes with --ray" in alone.stderr
    watching = invoke_rag("index", "--ray", "--watch", "--seeds", str(tmp_path))
    assert watching.returncode == 2 and "--watch encodes in this process" in watching.stderr
    bad = invoke_rag("index", "--ray", "nowhere", "--seeds", str(tmp_path))
    assert bad.returncode == 1 and "give HOST:PORT of the cluster's head node" in bad.stderr


