"""A damaged FAISS file is detected and rebuilt from the stored vectors with a message (by
`rag ask` and by `rag index`); a damaged store.sqlite gives a clear error naming the file and
`rag index --rebuild`, a non-zero exit and no traceback."""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from conftest import SEEDS, invoke_rag, open_qa, run_rag
from permissions import as_file_owner
from rag.config import Config
from rag.indexer import index_seeds
from rag.status import check_index
from rag.store import Store, StoreError

QUESTION = "Who succeeded Stoltenberg?"
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 47954\n"
)


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, encoder) -> Config:
    """An index of seeds/ built once; each test damages its own copy."""
    root = tmp_path_factory.mktemp("healthy")
    config = Config(seeds_dir=SEEDS, index_dir=root / "index")
    index_seeds(config)
    return config


@pytest.fixture
def damaged(healthy, tmp_path) -> Config:
    config = healthy.replace(index_dir=tmp_path / "index")
    shutil.copytree(healthy.index_dir, config.index_dir)
    return config


def results(config: Config, encoder, warnings: list[str]) -> list[dict]:
    qa = open_qa(config, encoder, warn=warnings.append)
    try:
        return [c.__dict__ for c in qa.ask(QUESTION, k=5).citations]
    finally:
        qa.close()


def faiss_path(config: Config) -> Path:
    with Store.open(config.store_path) as store:
        return config.index_dir / store.faiss_info().names[0]


def truncate(path: Path, n: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-n])


def flip_bit(path: Path, position: int | None = None, seed: int = 4) -> None:
    """Flip one bit: at `position`, or at a seeded random place."""
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    position = rng.randrange(len(data)) if position is None else position
    data[position] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated by 1 byte": lambda p: truncate(p, 1),
    "truncated by 37 bytes": lambda p: truncate(p, 37),
    "truncated by 100 bytes": lambda p: truncate(p, 100),
    "one bit flipped in the header": lambda p: flip_bit(p, position=10),
    "one bit flipped at random": lambda p: flip_bit(p),
    "emptied": lambda p: p.write_bytes(b""),
    "replaced by a Git-LFS pointer": lambda p: p.write_text(LFS_POINTER),
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_faiss_file_is_rebuilt_from_stored_vectors_with_a_message(how, healthy, damaged, encoder):
    expected = results(healthy, encoder, [])
    path = faiss_path(damaged)
    DAMAGE[how](path)

    warnings: list[str] = []
    assert results(damaged, encoder, warnings) == expected  # `rag ask`: rebuilt in memory, same answer
    assert len(warnings) == 1 and str(path) in warnings[0] and "rebuilt in memory from" in warnings[0], warnings
    assert check_index(damaged) != []  # `rag status --check` names it until `rag index` writes it back

    done = invoke_rag("index", "--seeds", str(damaged.seeds_dir), "--index-dir", str(damaged.index_dir))
    assert done.returncode == 0, done.stderr
    assert f"warning: FAISS file {path}" in done.stderr and "rebuilt from the stored vectors" in done.stderr
    assert " 0 encoded" in done.stdout  # nothing re-encoded: the vectors live in the store
    assert check_index(damaged) == []
    warnings.clear()
    assert results(damaged, encoder, warnings) == expected and warnings == []


def test_rag_ask_prints_the_rebuild_message_and_answers(healthy, damaged):
    faiss_path(damaged).write_text(LFS_POINTER)
    done = invoke_rag("ask", QUESTION, "--json", "--index-dir", str(damaged.index_dir))
    assert done.returncode == 0, done.stderr
    assert "does not match its recorded checksum" in done.stderr and "rebuilt in memory" in done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["citations"]


def _garbage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:100] = random.Random(1).randbytes(100)
    path.write_bytes(bytes(data))


def _garbage_pages(path: Path) -> None:
    """Overwrite every page after the first two: SQLite opens the file (schema and meta are on
    pages 1 and 2) and fails at the first query that reads a damaged page."""
    data = bytearray(path.read_bytes())
    rng = random.Random(2)
    for start in range(2 * 4096, len(data), 4096):
        data[start : start + 4096] = rng.randbytes(min(4096, len(data) - start))
    path.write_bytes(bytes(data))


