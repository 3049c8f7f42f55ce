"""Servers the tests start as process groups: wait for the line that says they serve, stop them."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time


def wait_for_line(proc: subprocess.Popen, needle: str, deadline: float, drain: bool = False) -> list[str]:
    """The output up to the first line holding `needle`; with drain, the rest is read away in the
    background so a chatty server never blocks on a full pipe."""
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break  # the process ended
        lines.append(line.rstrip())
        if needle in line:
            if drain:
                threading.Thread(target=proc.stdout.read, daemon=True).start()
            return lines
    raise AssertionError(f"never printed {needle!r}; output:\n" + "\n".join(lines))


def stop_group(proc: subprocess.Popen) -> None:
    """Ctrl-C to the process group (as a user stops `rag chat`), a kill if that takes 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
