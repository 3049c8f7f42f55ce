"""`rag index`: bring the store in line with the seeds folder and publish a new generation.

Only passages whose embedded text has no vector for the current model are encoded. Vectors
are committed in batches as they are made (a killed run keeps its work); the documents,
passages, FTS rows and the pointer to the new FAISS file change in one transaction, after the
FAISS file is durably on disk. A crash at any moment leaves the previous generation loadable.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from embeddings import Encoder
from embeddings import index as faiss_index
from rag.config import DEFAULT_MODEL, Config
from rag.documents import Document, SeedsError, load_documents
from rag.passages import Passage, split_passages, text_hash
from rag.store import Store

FAISS_PREFIX = "faiss-g"


@dataclass
class IndexReport:
    documents: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    passages: int = 0
    encoded: int = 0
    seconds: float = 0.0
    generation: int = 0
    published: bool = False
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.documents} documents ({self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.deleted} deleted), {self.passages} passages, {self.encoded} encoded, "
            f"generation {self.generation}, {self.seconds:.1f} s"
        )


def embed_text(title: str, passage_text: str) -> str:
    """What the encoder sees: the title gives a passage its topic (DESIGN decision 2)."""
    return f"{title}\n\n{passage_text}"


def _crash_point(name: str) -> None:
    """Test hook: RAG_TEST_KILL_AT=<name> SIGKILLs this process here (crash-safety tests)."""
    if os.environ.get("RAG_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


ProgressFactory = Callable[[int], Callable[[int], None]]


def index_seeds(
    config: Config,
    progress: ProgressFactory | None = None,
    encoder: Encoder | None = None,
    rebuild: bool = False,
) -> IndexReport:
    """Index config.seeds_dir into config.index_dir. `progress(total)` returns a per-batch callback."""
    started = time.perf_counter()
    loaded = load_documents(config.seeds_dir, config.extensions, config.max_file_bytes)
    report = IndexReport(warnings=loaded.warnings)
    if not loaded.documents:
        raise SeedsError(f"no indexable documents in {config.seeds_dir} (looked for {', '.join(config.extensions)})")
    if rebuild and config.store_path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config.store_path}{suffix}").unlink(missing_ok=True)
    store = Store.open(config.store_path, create=True)
    try:
        if encoder is None:
            name = config.model or store.get_meta("model_name") or DEFAULT_MODEL
            encoder = Encoder(name, threads=config.torch_threads, batch_size=config.encode_batch_size)
        model = encoder.fingerprint
        before = store.document_hashes()
        todo = [d for d in loaded.documents if before.get(d.doc_id) != d.sha256]
        split = {d.doc_id: split_passages(d.doc_id, d.text, config.max_passage_words) for d in todo}
        hashes = {d.doc_id: [text_hash(embed_text(d.title, p.text)) for p in split[d.doc_id]] for d in todo}
        texts = {h: embed_text(d.title, p.text) for d in todo for p, h in zip(split[d.doc_id], hashes[d.doc_id])}
        # Vectors first, in their own small commits: harmless to readers, kept if we die.
        report.encoded += _encode_missing(store, encoder, model, texts, progress, config.encode_batch_size)
        with store.transaction():
            _apply_changes(store, loaded.documents, split, hashes, report, config.max_passage_words)
            # Passages the pre-read missed (another writer) or a model switch needs.
            leftovers = store.missing_vectors(model)
            if leftovers:
                report.encoded += _encode_stored(store, encoder, model, [pid for _, pid in leftovers], progress)
            store.prune_vectors()
            report.generation = store.generation
            if _needs_publish(store, config, model, report):
                report.generation = _publish(store, config, encoder, model)
                report.published = True
        _remove_stale_faiss(config.index_dir, store)
        counts = store.counts()
        report.documents, report.passages = counts["documents"], counts["passages"]
    finally:
        store.close()
    report.seconds = time.perf_counter() - started
    return report


def _encode_missing(store: Store, encoder: Encoder, model: str, texts: dict[str, str], progress, batch: int) -> int:
    have = store.has_vectors(model, texts)
    missing = [h for h in texts if h not in have]
    if not missing:
        return 0
    tick = progress(len(missing)) if progress else None
    step = max(batch * 8, 256)
    for i in range(0, len(missing), step):
        chunk = missing[i : i + step]
        vectors = encoder.encode([texts[h] for h in chunk], progress=tick)
        with store.transaction():
            store.put_vectors(model, chunk, vectors)
    return len(missing)


def _encode_stored(store: Store, encoder: Encoder, model: str, passage_ids: list[int], progress) -> int:
    """Encode passages already in the store (inside the caller's transaction)."""
    passages = store.passages_by_id(passage_ids)
    items = [(embed_text(p.title, p.text), pid) for pid, p in passages.items()]
    texts = {text_hash(t): t for t, _ in items}
    tick = progress(len(texts)) if progress else None
    hashes = list(texts)
    store.put_vectors(model, hashes, encoder.encode([texts[h] for h in hashes], progress=tick))
    return len(hashes)


def _apply_changes(
    store: Store,
    documents: list[Document],
    split: dict[str, list[Passage]],
    hashes: dict[str, list[str]],
    report: IndexReport,
    max_words: int,
) -> None:
    current = store.document_hashes()
    wanted = {d.doc_id for d in documents}
    gone = [doc_id for doc_id in current if doc_id not in wanted]
    store.delete_documents(gone)
    report.deleted = len(gone)
    for doc in documents:
        old = current.get(doc.doc_id)
        if old == doc.sha256:
            report.unchanged += 1
            continue
        if old is None:
            report.new += 1
        else:
            report.changed += 1
            store.delete_documents([doc.doc_id])
        # A document another writer changed after our pre-read was not split yet.
        passages = split.get(doc.doc_id) or split_passages(doc.doc_id, doc.text, max_words)
        doc_hashes = hashes.get(doc.doc_id) or [text_hash(embed_text(doc.title, p.text)) for p in passages]
        store.insert_document(doc, passages, doc_hashes)


def _needs_publish(store: Store, config: Config, model: str, report: IndexReport) -> bool:
    if report.new or report.changed or report.deleted or report.encoded:
        return True
    if store.get_meta("model") != model:
        return True
    info = store.faiss_info()
    if info is None:
        return True
    try:
        faiss_index.load_verified(config.index_dir, info)
    except faiss_index.IndexFileError as exc:
        report.warnings.append(f"{exc}; rebuilt from stored vectors")
        return True
    return False


def _publish(store: Store, config: Config, encoder: Encoder, model: str) -> int:
    """Write the next generation's FAISS file, then point the store at it (caller commits)."""
    generation = store.generation + 1
    dim = store.vector_dim(model)
    ids, vectors = store.passage_vectors(model, dim)
    built = faiss_index.build(ids, vectors, dim)
    _crash_point("before_faiss_replace")
    info = faiss_index.write_atomic(built, config.index_dir / f"{FAISS_PREFIX}{generation}.index")
    _crash_point("after_faiss_replace")
    store.set_faiss_info(info)
    store.set_meta("generation", str(generation))
    store.set_meta("model", model)
    store.set_meta("model_name", encoder.name)
    store.set_meta("dim", str(dim))
    store.set_meta("indexed_at", str(time.time()))
    store.set_meta("config", config.to_json())
    _crash_point("before_commit")
    return generation


def _remove_stale_faiss(index_dir: Path, store: Store) -> None:
    """Keep the current and the previous generation's file (a reader may still be loading it)."""
    _crash_point("after_commit")
    generation = store.generation
    keep = {f"{FAISS_PREFIX}{generation}.index", f"{FAISS_PREFIX}{generation - 1}.index"}
    for path in index_dir.glob(f"{FAISS_PREFIX}*.index"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    for path in index_dir.glob(f".{FAISS_PREFIX}*.tmp-*"):  # left by a killed writer
        pid = int(path.name.rsplit("-", 1)[1])
        if not _alive(pid):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
