"""Bulk stores for the scale benchmarks: real-looking text, synthetic vectors, the real publish.

Encoding a million passages would take hours here, so the vectors are drawn at random instead:
Gaussian with a power-law spectrum (variance of dimension i ~ 1/i), L2-normalised. Like real
sentence embeddings, most of the variance lies in a few directions, but there are no tight
topic clusters, so an approximate index finds neighbours here no more easily than on real
text (recall on real MiniLM vectors is measured separately, on SciFact). The text is real:
each passage is three sentences drawn from the SciFact abstracts, so FTS5 posting lists have
the length they would have on scientific text, and SciFact claims make realistic queries.

The store is written through rag.store.Store, and its FAISS file comes from
embeddings.index.build (flat or approximate, per Config.ann_threshold) as in `rag index`.
Stores are cached in bench/.cache/ and reused across runs.
"""
from __future__ import annotations

import hashlib
import random
import shutil
import time
from pathlib import Path

import numpy as np

from bench.common import CACHE, scifact_documents

FORMAT = 1  # bump when the generator changes, so stale caches are not reused
DIM = 384
PASSAGES_PER_DOC = 20
SENTENCES_PER_PASSAGE = 3


def synthetic_vectors(start: int, count: int, dim: int = DIM) -> np.ndarray:
    """Rows start..start+count of the deterministic synthetic corpus (blocks of 10,000 share a seed)."""
    scale = (np.arange(1, dim + 1, dtype=np.float32) ** -0.5).astype(np.float32)
    out = np.empty((count, dim), dtype=np.float32)
    block = 10_000
    pos = start
    while pos < start + count:
        first = pos - pos % block
        rng = np.random.default_rng([FORMAT, first])
        rows = rng.standard_normal((block, dim), dtype=np.float32)
        take = rows[pos - first : min(block, start + count - first)]
        out[pos - start : pos - start + len(take)] = take
        pos += len(take)
    out *= scale
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def near_queries(vectors: np.ndarray, count: int, seed: int = 7, noise: float = 0.9) -> np.ndarray:
    """Queries that each lie near one corpus vector (cosine to it ~0.7), as real questions do."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), count)]
    jitter = rng.standard_normal(picked.shape, dtype=np.float32) * (np.arange(1, vectors.shape[1] + 1) ** -0.5)
    jitter /= np.linalg.norm(jitter, axis=1, keepdims=True)
    out = picked + noise * jitter.astype(np.float32)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _sentence_pool() -> tuple[list[str], list[str]]:
    from rag.passages import sentence_spans

    titles, sentences = [], []
    for _, text in scifact_documents():
        title, _, body = text.partition("\n")
        titles.append(title.strip())
        sentences += [body[a:b].replace("\n", " ") for a, b in sentence_spans(body) if 20 <= b - a <= 400]
    return titles, sentences


def store_dir(passages: int) -> Path:
    return CACHE / f"synthetic-{passages}-f{FORMAT}"


def build_store(passages: int, config, log=print) -> dict:
    """Make sure config.index_dir holds a `passages`-passage store published with config's ANN settings.

    Returns what it did: seconds spent writing the store and publishing (0 when cached).
    """
    from embeddings import Encoder
    from rag.config import DEFAULT_MODEL

    folder = config.index_dir
    done = folder / ".complete"
    report = {"write_s": 0.0, "publish_s": 0.0}
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        _write(folder, passages, Encoder(DEFAULT_MODEL).fingerprint)
        done.touch()
        report["write_s"] = round(time.perf_counter() - started, 1)
        log(f"  wrote the {passages:,}-passage store in {report['write_s']:.0f} s")
    wanted = f"ann_threshold={config.ann_threshold}"  # nprobe is set at load time: no republish
    marker = folder / ".published"
    if marker.exists() and marker.read_text() == wanted:
        return report
    started = time.perf_counter()
    kind = publish(config, DEFAULT_MODEL)
    report["publish_s"] = round(time.perf_counter() - started, 1)
    marker.write_text(wanted)
    log(f"  published the {passages:,}-passage store ({kind}) in {report['publish_s']:.0f} s")
    return report


def publish(config, model_name: str) -> str:
    """A new generation from the stored vectors, as `rag index` publishes one: the FAISS file
    rebuilt by rag.generations (flat or approximate per config), written atomically, then the meta
    keys the retriever reads. Older generations' files are deleted (nobody reads this cache)."""
    from embeddings import Encoder, ann
    from embeddings import index as faiss_index
    from rag import generations
    from rag.store import Store

    model = Encoder(model_name).fingerprint
    with Store.open(config.store_path) as store, store.transaction():
        index = generations.rebuild_from_store(store, config, model)
        generation = store.generation + 1
        info = faiss_index.write_atomic(index, generations.faiss_path(config.index_dir, generation))
        generations.record_generation(store, config, generation, faiss_index.IndexManifest((info,)), model, model_name, index.d)
    generations.remove_stale(config.index_dir, generation, {info.name})
    return ann.describe(index)


def _write(folder: Path, passages: int, model: str) -> None:
    from rag.documents import Document
    from rag.passages import Passage
    from rag.store import Store

    titles, sentences = _sentence_pool()
    rng = random.Random(FORMAT)
    folder.mkdir(parents=True, exist_ok=True)
    with Store.open(folder / "store.sqlite", create=True) as store:
        store.conn.execute("PRAGMA synchronous=OFF")  # a crash only costs a rebuild of this cache
        made = 0
        docs_per_commit = 500
        while made < passages:
            with store.transaction():
                hashes_all: list[str] = []
                for _ in range(docs_per_commit):
                    if made >= passages:
                        break
                    doc_no = made // PASSAGES_PER_DOC
                    doc_id = f"syn{doc_no:07d}"
                    count = min(PASSAGES_PER_DOC, passages - made)
                    texts = [" ".join(rng.choices(sentences, k=SENTENCES_PER_PASSAGE)) for _ in range(count)]
                    body = "\n\n".join(texts)
                    items, pos = [], 0
                    for ordinal, text in enumerate(texts):
                        items.append(Passage(doc_id, ordinal, pos, pos + len(text), text))
                        pos += len(text) + 2
                    hashes = [hashlib.sha256(f"{doc_id}/{p.ordinal}".encode()).hexdigest() for p in items]
                    doc = Document(doc_id, f"{doc_id}.txt", rng.choice(titles), body, hashlib.sha256(body.encode()).hexdigest())
                    store.insert_document(doc, items, hashes)
                    hashes_all += hashes
                    made += count
                start = made - len(hashes_all)
                store.put_vectors(model, hashes_all, synthetic_vectors(start, len(hashes_all)))


def main() -> None:
    import argparse

    from bench.common import peak_rss_mb, pin_threads, write_json
    from rag.config import Config

    parser = argparse.ArgumentParser(description="Build (or reuse) a synthetic bulk store and publish it.")
    parser.add_argument("--passages", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    pin_threads(2)  # building is a batch job: FAISS training may use both cores
    report = build_store(args.passages, Config(index_dir=store_dir(args.passages)))
    write_json(args.out, {**report, "peak_rss_mb": round(peak_rss_mb(), 1)})


if __name__ == "__main__":
    main()
