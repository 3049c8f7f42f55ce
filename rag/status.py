"""`rag status`: what the index holds, and an integrity check that names what is wrong."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings import index as faiss_index
from rag import models
from rag.config import MODES, Config
from rag.documents import list_seed_files
from rag.store import Store


def index_status(config: Config) -> dict[str, Any]:
    with Store.open(config.store_path, read_only=True) as store:
        counts = store.counts()
        indexed_at = store.get_meta("indexed_at")
        manifest = store.faiss_info()
        # Every model's vectors are kept: switching back with `rag index --model` encodes nothing.
        vector_sets = store.vector_counts()
        # The folder the index was last built from, which `rag index` recorded with its config.
        built_with = store.get_meta("config")
        seeds_dir = Path(json.loads(built_with)["seeds_dir"]) if built_with else config.seeds_dir
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
            "answerer": config.answerer,
            "reader": models.reader_fingerprint(config.reader_dir),
            "faiss_files": manifest.names if manifest else [],
            "faiss_removed_ids": len(manifest.removed) if manifest else 0,
            "indexed_at": dt.datetime.fromtimestamp(float(indexed_at)).isoformat(timespec="seconds") if indexed_at else None,
            "seeds_dir": str(seeds_dir),
            "seeds_not_indexed": seeds_not_indexed(seeds_dir, config.extensions, store),
        }


def seeds_not_indexed(seeds_dir: Path, extensions: Sequence[str], store: Store) -> list[str]:
    """Seed files of the indexed types that the index holds no document for, relative to the
    seeds folder: added since the last `rag index`, or skipped by it (its warning says why)."""
    if not seeds_dir.is_dir():
        return []
    indexed = {row.path for row in store.documents()}
    files = (p.relative_to(seeds_dir).as_posix() for p in list_seed_files(seeds_dir, extensions))
    return [f for f in files if f not in indexed]


def served_modes(config: Config) -> tuple[str, ...]:
    """The retrieval modes the index can answer in: `reranked` only once `rag index
    --rerank-model` has stored its vectors (the meta key the retriever reads)."""
    with Store.open(config.store_path, read_only=True) as store:
        reranks = store.get_meta("rerank_model_name") is not None
    return tuple(mode for mode in MODES if mode != "reranked" or reranks)


def check_index(config: Config) -> list[str]:
    """Problems found, each a specific sentence; empty when the index is sound.

    SQLite's integrity_check, every FAISS file against its recorded checksum, and the loaded
    FAISS index holding exactly the store's passage ids (so a count that matches by accident
    does not pass).
    """
    problems: list[str] = []
    with Store.open(config.store_path, read_only=True) as store:
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
            fingerprint = store.get_meta("model")
            missing = store.passages_missing_vectors(fingerprint)
            if missing:
                problems.append(f"{len(missing)} passages have no vector for {fingerprint}: run `rag index`")
    return problems
