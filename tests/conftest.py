"""Shared fixtures: the real packaged model, loaded once; a seeds index built once per session."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    from rag import models

    enc = models.encoder("all-MiniLM-L6-v2")  # the process's shared one, as QA and the indexer get it
    enc.encode(["warm up"])
    return enc


@pytest.fixture(scope="session")
def seed_config(tmp_path_factory, encoder):
    """A Config whose index holds the project's seeds/, built once with the real model."""
    from rag.config import Config
    from rag.indexer import index_seeds

    config = Config(seeds_dir=SEEDS, index_dir=tmp_path_factory.mktemp("seed-index"))
    index_seeds(config, encoder=encoder)
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
    """Run the installed `rag` console script; returns CompletedProcess with text output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([RAG, *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


@pytest.fixture
def seeds_copy(tmp_path):
    """A writable copy of seeds/ for tests that change documents."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target
