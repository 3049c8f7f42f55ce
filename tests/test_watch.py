"""`rag index --watch`: a change to the seeds folder is indexed once the folder is quiet; a burst
of changes gives one run; errors are reported and watching goes on; Ctrl-C stops it cleanly."""
from __future__ import annotations

import queue
import select
import signal
import subprocess
import threading
import time

from conftest import RAG
from rag.config import Config
from rag.types import IndexReport
from rag.watch import watch_seeds
from seedgen import doc_name, document, write_corpus


def test_watch_indexes_each_quiet_change_once(tmp_path, encoder):
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(3), 3)
    events: queue.Queue[IndexReport | Exception] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_seeds,
        kwargs=dict(config=config, on_report=events.put, on_error=events.put, stop=stop, interval=0.05,
                    debounce=1.0),
    )
    watcher.start()
    try:
        first = events.get(timeout=60)
        assert (first.new, first.documents) == (3, 3)

        for n in (10, 11, 12):  # a burst: one run for all three
            (config.seeds_dir / doc_name(n)).write_text(document(n, 3), encoding="utf-8")
            time.sleep(0.05)
        burst = events.get(timeout=60)
        assert (burst.new, burst.documents, burst.encoded) == (3, 6, 9)

        (config.seeds_dir / doc_name(0)).unlink()
        gone = events.get(timeout=60)
        assert (gone.deleted, gone.documents, gone.encoded) == (1, 5, 0)

        for path in config.seeds_dir.iterdir():
            path.unlink()
        error = events.get(timeout=60)
        assert isinstance(error, Exception) and "no indexable documents" in str(error)

        (config.seeds_dir / doc_name(20)).write_text(document(20, 3), encoding="utf-8")  # watching went on
        back = events.get(timeout=60)
        assert (back.new, back.deleted, back.documents) == (1, 5, 1)
        assert events.empty()
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()


def read_line(proc: subprocess.Popen, starting: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(starting):
                return line
            assert line, "rag index --watch exited early"
    raise AssertionError(f"no line starting {starting!r} within {timeout} s")


def test_rag_index_watch_reindexes_on_change_and_stops_on_ctrl_c(tmp_path, encoder):
    from rag.indexer import index_seeds

    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    write_corpus(config.seeds_dir, range(3), 3)
    index_seeds(config)  # so the watcher has nothing to encode: no model to load
    proc = subprocess.Popen(
        [RAG, "index", "--watch", "--debounce", "0.3", "--seeds", str(config.seeds_dir),
         "--index-dir", str(config.index_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell without job control starts background commands with SIGINT ignored, and the
        # child would inherit that; Ctrl-C from a terminal reaches a process with the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert "0 new, 0 changed, 3 unchanged" in read_line(proc, "indexed:")
        (config.seeds_dir / doc_name(2)).rename(config.seeds_dir / "renamed.txt")  # same text: no encoding
        assert "1 new, 0 changed, 2 unchanged, 1 deleted), 9 passages, 0 encoded" in read_line(proc, "indexed:")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped watching" in err and "Traceback" not in err
