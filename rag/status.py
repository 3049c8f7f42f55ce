"""`rag status`: what the index holds, and an integrity check that names what is wrong."""
from __future__ import annotations

import datetime as dt
from typing import Any

from embeddings import index as faiss_index
from rag.config import Config
from rag.store import Store


def index_status(config: Config) -> dict[str, Any]:
    store = Store.open(config.store_path)
    try:
        counts = store.counts()
        indexed_at = store.get_meta("indexed_at")
        info = store.faiss_info()
        return {
            "index_dir": str(config.index_dir),
            "generation": store.generation,
            "documents": counts["documents"],
            "passages": counts["passages"],
            "vectors": counts["vectors"],
            "model": store.get_meta("model"),
            "dimension": int(store.get_meta("dim", "0")),
            "faiss_file": info.name if info else None,
            "indexed_at": dt.datetime.fromtimestamp(float(indexed_at)).isoformat(timespec="seconds") if indexed_at else None,
        }
    finally:
        store.close()


def check_index(config: Config) -> list[str]:
    """Problems found, each a specific sentence; empty when the index is sound."""
    store = Store.open(config.store_path)
    problems: list[str] = []
    try:
        problems += [f"SQLite integrity_check on {config.store_path}: {p}" for p in store.integrity_problems()]
        info = store.faiss_info()
        passages = store.counts()["passages"]
        if info is None:
            problems.append("no generation has been published: run `rag index`")
            return problems
        try:
            index = faiss_index.load_verified(config.index_dir, info)
        except faiss_index.IndexFileError as exc:
            problems.append(f"{exc}: run `rag index` to rebuild it from the stored vectors")
            return problems
        if index.ntotal != passages:
            problems.append(f"FAISS holds {index.ntotal} vectors but the store has {passages} passages")
    finally:
        store.close()
    return problems
