"""Errors a user can cause or fix. The CLI and UI print their message; no traceback."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

# What a full disk (or a full quota) looks like to os and open().
_FULL = (errno.ENOSPC, errno.EDQUOT)


class RagError(Exception):
    """Base class: the message says what is wrong and what to do."""


class QuestionFileError(RagError):
    """A question file that cannot be read; the message names the line."""


class DiskFull(RagError):
    """The disk under a folder we write to is full: one line naming the folder, the space free
    and the space needed. What was being written is gone; what was there before is intact."""

    def __init__(self, folder: Path, needed: int, after: str = "the index is as it was before") -> None:
        self.folder, self.needed = Path(folder), needed
        try:
            free = f"{_size(shutil.disk_usage(self.folder).free)} free"
        except OSError:
            free = "free space unknown"
        super().__init__(
            f"the disk holding {self.folder} is full ({free}, at least {_size(needed)} needed): "
            f"free some space and try again; {after}"
        )


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError that says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _FULL


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
