"""`rag index --watch`: re-index whenever the seeds folder changes, debounced.

Polling, not inotify: it works the same on every OS and network drive, needs no dependency,
and stat-ing even 10,000 files once a second costs a few milliseconds. A change is indexed
once the folder has stayed unchanged for `debounce` seconds, so copying in a batch of files
(or an editor's save-rename dance) gives one run, not one per file.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from rag.config import Config
from rag.documents import list_seed_files
from rag.errors import RagError
from rag.indexer import ProgressFactory, index_seeds
from rag.types import IndexReport

Snapshot = dict[str, tuple[int, int, int]]


def snapshot(config: Config) -> Snapshot:
    """path -> (size, mtime, inode) of every seed file; a vanished file is simply absent."""
    state: Snapshot = {}
    for path in list_seed_files(config.seeds_dir, config.extensions):
        try:
            info = os.stat(path)
        except OSError:
            continue
        state[str(path)] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return state


def watch_seeds(
    config: Config,
    on_report: Callable[[IndexReport], None],
    on_error: Callable[[Exception], None],
    stop: threading.Event | None = None,
    interval: float = 1.0,
    debounce: float = 2.0,
    progress: ProgressFactory | None = None,
) -> None:
    """Index now, then after every change once the folder has been quiet for `debounce` s, until `stop` is set.

    The model is loaded once per process and kept (rag/models.py). A run that fails with a user error (no documents left,
    a corrupt store) is reported through `on_error` and watching goes on.
    """
    stop = stop or threading.Event()
    indexed: Snapshot | None = None  # what the last run saw
    pending: Snapshot | None = None  # the latest state seen, not yet indexed
    changed_at = 0.0
    folder_missing = False
    while not stop.is_set():
        try:
            current = snapshot(config)
        except RagError as exc:  # the seeds folder itself is gone: say so once, keep polling
            if not folder_missing:
                on_error(exc)
            folder_missing = True
            stop.wait(interval)
            continue
        folder_missing = False
        now = time.monotonic()
        if current != pending:
            pending, changed_at = current, now
        if pending != indexed and (indexed is None or now - changed_at >= debounce):
            try:
                on_report(index_seeds(config, progress=progress))
            except RagError as exc:  # e.g. every file removed: the last generation stays
                on_error(exc)
            indexed = pending  # changes made while indexing differ from it and trigger a new run
        stop.wait(interval)
