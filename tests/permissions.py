"""File permissions that hold even for root, for tests that need an unreadable or read-only file.

Tests here run as root, and root reads and writes anything through two capabilities. Inside
`as_file_owner()` the calling thread drops those from its effective set (capset, Linux) and is
held to the permission bits like any owner; they are restored after. Root still owns every file
the test made, so nothing else changes. Without root, the permission bits alone already apply.
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522
_DAC_OVERRIDES = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


@contextmanager
def as_file_owner() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_CAP_V3, 0), (_CapData * 2)()
    if os.geteuid() != 0 or libc.capget(ctypes.byref(header), data) != 0:
        yield
        return
    saved = data[0].effective
    data[0].effective &= ~_DAC_OVERRIDES
    assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(_CapHeader(_CAP_V3, 0)), data)
