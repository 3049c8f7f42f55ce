"""Lexical search within a postings budget (rag/lexical.py) against plain FTS5 BM25."""
from __future__ import annotations

import hashlib
import random

import pytest

from rag.documents import Document
from rag.lexical import LexicalSearch
from rag.passages import Passage
from rag.store import Store

COMMON = ["river", "stone", "light", "water"]
RARE = ["zeppelin", "quokka", "marimba"]
FILLER = [f"word{n}" for n in range(40)]


def add_documents(store: Store, first: int, count: int, rng: random.Random, extra: list[str] = ()) -> None:
    """Documents of 10 passages, every passage exactly 8 words and every title 3 (so average
    lengths agree between the candidates and the whole table)."""
    with store.transaction():
        for d in range(first, first + count):
            texts = []
            for _ in range(10):
                words = rng.sample(FILLER, 8)
                for i, word in enumerate(COMMON):
                    if rng.random() < 0.5:
                        words[i] = word
                if rng.random() < 0.03:
                    words[5] = rng.choice(RARE)
                if rng.random() < 0.3:  # a word twice: term frequency matters in BM25
                    words[7] = words[5] if rng.random() < 0.5 else words[0]
                texts.append(" ".join(words))
            texts += [" ".join([w, *rng.sample(FILLER, 7)]) for w in extra]
            body, passages, pos = "\n\n".join(texts), [], 0
            for n, text in enumerate(texts):
                passages.append(Passage(f"d{d}", n, pos, pos + len(text), text))
                pos += len(text) + 2
            title = f"Title {d} " + ("quokka" if d % 7 == 0 else "notes")  # titles count, at half weight
            doc = Document(f"d{d}", f"d{d}.txt", title, body, hashlib.sha256(body.encode()).hexdigest())
            store.insert_document(doc, passages, [hashlib.sha256(f"{d}/{p.ordinal}".encode()).hexdigest() for p in passages])


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "store.sqlite", create=True)
    add_documents(s, 0, 60, random.Random(1))
    yield s
    s.close()


QUERY = ["river", "zeppelin", "light", "quokka", "water"]


def reference_bm25(store: Store, words: list[str]) -> dict[int, float]:
    """Every matching passage's score from a plain FTS5 query written out here: an OR of the
    quoted words, title at half weight, bm25() negated so that higher is better."""
    match = " OR ".join(f'"{w}"' for w in words)
    rows = store.conn.execute(
        "SELECT rowid, -bm25(passages_fts, 0.5, 1.0) FROM passages_fts WHERE passages_fts MATCH ?", (match,))
    return {int(pid): float(score) for pid, score in rows}


def assert_top_of(reference: dict[int, float], hits: list[tuple[int, float]], limit: int) -> None:
    """`hits` are `limit` best passages of `reference`, best first, with its scores (ties in any order)."""
    assert len(hits) == min(limit, len(reference))
    for pid, score in hits:
        assert score == pytest.approx(reference[pid], rel=1e-9, abs=1e-9), pid
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    rest = sorted((s for pid, s in reference.items() if pid not in dict(hits)), reverse=True)
    assert not rest or rest[0] <= scores[-1] + 1e-9  # nothing left out beats the last one kept


def test_within_budget_it_is_plain_fts5(store):
    reference = reference_bm25(store, QUERY)
    assert len(reference) > 100  # 600 passages, far under the default budget: the plain branch
    assert_top_of(reference, LexicalSearch(store.conn, budget=10**9).search(QUERY, 50), 50)
    assert_top_of(reference, store.lexical_search(" ".join(QUERY), 50), 50)


def test_past_the_budget_candidates_come_from_rare_words_and_keep_their_exact_bm25(store):
    plain = reference_bm25(store, QUERY)
    budgeted = LexicalSearch(store.conn, budget=150).search(QUERY, 100)
    assert budgeted
    rare_ids = set(reference_bm25(store, ["zeppelin", "quokka"]))
    assert {pid for pid, _ in budgeted} <= rare_ids  # the common words were not read
    for pid, score in budgeted:  # but still count in the score: FTS5's own bm25 of all the words
        assert score == pytest.approx(plain[pid], rel=1e-9, abs=1e-9)
    assert [pid for pid, _ in budgeted] == sorted(rare_ids, key=lambda p: (-plain[p], p))[: len(budgeted)]


def test_the_rarest_word_is_kept_even_if_it_alone_exceeds_the_budget(store):
    hits = LexicalSearch(store.conn, budget=1).search(["river", "quokka"], 10)
    assert hits
    texts = store.passages_by_id(pid for pid, _ in hits)
    assert all("quokka" in p.title + p.text for p in texts.values())


def test_frequencies_follow_another_connections_commit(store, tmp_path):
    search = LexicalSearch(store.conn, budget=10)
    before = search.search(["river", "marimba"], 500)
    with Store.open(tmp_path / "store.sqlite") as writer:
        add_documents(writer, 1000, 5, random.Random(2), extra=["marimba"] * 3)
    after = search.search(["river", "marimba"], 500)
    new_ids = {pid for (pid,) in store.conn.execute("SELECT id FROM passages WHERE doc_id LIKE 'd100_'")}
    assert not {pid for pid, _ in before} & new_ids
    assert new_ids & {pid for pid, _ in after}
