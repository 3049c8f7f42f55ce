"""Answers: a short span of the right type inside the best answering sentence, cited exactly.

No extractive QA model ships on PyPI, so (DESIGN decision 4):
1. every sentence of the top passages is scored by its overlap with the question's content
   words and its passage's retrieval rank;
2. the best few are run through spaCy NER; a sentence holding an entity of the type the
   question asks for (who -> PERSON/ORG/NORP, when -> DATE/TIME, ...) that the question does
   not already name wins, and that entity is the answer;
3. with no typed span, the answer is the sentence itself.
The answer text is always a verbatim slice of the cited document:
`document.text[source.start:source.end] == answer.text`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rag.nlp import nlp
from rag.passages import sentence_spans
from rag.question import QuestionInfo, analyse, stem, terms_of
from rag.retrieve import Hit

NOT_FOUND = "I couldn't find that in the documents."
_LINE_BREAK = re.compile(r"\n+")


@dataclass(frozen=True)
class Citation:
    doc_id: str
    title: str
    path: str
    ordinal: int
    start: int  # offsets into the document's decoded text
    end: int
    score: float
    text: str

    @classmethod
    def from_hit(cls, hit: Hit) -> "Citation":
        p = hit.passage
        return cls(p.doc_id, p.title, p.path, p.ordinal, p.start, p.end, round(hit.score, 6), p.text)


@dataclass(frozen=True)
class AnswerSource:
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    question: str
    text: str | None
    abstained: bool
    source: AnswerSource | None  # where the answer text is, in its document
    citations: list[Citation]
    sentence: str | None = None  # the sentence the answer was taken from
    sentence_source: AnswerSource | None = None
    confidence: float = 0.0
    generation: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The `rag ask --json` shape: add keys, never rename them (tools rely on it)."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "answer_source": None if self.source is None else self.source.__dict__.copy(),
            "citations": [c.__dict__.copy() for c in self.citations],
            "sentence": self.sentence,
            "sentence_source": None if self.sentence_source is None else self.sentence_source.__dict__.copy(),
            "confidence": round(self.confidence, 4),
            "generation": self.generation,
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class Extracted:
    """The answer step's choice, with the signals the confidence is computed from."""

    hit_index: int  # which hit the answer comes from
    text: str
    source: AnswerSource
    sentence: str
    sentence_source: AnswerSource
    overlap: float  # share of the question's content words found in the sentence
    typed: bool  # the span is an entity of the type the question asks for


@dataclass(frozen=True)
class _Sentence:
    hit_index: int
    start: int  # offsets into the passage text
    end: int
    overlap: float
    score: float


# Tuned on the shared sets with `rag eval` (see the answer-quality note): passages beyond the
# third rarely hold the answer when the first three do not, and NER on more sentences costs time.
ANSWER_PASSAGES = 5
NER_SENTENCES = 4
RANK_WEIGHT = 0.15
TYPE_BONUS = 0.35
DENSE_WEIGHT = 1.0


def extract(question: str, hits: list[Hit], info: QuestionInfo | None = None) -> Extracted | None:
    if not hits:
        return None
    info = info or analyse(question)
    sentences = _score_sentences(hits[:ANSWER_PASSAGES], info)
    best = sorted(sentences, key=lambda s: -s.score)[:NER_SENTENCES]
    docs = nlp().pipe(hits[s.hit_index].passage.text[s.start : s.end] for s in best)
    chosen: tuple[float, _Sentence, tuple[int, int] | None] | None = None
    for sentence, doc in zip(best, docs):
        span = _typed_span(doc, info) if info.labels else _noun_phrase(doc, info)
        typed = span is not None and bool(info.labels)
        score = sentence.score + (TYPE_BONUS if typed else 0.0)
        if chosen is None or score > chosen[0]:
            chosen = (score, sentence, span)
    assert chosen is not None
    _, sentence, span = chosen
    passage = hits[sentence.hit_index].passage
    sent_source = AnswerSource(passage.doc_id, passage.start + sentence.start, passage.start + sentence.end)
    sent_text = passage.text[sentence.start : sentence.end]
    if span is None:
        source, text = sent_source, sent_text
    else:
        a, b = sentence.start + span[0], sentence.start + span[1]
        source, text = AnswerSource(passage.doc_id, passage.start + a, passage.start + b), passage.text[a:b]
    return Extracted(
        sentence.hit_index, text, source, sent_text, sent_source, sentence.overlap, span is not None and bool(info.labels)
    )


def _score_sentences(hits: list[Hit], info: QuestionInfo) -> list[_Sentence]:
    out = []
    for rank, hit in enumerate(hits):
        text = hit.passage.text
        for line_start, line_end in _lines(text):
            for start, end in sentence_spans(text, line_start, line_end):
                terms = set(terms_of(text[start:end]))
                overlap = len(info.terms & terms) / len(info.terms) if info.terms else 0.0
                dense = hit.dense or 0.0
                out.append(_Sentence(rank, start, end, overlap, overlap + DENSE_WEIGHT * dense + RANK_WEIGHT / (rank + 1)))
    return out


def _lines(text: str) -> list[tuple[int, int]]:
    """Single line breaks in a passage separate headings, captions and bylines from sentences."""
    spans, pos = [], 0
    for match in _LINE_BREAK.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [(a, b) for a, b in spans if b > a]


def _named_in_question(text: str, info: QuestionInfo) -> bool:
    """True if every content word of the span already appears in the question."""
    terms = terms_of(text)
    return bool(terms) and all(t in info.terms for t in terms)


def _typed_span(doc, info: QuestionInfo) -> tuple[int, int] | None:
    """The entity of an expected type nearest to the question's words in the sentence."""
    anchors = [t.idx for t in doc if stem(t.text) in info.terms]
    best: tuple[int, int, int] | None = None  # (priority, distance, index)
    for ent in doc.ents:
        if ent.label_ not in info.labels or _named_in_question(ent.text, info):
            continue
        priority = info.labels.index(ent.label_)
        distance = min((abs(ent.start_char - a) for a in anchors), default=0)
        key = (priority, distance, ent.start_char)
        if best is None or key < best:
            best = key
            span = (ent.start_char, ent.end_char)
    return None if best is None else span


def _noun_phrase(doc, info: QuestionInfo) -> tuple[int, int] | None:
    """For what/which questions: the noun phrase (or entity) not named in the question,
    nearest to the question's words."""
    anchors = [t.idx for t in doc if stem(t.text) in info.terms]
    if not anchors:
        return None
    candidates = list(doc.ents) + list(doc.noun_chunks)
    best = None
    for chunk in candidates:
        if _named_in_question(chunk.text, info) or not terms_of(chunk.text):
            continue
        if all(tok.is_stop or tok.pos_ == "PRON" for tok in chunk):
            continue
        distance = min(abs(chunk.start_char - a) for a in anchors)
        key = (distance, -len(chunk.text))
        if best is None or key < best[0]:
            best = (key, (chunk.start_char, chunk.end_char))
    return None if best is None else best[1]
