"""Retrieval stages: dense (FAISS) and lexical (FTS5 BM25) candidates, fused, fetched, re-ranked.

Each stage is a small object with `run(query)` (rag/pipeline.py); `retrieval_stages(mode)`
lists a mode's stages. They all run inside one SQLite read transaction (`Retriever.snapshot`),
so the FAISS generation, the passage texts, the stored vectors and the FTS results come from
the same committed snapshot even while `rag index` publishes a new one.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from embeddings import Encoder, ann
from embeddings import index as faiss_index
from rag import generations, models, pipeline
from rag.config import MODES, RERANK_MODEL, Config, index_command
from rag.pipeline import Query, Stage
from rag.question import analyse
from rag.sentences import rescore
from rag.store import Store, StoreError
from rag.types import Hit


class ModelMismatch(StoreError):
    """Asked with a model whose vectors this index does not have."""


class NoRerankVectors(StoreError):
    """The "reranked" mode was asked of an index built without a re-ranking model's vectors."""


class Retriever:
    """What the retrieval stages share across queries: the store connection, the loaded FAISS
    index of the current generation, and the encoders (from the process's model cache)."""

    def __init__(self, config: Config, warn: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.store = Store.open(config.store_path, read_only=True)
        self.warn = warn or (lambda msg: print(msg, file=sys.stderr))
        active = self.store.get_meta("model_name")
        if active is None:
            raise StoreError(
                f"the index at {config.index_dir} has no published generation: run `{index_command(config.index_dir)}`"
            )
        self._check_model(active, "was built with", "to build that model's vectors")
        self._faiss = None
        self._faiss_generation = -1

    def close(self) -> None:
        self.store.close()

    @contextmanager
    def snapshot(self) -> Iterator[int]:
        """A read transaction; yields the snapshot's generation."""
        with self.store.transaction(write=False):
            yield self.store.generation

    def search(self, question: str, k: int | None = None, mode: str | None = None) -> Query:
        """Retrieval alone: the mode's stages in one snapshot; the Query holds the hits and timings."""
        k = k or self.config.k
        query = Query(question, analyse(question), k=k, depth=max(self.config.candidates, k))
        with self.snapshot() as generation:
            query.generation = generation
            pipeline.run(retrieval_stages(mode or self.config.mode, self), query)
        return query

    def _check_model(self, active: str, verb: str, hint: str) -> None:
        wanted = self.config.model
        if wanted and wanted != active:
            raise ModelMismatch(
                f"the index at {self.config.index_dir} {verb} {active}, not {wanted}: "
                f"run `rag index --model {wanted}` {hint}"
            )

    def encoder(self) -> Encoder:
        """The encoder of the snapshot's model: `rag index --model` may have switched models
        since this retriever opened, and a query vector of the old model would not fit."""
        active = self.store.get_meta("model_name")
        self._check_model(active, "now uses", "to switch it back")
        return models.encoder(active, self.config.torch_threads, self.config.encode_batch_size)

    def reranker(self) -> Encoder:
        name = self.store.get_meta("rerank_model_name")
        if name is None:
            raise NoRerankVectors(
                f"the index at {self.config.index_dir} has no re-ranking vectors for the reranked mode: "
                f"run `rag index --rerank-model {RERANK_MODEL}` first"
            )
        return models.encoder(name, self.config.torch_threads, self.config.encode_batch_size)

    def faiss(self):
        """The FAISS index of the snapshot's generation: loaded once, rebuilt if the file is bad."""
        generation = self.store.generation
        if generation == self._faiss_generation:
            return self._faiss
        info = self.store.faiss_info()
        try:
            index = faiss_index.load_verified(self.config.index_dir, info)
        except faiss_index.IndexFileError as exc:
            index = generations.rebuild_from_store(self.store, self.config)
            self.warn(f"{exc}; rebuilt in memory from {index.ntotal} stored vectors (`rag index` writes it back)")
        ann.set_nprobe(index, self.config.ann_nprobe)  # a search parameter of the approximate index
        self._faiss, self._faiss_generation = index, generation
        return index


@dataclass
class Embed:
    """The question's vector. Every mode embeds it: the dense search needs it, and so does the
    answer's confidence (the answer passage's cosine), in the bm25 mode too."""

    retriever: Retriever
    name: str = "embed"

    def run(self, query: Query) -> None:
        query.vector = self.retriever.encoder().encode_query(query.question)


@dataclass
class Dense:
    retriever: Retriever
    name: str = "dense"

    def run(self, query: Query) -> None:
        scores, ids = faiss_index.search(self.retriever.faiss(), query.vector, query.depth)
        query.dense = list(zip(ids.tolist(), scores.tolist()))


@dataclass
class Lexical:
    store: Store
    name: str = "lexical"

    def run(self, query: Query) -> None:
        query.lexical = self.store.lexical_search(query.question, query.depth)


@dataclass
class Fuse:
    """One ranking from the candidates: `method` is dense, bm25, rrf or hybrid (rag.retrieve.fuse).
    At least `keep` passages are kept for the re-ranking stages that follow."""

    method: str
    dense_weight: float
    keep: int = 0
    name: str = "fusion"

    def run(self, query: Query) -> None:
        ranked = fuse(query.dense, query.lexical, self.method, self.dense_weight)
        query.ranked = ranked[: max(query.k, self.keep)]


@dataclass
class Fetch:
    """The ranked passages' texts, and the question's cosine with each: from the dense search,
    or from the stored vector of a lexical-only candidate, read in the same snapshot (a later
    generation may delete that passage before the answer step needs it)."""

    store: Store
    name: str = "fetch"

    def run(self, query: Query) -> None:
        passages = self.store.passages_by_id(pid for pid, _ in query.ranked)
        dense_of, lexical_of = dict(query.dense), dict(query.lexical)
        cosine_of = dict(dense_of)
        missing = [pid for pid in passages if pid not in dense_of]
        if query.vector is not None and missing:
            fingerprint = self.store.get_meta("model")
            ids, vectors = self.store.passage_vectors(fingerprint, int(self.store.get_meta("dim")), missing)
            cosine_of.update(zip(ids.tolist(), (vectors @ query.vector).tolist()))
        query.hits = [
            Hit(passages[pid], score, dense_of.get(pid), lexical_of.get(pid), cosine_of.get(pid))
            for pid, score in query.ranked
            if pid in passages
        ]


@dataclass
class SentenceRescore:
    """The top `depth` hits re-ranked by their best sentence's overlap with the question
    (rag/sentences.py): xquad_en doc recall@1 .949 -> .964."""

    depth: int
    weight: float
    name: str = "rescore"

    def run(self, query: Query) -> None:
        query.hits = rescore(query.hits, query.info, self.depth, self.weight)


@dataclass
class EncoderRerank:
    """The top `depth` hits also scored by a larger bi-encoder's cosine (the opt-in "reranked"
    mode): its question vector, and the passages' vectors `rag index --rerank-model` stored."""

    retriever: Retriever
    depth: int
    weight: float
    name: str = "rerank"

    def run(self, query: Query) -> None:
        store = self.retriever.store
        vector = self.retriever.reranker().encode_query(query.question)
        fingerprint = store.get_meta("rerank_model")
        ids = [h.passage.id for h in query.hits[: self.depth]]
        found, vectors = store.passage_vectors(fingerprint, store.vector_dim(fingerprint), ids)
        query.hits = rerank(query.hits, vector, dict(zip(found.tolist(), vectors)), self.depth, self.weight)


def retrieval_stages(mode: str, retriever: Retriever) -> list[Stage]:
    """The stages of a retrieval mode (Config.MODES), in order."""
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")
    config = retriever.config
    stages: list[Stage] = [Embed(retriever)]
    if mode != "bm25":
        stages.append(Dense(retriever))
    if mode != "dense":
        stages.append(Lexical(retriever.store))
    rescored = mode in ("rescored", "reranked")
    method = "hybrid" if rescored else mode
    stages += [Fuse(method, config.dense_weight, config.rescore_depth if rescored else 0), Fetch(retriever.store)]
    if rescored:
        stages.append(SentenceRescore(config.rescore_depth, config.rescore_weight))
    if mode == "reranked":
        stages.append(EncoderRerank(retriever, config.rescore_depth, config.rerank_weight))
    return stages


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
        d, lex = _minmax(dense), _minmax(lexical)
        scores = {
            pid: dense_weight * d.get(pid, 0.0) + (1 - dense_weight) * lex.get(pid, 0.0)
            for pid in d.keys() | lex.keys()
        }
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _minmax(pairs: list[tuple[int, float]]) -> dict[int, float]:
    if not pairs:
        return {}
    values = [s for _, s in pairs]
    low, high = min(values), max(values)
    span = high - low
    return {pid: (s - low) / span if span > 0 else 1.0 for pid, s in pairs}
