"""`rag status`: what the index holds, and an integrity check that names what is wrong."""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from embeddings import index as faiss_index
from rag.config import Config
from rag.store import Store


def index_status(config: Config) -> dict[str, Any]:
    store = Store.open(config.store_path, read_only=True)
    try:
        counts = store.counts()
        indexed_at = store.get_meta("indexed_at")
        manifest = store.faiss_info()
        # Every model's vectors are kept: switching back with `rag index --model` encodes nothing.
        vector_sets = store.vector_counts()
        return {
            "index_dir": str(config.index_dir),
            "generation": store.generation,
            "documents": counts["documents"],
            "passages": counts["passages"],
            "vectors": sum(vector_sets.values()),
            "model": store.get_meta("model"),
            "dimension": int(store.get_meta("dim", "0")),
            "vector_sets": vector_sets,
            "rerank_model": store.get_meta("rerank_model"),  # the "reranked" mode's vectors, if built
            "faiss_files": manifest.names if manifest else [],
            "faiss_removed_ids": len(manifest.removed) if manifest else 0,
            "indexed_at": dt.datetime.fromtimestamp(float(indexed_at)).isoformat(timespec="seconds") if indexed_at else None,
        }
    finally:
        store.close()


def check_index(config: Config) -> list[str]:
    """Problems found, each a specific sentence; empty when the index is sound.

    SQLite's integrity_check, every FAISS file against its recorded checksum, and the loaded
    FAISS index holding exactly the store's passage ids (so a count that matches by accident
    does not pass).
    """
    store = Store.open(config.store_path, read_only=True)
    problems: list[str] = []
    try:
        with store.transaction(write=False):  # one snapshot, even while `rag index` publishes
            problems += [f"SQLite integrity_check on {config.store_path}: {p}" for p in store.integrity_problems()]
            manifest = store.faiss_info()
            if manifest is None:
                problems.append("no generation has been published: run `rag index`")
                return problems
            try:
                index = faiss_index.load_verified(config.index_dir, manifest)
            except faiss_index.IndexFileError as exc:
                problems.append(f"{exc}: run `rag index` to rebuild it from the stored vectors")
                return problems
            ids = store.passage_ids()
            if index.ntotal != len(ids):
                problems.append(f"FAISS holds {index.ntotal} vectors but the store has {len(ids)} passages")
            elif not np.array_equal(np.sort(faiss_index.ids_of(index)), ids):
                problems.append("FAISS holds vectors for passages the store does not have: run `rag index --rebuild`")
            model = store.get_meta("model")
            missing = store.passages_missing_vectors(model)
            if missing:
                problems.append(f"{len(missing)} passages have no vector for {model}: run `rag index`")
    finally:
        store.close()
    return problems
