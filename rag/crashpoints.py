"""Named points in `rag index` where the crash tests kill or pause the writer (tests/test_crash.py)."""
from __future__ import annotations

import os
import signal
import sys
import time


def crash_point(name: str) -> None:
    """Test hooks for the crash tests; no effect unless the variables are set.

    RAG_TEST_KILL_AT=<name> SIGKILLs this process at that point; RAG_TEST_PAUSE=<seconds>
    announces every point on stderr and sleeps there, so a test killing at random moments
    lands in every phase of a run rather than mostly in its start-up.
    """
    if os.environ.get("RAG_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get("RAG_TEST_PAUSE")
    if pause:
        print(f"rag-test: at {name}", file=sys.stderr, flush=True)
        time.sleep(float(pause))
