"""Retrieval: dense (FAISS) and lexical (FTS5 BM25) candidates, fused, over one generation.

Each query runs inside one SQLite read transaction, so the FAISS generation, the passage
texts and the FTS results all come from the same committed snapshot even while `rag index`
publishes a new one.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from embeddings import Encoder, ann
from embeddings import index as faiss_index
from rag.config import MODES, RERANK_MODEL, Config
from rag.question import QuestionInfo, analyse
from rag.sentences import rescore
from rag.store import Store, StoreError
from rag.types import Hit


@dataclass
class Retrieved:
    hits: list[Hit]
    generation: int
    query_vector: np.ndarray | None
    model: str  # fingerprint of the snapshot's vectors
    # The stored vectors of the hits that were not dense candidates, read in the same snapshot:
    # a later generation may have deleted those passages before the answer step needs them.
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # passage id -> vector
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds


class ModelMismatch(StoreError):
    """Asked with a model whose vectors this index does not have."""


class NoRerankVectors(StoreError):
    """The "reranked" mode was asked of an index built without a re-ranking model's vectors."""


class Retriever:
    """Holds the store connection, the encoder and the loaded FAISS index across queries."""

    def __init__(self, config: Config, warn: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.store = Store.open(config.store_path)
        self.warn = warn or (lambda msg: print(msg, file=sys.stderr))
        active = self.store.get_meta("model_name")
        if active is None:
            raise StoreError(f"the index at {config.index_dir} has no published generation: run `rag index`")
        if config.model and config.model != active:
            raise ModelMismatch(
                f"the index at {config.index_dir} was built with {active}, not {config.model}: "
                f"run `rag index --model {config.model}` to build that model's vectors"
            )
        self.encoder = config.encoder(active)
        self.reranker: Encoder | None = None  # loaded on the first "reranked" query
        self._faiss = None
        self._faiss_generation = -1

    def close(self) -> None:
        self.store.close()

    def _reranker_for(self, name: str | None) -> Encoder:
        if name is None:
            raise NoRerankVectors(
                f"the index at {self.config.index_dir} has no re-ranking vectors for the reranked mode: "
                f"run `rag index --rerank-model {RERANK_MODEL}` first"
            )
        if self.reranker is None or self.reranker.name != name:
            self.reranker = self.config.encoder(name)
        return self.reranker

    def _index_for_snapshot(self):
        """The FAISS index of the snapshot's generation: loaded once, rebuilt if the file is bad."""
        generation = self.store.generation
        if generation == self._faiss_generation:
            return self._faiss
        info = self.store.faiss_info()
        try:
            index = faiss_index.load_verified(self.config.index_dir, info)
        except faiss_index.IndexFileError as exc:
            from rag.generations import rebuild_from_store  # TODO(issue 11): to the top once the retrieve.py rewrite lands

            index = rebuild_from_store(self.store, self.config)
            self.warn(f"{exc}; rebuilt in memory from {index.ntotal} stored vectors (`rag index` writes it back)")
        ann.set_nprobe(index, self.config.ann_nprobe)  # a search parameter of the approximate index
        self._faiss, self._faiss_generation = index, generation
        return index

    def _follow_model_switch(self, active: str) -> None:
        if self.config.model and self.config.model != active:
            raise ModelMismatch(
                f"the index at {self.config.index_dir} now uses {active}, not {self.config.model}: "
                f"run `rag index --model {self.config.model}` to switch it back"
            )
        self.encoder = self.config.encoder(active)

    def search(
        self, question: str, k: int | None = None, mode: str | None = None, info: QuestionInfo | None = None
    ) -> Retrieved:
        """The top k passages; `info` is the question's analysis if the caller already has it."""
        k = k or self.config.k
        mode = mode or self.config.mode
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")
        depth = max(self.config.candidates, k)
        timings: dict[str, float] = {}
        query_vector = rerank_query = None
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode != "bm25":
            t = time.perf_counter()
            query_vector = self.encoder.encode_query(question)
            timings["embed"] = (time.perf_counter() - t) * 1000
        reranked = mode == "reranked"
        if reranked:
            t = time.perf_counter()
            reranker = self._reranker_for(self.store.get_meta("rerank_model_name"))
            rerank_query = reranker.encode_query(question)
            timings["rerank"] = (time.perf_counter() - t) * 1000
        with self.store.transaction(write=False):
            generation = self.store.generation
            model = self.store.get_meta("model")
            if mode != "bm25":
                active = self.store.get_meta("model_name")
                if active != self.encoder.name:
                    # `rag index --model` switched models since this retriever opened: a query
                    # vector of the old model would not fit the new generation's FAISS index.
                    self._follow_model_switch(active)
                    query_vector = self.encoder.encode_query(question)
                t = time.perf_counter()
                scores, ids = faiss_index.search(self._index_for_snapshot(), query_vector, depth)
                dense = list(zip(ids.tolist(), scores.tolist()))
                timings["dense"] = (time.perf_counter() - t) * 1000
            if mode != "dense":
                t = time.perf_counter()
                lexical = self.store.lexical_search(question, depth)
                timings["lexical"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            rescored = mode in ("rescored", "reranked")
            top = self.config.rescore_depth  # the passages the later stages re-rank
            ranked = fuse(dense, lexical, "hybrid" if rescored else mode, self.config.dense_weight)
            ranked = ranked[: max(k, top) if rescored else k]
            timings["fusion"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            passages = self.store.passages_by_id(pid for pid, _ in ranked)
            dense_of, lexical_of = dict(dense), dict(lexical)
            ids, stored = self.store.passage_vectors(
                model, int(self.store.get_meta("dim")), [pid for pid in passages if pid not in dense_of]
            )
            if reranked:
                rerank_query, rerank_vectors = self._rerank_inputs(question, rerank_query, [p for p, _ in ranked[:top]])
            timings["fetch"] = (time.perf_counter() - t) * 1000
        hits = [
            Hit(passages[pid], score, dense_of.get(pid), lexical_of.get(pid))
            for pid, score in ranked
            if pid in passages
        ]
        if rescored:
            t = time.perf_counter()
            hits = rescore(hits, info or analyse(question), top, self.config.rescore_weight)
            timings["rescore"] = (time.perf_counter() - t) * 1000
        if reranked:
            t = time.perf_counter()
            hits = rerank(hits, rerank_query, rerank_vectors, top, self.config.rerank_weight)
            timings["rerank"] += (time.perf_counter() - t) * 1000
        return Retrieved(hits[:k], generation, query_vector, model, dict(zip(ids.tolist(), stored)), timings)

    def _rerank_inputs(
        self, question: str, query: np.ndarray, ids: list[int]
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The question's and the passages' vectors of the snapshot's re-ranking model (called inside
        the query's read transaction). If `rag index --rerank-model` switched models since the
        question was encoded, it is encoded again with the snapshot's model."""
        name = self.store.get_meta("rerank_model_name")
        if name != self.reranker.name:
            query = self._reranker_for(name).encode_query(question)
        model = self.store.get_meta("rerank_model")
        found, vectors = self.store.passage_vectors(model, self.store.vector_dim(model), ids)
        return query, dict(zip(found.tolist(), vectors))

    def cosine(self, question: str, retrieved: Retrieved, hit: Hit) -> float:
        """A hit's dense similarity to the question: its dense score, or from its stored vector
        when it was only a lexical candidate (the answer's confidence needs it either way)."""
        if hit.dense is not None:
            return hit.dense
        query_vector = retrieved.query_vector
        if query_vector is None:
            query_vector = self.encoder.encode_query(question)
        return float(retrieved.vectors[hit.passage.id] @ query_vector)


def rerank(
    hits: list[Hit], query: np.ndarray, vectors: dict[int, np.ndarray], depth: int, weight: float
) -> list[Hit]:
    """The top `depth` hits re-ranked by score + weight x the re-ranking model's cosine.

    The larger bi-encoder (all-mpnet-base-v2) tells apart passages the small one and the lexical
    stage rank alike: on xquad_en it moves doc recall@1 from .964 to .968 (DESIGN.md).
    """
    top = [replace(h, score=h.score + weight * float(vectors[h.passage.id] @ query)) for h in hits[:depth]]
    return sorted(top, key=lambda h: (-h.score, h.passage.id)) + hits[depth:]


def fuse(
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    mode: str,
    dense_weight: float,
    rrf_k: int = 60,
) -> list[tuple[int, float]]:
    """Rank passage ids by the mode's score, best first; ties broken by id for determinism."""
    if mode == "dense":
        scores = dict(dense)
    elif mode == "bm25":
        scores = dict(lexical)
    elif mode == "rrf":
        scores = {}
        for ranking in (dense, lexical):
            for rank, (pid, _) in enumerate(ranking):
                scores[pid] = scores.get(pid, 0.0) + 1.0 / (rrf_k + rank + 1)
    else:  # hybrid: convex mix of min-max-normalised scores; absent from a list counts as 0
        d, l = _minmax(dense), _minmax(lexical)
        scores = {
            pid: dense_weight * d.get(pid, 0.0) + (1 - dense_weight) * l.get(pid, 0.0)
            for pid in d.keys() | l.keys()
        }
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _minmax(pairs: list[tuple[int, float]]) -> dict[int, float]:
    if not pairs:
        return {}
    values = [s for _, s in pairs]
    low, high = min(values), max(values)
    span = high - low
    return {pid: (s - low) / span if span > 0 else 1.0 for pid, s in pairs}
