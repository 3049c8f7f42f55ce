"""Shared fixtures: the real packaged model, loaded once; a seeds index built once per session."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_81de98d510058a00.txt"
EVAL = ROOT / "eval"  # the question sets the project ships (copies of ../shared/eval)
SEED_QUESTIONS = EVAL / "seed" / "questions.jsonl"
RAG = str(Path(sys.executable).with_name("rag"))


@pytest.fixture(scope="session")
def encoder():
    """The process's shared MiniLM (rag/models.py): the one QA, the indexer and `rag` commands run
    by invoke_rag get, so the model loads once per test session."""
    from rag import models

    enc = models.encoder("all-MiniLM-L6-v2")
    enc.encode(["warm up"])
    return enc


@pytest.fixture(scope="session")
def seed_config(tmp_path_factory, encoder):
    """A Config whose index holds the project's seeds/, built once with the real model."""
    from rag.config import Config
    from rag.indexer import index_seeds

    config = Config(seeds_dir=SEEDS, index_dir=tmp_path_factory.mktemp("seed-index"))
    index_seeds(config)
    return config


def open_qa(config, encoder, **kwargs):
    """A QA over `config`; `encoder` (the fixture) makes sure the shared model is loaded first."""
    from rag.qa import QA

    return QA(config, **kwargs)


def stored_doc_ids(config) -> set[str]:
    """The document ids the index at config.index_dir holds."""
    from rag.store import Store

    with Store.open(config.store_path) as store:
        return set(store.document_hashes())


@pytest.fixture(scope="session")
def seed_qa(seed_config, encoder):
    qa = open_qa(seed_config, encoder)
    yield qa
    qa.close()


def run_rag(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    """Run the installed `rag` console script in a new process; returns CompletedProcess with text
    output. Only where the process is the point (kills, concurrency, --watch, a server, cold start):
    each run pays ~5 s to import torch and load the model again. Otherwise use invoke_rag."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([RAG, *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


@dataclass(frozen=True)
class Ran:
    """What `rag` did, shaped like run_rag's CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def invoke_rag(*args: str, env: dict | None = None) -> Ran:
    """`rag ARGS` in this process (click's CliRunner), run from the project root with `env` added
    to the environment. It shares the session's loaded models (see `encoder`), so no load per run. An
    exception the command lets out is shown as the console script would show it: a traceback on
    stderr and exit status 1 (so "no Traceback" assertions keep their meaning)."""
    from click.testing import CliRunner

    from rag.cli import main

    with contextlib.chdir(ROOT):
        result = CliRunner(env=env).invoke(main, list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


@pytest.fixture
def seeds_copy(tmp_path):
    """A writable copy of seeds/ for tests that change documents."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target
