"""Our encoder path gives the vectors sentence-transformers itself gives (the reference)."""
from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

TEXTS = [
    "Who succeeded Stoltenberg?",
    "  NATO Secretary General Jens Stoltenberg has stepped down and handed it over to Mark Rutte.  ",
    "word " * 400,  # longer than the model's 256-token window: truncated the same way
    "x",
]


def test_vectors_match_sentence_transformers(encoder):
    reference = SentenceTransformer(str(encoder.model_dir), device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    got = encoder.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_query(TEXTS[0]), expected[0], atol=1e-5)
