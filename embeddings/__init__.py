"""Packaged sentence-embedding models and the FAISS index derived from their vectors.

Importing this package loads no model: `Encoder` loads its weights on first use.
"""
from embeddings.encoder import Encoder
from embeddings.registry import MODELS, ModelNotAvailable, resolve_model_dir

__all__ = ["Encoder", "MODELS", "ModelNotAvailable", "resolve_model_dir"]
