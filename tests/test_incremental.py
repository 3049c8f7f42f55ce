"""Incremental indexing on a 2,000-passage corpus: only new text is encoded, and a deleted
document's passages leave both the lexical (FTS5) and the dense (FAISS) results."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

import pytest

from conftest import RAG, open_qa
from rag.config import Config
from rag.indexer import index_seeds
from rag.status import check_index, index_status
from seedgen import doc_name, document, marker, write_corpus

DOCS, PASSAGES = 250, 8  # 2,000 passages (the title line is a passage too)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, encoder) -> Config:
    root = tmp_path_factory.mktemp("incremental")
    config = Config(seeds_dir=root / "seeds", index_dir=root / "index")
    write_corpus(config.seeds_dir, range(DOCS), PASSAGES)
    first = index_seeds(config)
    assert (first.passages, first.encoded) == (DOCS * PASSAGES, DOCS * PASSAGES)
    return config


@pytest.fixture
def qa(corpus, encoder):
    qa = open_qa(corpus, encoder)
    yield qa
    qa.close()


def run_in_terminal(args: list[str]) -> str:
    """Run a command with stdout and stderr on a pseudo-terminal (as a user at a shell); its output."""
    leader, follower = pty.openpty()
    # A real terminal has a size; tqdm draws nothing on a zero-column one.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_unchanged_corpus_encodes_nothing_and_keeps_the_generation(corpus, encoder):
    before = index_status(corpus)["generation"]
    report = index_seeds(corpus)
    assert (report.encoded, report.new, report.changed, report.deleted) == (0, 0, 0, 0)
    assert not report.published and report.generation == before


def test_adding_a_document_encodes_exactly_its_passages_with_progress_bar(corpus):
    (corpus.seeds_dir / "added.txt").write_text(document(9001, 6), encoding="utf-8")
    out = run_in_terminal(
        [RAG, "index", "--seeds", str(corpus.seeds_dir), "--index-dir", str(corpus.index_dir)]
    )
    summary = re.search(
        r"indexed: (\d+) documents \(1 new, 0 changed, (\d+) unchanged, 0 deleted\), (\d+) passages, "
        r"(\d+) encoded, generation \d+, [\d.]+ s",
        out,
    )
    assert summary, out
    assert summary.groups() == (str(DOCS + 1), str(DOCS), str(DOCS * PASSAGES + 6), "6"), out
    assert re.search(r"encoding: 100%.*6/6", out), "no tqdm bar on a terminal:\n" + out
    assert len(index_status(corpus)["faiss_files"]) == 2  # published as a small delta beside the base
    assert check_index(corpus) == []


def test_changing_one_paragraph_encodes_only_that_paragraph(corpus, encoder, qa):
    path = corpus.seeds_dir / doc_name(17)
    paragraphs = path.read_text(encoding="utf-8").split("\n\n")
    old, new = paragraphs[3], f"{marker(17)} rewritten: the lighthouse keeper counted ninety gulls."
    paragraphs[3] = new
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    passages_before = qa.retriever.store.counts()["passages"]

    report = index_seeds(corpus)

    assert (report.changed, report.new, report.deleted, report.encoded) == (1, 0, 0, 1)
    assert report.passages == passages_before
    assert qa.retriever.search("lighthouse keeper ninety gulls", k=1, mode="bm25").hits[0].passage.text == new
    assert old not in [h.passage.text for h in qa.retriever.search(old, k=10, mode="bm25").hits]
    assert check_index(corpus) == []


def test_deleted_document_leaves_lexical_and_dense_results(corpus, encoder, qa):
    n = 42
    path = corpus.seeds_dir / doc_name(n)
    probe = path.read_text(encoding="utf-8").split("\n\n")[2]
    doc_id = path.stem
    lexical = qa.retriever.search(marker(n), k=20, mode="bm25").hits
    dense = qa.retriever.search(probe, k=5, mode="dense").hits
    # The checks below can fail: before the delete, both indexes find the document.
    assert {h.passage.doc_id for h in lexical} == {doc_id} and len(lexical) == PASSAGES - 1
    assert dense[0].passage.doc_id == doc_id and dense[0].passage.text == probe
    passages_before = qa.retriever.store.counts()["passages"]

    path.unlink()
    report = index_seeds(corpus)

    assert (report.deleted, report.encoded, report.passages) == (1, 0, passages_before - PASSAGES)
    for mode, question in [("bm25", marker(n)), ("dense", probe), ("hybrid", probe), ("rrf", marker(n))]:
        hits = qa.retriever.search(question, k=50, mode=mode).hits
        assert doc_id not in {h.passage.doc_id for h in hits}, mode
    assert check_index(corpus) == []  # FAISS holds exactly the store's passage ids

