"""Sentence embeddings from a packaged model: batched, L2-normalised float32, lazily loaded."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embeddings.pooling import MeanPoolingModel
from embeddings.registry import resolve_model_dir, weights_fingerprint

# The chat encodes from several threads: weights load once (a module lock keeps Encoder picklable).
_LOADING = threading.Lock()


class Encoder:
    """A sentence-transformers model found inside an installed package.

    Constructing an Encoder is cheap: the model directory is resolved and the weights
    loaded on the first call that needs them, once.
    """

    def __init__(self, name: str, threads: int = 1, batch_size: int = 64) -> None:
        self.name = name
        self.threads = threads
        self.batch_size = batch_size
        self._model = None
        self._dir: Path | None = None
        self._fingerprint: str | None = None

    @property
    def model_dir(self) -> Path:
        if self._dir is None:
            self._dir = resolve_model_dir(self.name)
        return self._dir

    @property
    def fingerprint(self) -> str:
        """Model name + hash of its weights; stored with every vector it produces."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.name, self.model_dir)
        return self._fingerprint

    @property
    def model(self) -> MeanPoolingModel:
        """The loaded model, imported lazily (torch and transformers cost ~2 s to import)."""
        if self._model is None:
            with _LOADING:  # taken only to load: every encode call reads this property
                if self._model is None:
                    os.environ["HF_HUB_OFFLINE"] = "1"
                    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                    import torch

                    torch.set_num_threads(self.threads)
                    self._model = MeanPoolingModel(self.model_dir)
        return self._model

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised. `progress(n)` after each batch.

        Texts are encoded longest first so each batch pads to similar lengths; rows come
        back in the caller's order.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self.model.encode([texts[i] for i in idx])
            if progress is not None:
                progress(len(idx))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
