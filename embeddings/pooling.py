"""Run a sentence-transformers model folder (Transformer -> mean Pooling -> Normalize) with
`transformers` directly.

Why not `SentenceTransformer`: importing sentence-transformers pulls in scikit-learn and SciPy,
~1.3 s of a cold `rag ask` (4.4 s of imports out of 6.5 s, `make bench`). Both packaged models
(all-MiniLM-L6-v2, all-mpnet-base-v2) have this three-module layout; the vectors are the same as
`SentenceTransformer.encode` (tests/test_encoder.py checks it).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.registry import ModelNotAvailable

TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
NORMALIZE = "sentence_transformers.models.Normalize"


def quiet_transformers() -> None:
    """No "Loading weights 100%|███|" bar or load report from transformers on stderr.

    A `rag ask` that succeeds prints nothing there: stderr is for warnings and errors the user
    acts on. Process-wide (transformers keeps the switch globally), so call it before each load.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class MeanPoolingModel:
    def __init__(self, folder: Path) -> None:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"] for m in modules]
        if kinds[:2] != [TRANSFORMER, POOLING] or set(kinds[2:]) - {NORMALIZE}:
            raise ModelNotAvailable(f"{folder}: unsupported module layout {kinds}")
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
        modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
        if modes != ["pooling_mode_mean_tokens"]:
            raise ModelNotAvailable(f"{folder}: only mean pooling is supported, not {modes}")
        settings = json.loads((folder / "sentence_bert_config.json").read_text())
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        self.max_length = int(settings.get("max_seq_length", 512))
        self.lower_case = bool(settings.get("do_lower_case", False))
        self.dimension = int(pooling["word_embedding_dimension"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised, as SentenceTransformer.encode would."""
        import torch

        texts = [t.strip().lower() if self.lower_case else t.strip() for t in texts]
        batch = self.tokenizer(texts, padding=True, truncation="longest_first", max_length=self.max_length,
                               return_tensors="pt")
        with torch.inference_mode():
            tokens = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1).numpy()