STORE_DAMAGE = {
    "header overwritten": _garbage_header,
    "truncated to half": lambda p: p.write_bytes(p.read_bytes()[: os.path.getsize(p) // 2]),
    "pages overwritten": _garbage_pages,
}


@pytest.mark.parametrize("how", list(STORE_DAMAGE))
def test_corrupt_store_is_a_clear_error_naming_the_file_and_the_fix(how, damaged):
    STORE_DAMAGE[how](damaged.store_path)
    commands = [
        ["ask", QUESTION, "--index-dir", str(damaged.index_dir)],
        ["status", "--check", "--index-dir", str(damaged.index_dir)],
        ["index", "--seeds", str(damaged.seeds_dir), "--index-dir", str(damaged.index_dir)],
    ]
    for args in commands:
        done = invoke_rag(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(f"rag: error: {damaged.store_path} is "), done.stderr
        assert "corrupt" in done.stderr and "`rag index --rebuild`" in done.stderr, done.stderr


def test_read_only_index_is_a_clear_error_that_does_not_suggest_deleting_it(damaged, encoder, tmp_path):
    # A new document, so the run must write (an up-to-date store is opened without writing).
    seeds = tmp_path / "seeds"
    shutil.copytree(damaged.seeds_dir, seeds)
    (seeds / "new.txt").write_text("New\n\nA document the read-only index cannot take in.\n", encoding="utf-8")
    damaged.store_path.chmod(0o444)
    damaged.index_dir.chmod(0o555)
    try:
        with as_file_owner(), pytest.raises(StoreError) as error:
            index_seeds(damaged.replace(seeds_dir=seeds))
    finally:
        damaged.index_dir.chmod(0o755)
    assert str(error.value).startswith(f"cannot use {damaged.store_path}: attempt to write a readonly database")
    assert "permissions" in str(error.value) and "rebuild" not in str(error.value)


def test_a_read_only_index_answers_questions(damaged, encoder):
    """`rag ask` and `rag status` only read, so an index folder nobody may write to still serves.
    Old code opened the store for writing: "cannot use .../store.sqlite: attempt to write a readonly database"."""
    from click.testing import CliRunner

    from rag.cli import main

    files = sorted(damaged.index_dir.iterdir())
    for path in files:
        path.chmod(0o444)
    damaged.index_dir.chmod(0o555)
    try:
        with as_file_owner():
            asked = CliRunner().invoke(main, ["ask", QUESTION, "--json", "--index-dir", str(damaged.index_dir)])
            status = CliRunner().invoke(main, ["status", "--check", "--index-dir", str(damaged.index_dir)])
            assert asked.exit_code == 0, asked.output
            assert status.exit_code == 0 and "check: ok" in status.stdout, status.output
            store = Store.open(damaged.store_path, read_only=True)
            try:
                with pytest.raises(StoreError, match="attempt to write a readonly database"):
                    store.set_meta("written", "1")
            finally:
                store.close()
    finally:
        damaged.index_dir.chmod(0o755)
        for path in files:
            path.chmod(0o644)
    assert "Mark Rutte" in json.loads(asked.stdout)["answer"]
    assert sorted(damaged.index_dir.iterdir()) == files  # no -shm, -wal or lock file was needed


def test_rebuild_replaces_a_corrupt_store(damaged, encoder):
    _garbage_pages(damaged.store_path)
    report = index_seeds(damaged, rebuild=True)  # what `rag index --rebuild` runs
    assert (report.new, report.published) == (1, True)
    assert check_index(damaged) == []
    assert not list(damaged.index_dir.glob("store.sqlite.rebuild*"))


def test_rebuild_killed_before_its_swap_leaves_the_old_index(healthy, damaged, encoder):
    expected = results(healthy, encoder, [])
    # A process of its own: RAG_TEST_KILL_AT makes the indexer SIGKILL the process it runs in.
    done = run_rag("index", "--rebuild", "--seeds", str(damaged.seeds_dir), "--index-dir", str(damaged.index_dir),
                   env={"RAG_TEST_KILL_AT": "before_commit"})
    assert done.returncode == -9  # SIGKILL, while the fresh store was complete but not yet swapped in
    assert check_index(damaged) == [] and results(damaged, encoder, []) == expected
    index_seeds(damaged, rebuild=True)  # a later rebuild starts over and finishes
    assert check_index(damaged) == [] and not list(damaged.index_dir.glob("store.sqlite.rebuild*"))
