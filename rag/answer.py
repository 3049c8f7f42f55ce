"""Answers: a short span of the right type inside the best answering sentence, cited exactly.

No extractive QA model ships on PyPI, so (DESIGN decision 4):
1. every sentence of the top passages is scored by its overlap with the question's content
   words and its passage's retrieval evidence (rag/sentences.py);
2. the best few are run through spaCy NER; a sentence holding an entity of the type the
   question asks for (who -> PERSON/ORG/NORP, when -> DATE/TIME, ...) that the question does
   not already name wins, and that entity is the answer (narrowed to the year or age a question
   asks for, without a hedge such as "roughly" or a possessive "'s");
3. with no typed span, the answer is the sentence itself.
The answer text is always a verbatim slice of the cited document:
`document.text[source.start:source.end] == answer.text`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rag.nlp import entity_docs, nlp
from rag.pipeline import Query
from rag.question import QuestionInfo, analyse
from rag.sentences import Sentence, score_sentences
from rag.text import stem, terms_of
from rag.types import Hit

NOT_FOUND = "I couldn't find that in the documents."


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
    rank: int = 0  # 1-based retrieval rank (the answer's passage is cited first, whatever its rank)
    page: int | None = None  # 1-based page in a document with pages (a PDF), else None

    def location(self) -> str:
        """Where to find the passage: "report.pdf, page 4, paragraph 12" (both counted from 1)."""
        page = "" if self.page is None else f", page {self.page}"
        return f"{self.path}{page}, paragraph {self.ordinal + 1}"

    @classmethod
    def from_hit(cls, hit: Hit, rank: int) -> Citation:
        p = hit.passage
        return cls(p.doc_id, p.title, p.path, p.ordinal, p.start, p.end, round(hit.score, 6), p.text, rank, p.page)


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

    def to_json(self) -> str:
        """One line of `rag ask --json` (the chat page's `/ask` API returns the same text)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass(frozen=True)
class Extracted:
    """The answer step's choice, with the signals the confidence is computed from."""

    hit_index: int  # which hit the answer comes from
    text: str
    source: AnswerSource
    sentence: str
    sentence_source: AnswerSource
    overlap: float  # share of the question's content words found in the sentence
    type_fit: float  # 1 when the span is an entity of the type the question asks for, 0 when untyped
    reader_margin: float = 0.0  # the reader's span score over its no-answer score (rag/reader.py)
    reader_no_answer: float = 0.0  # the lowest no-answer score among the passages read (rag/reader.py)


# Tuned on xquad_en and the seed questions (figures in DESIGN.md). Five passages let
# the answer step reach a passage that retrieval ranks 4th or 5th (the seed's "handed it over"
# passage for "Who succeeded Stoltenberg?"); NER on more than 4 sentences only costs time.
ANSWER_PASSAGES = 5
NER_SENTENCES = 4
TYPE_BONUS = 0.7
TYPE_DECAY = 0.4  # fit of the 2nd, 3rd expected label: 1 - decay, 1 - 2 * decay
NP_REPEAT_PENALTY = 1  # 3 before: xquad_en F1 .386 -> .399 at 1, .387 at 0


@dataclass
class Extract:
    """The answer stage of the span rules (the "rules" answerer)."""

    name: str = "extract"

    def run(self, query: Query) -> None:
        query.extracted = extract(query.question, query.hits, query.info)


def extract(question: str, hits: list[Hit], info: QuestionInfo | None = None) -> Extracted | None:
    if not hits:
        return None
    info = info or analyse(question)
    sentences = score_sentences(hits[:ANSWER_PASSAGES], info)
    best = sorted(sentences, key=lambda s: -s.score)[:NER_SENTENCES]
    text_of = lambda s: hits[s.hit_index].passage.text[s.start : s.end]  # noqa: E731
    chosen: tuple[float, Sentence, tuple[int, int] | None, float] = (best[0].score, best[0], None, 0.0)
    if info.labels:
        # Entities alone need only the NER component (half the cost of the full pipeline).
        for sentence, doc in zip(best, entity_docs(map(text_of, best))):
            span, fit = _typed_span(doc, info)
            score = sentence.score + TYPE_BONUS * fit
            if score > chosen[0]:
                chosen = (score, sentence, span, fit)
    _, sentence, span, fit = chosen
    sent_text = text_of(sentence)
    if span is None:
        # No entity of the asked-for type (or none asked for): a noun phrase, which needs the
        # parser, so it runs on the one sentence chosen.
        span = _noun_phrase(nlp()(sent_text), info)
    if span is not None and fit > 0:
        span = _answering_part(sent_text, *span, info)
    if span is not None:
        span = _without_possessive(sent_text, *_balanced(sent_text, *span))
    passage = hits[sentence.hit_index].passage
    sent_source = AnswerSource(passage.doc_id, passage.start + sentence.start, passage.start + sentence.end)
    if span is None:
        source, text = sent_source, sent_text
    else:
        a, b = sentence.start + span[0], sentence.start + span[1]
        source, text = AnswerSource(passage.doc_id, passage.start + a, passage.start + b), passage.text[a:b]
    return Extracted(
        sentence.hit_index, text, source, sent_text, sent_source, sentence.overlap, fit
    )


_OPENERS = {"(": ")", "[": "]", '"': '"', "“": "”"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


def _unmatched(text: str) -> int | None:
    """Position of the first bracket or double quote in `text` left without its partner."""
    stack: list[int] = []
    for i, ch in enumerate(text):
        if stack and _OPENERS[text[stack[-1]]] == ch:
            stack.pop()
        elif ch in _OPENERS:
            stack.append(i)
        elif ch in _CLOSERS:
            return i
    return stack[0] if stack else None


def _balanced(sentence: str, start: int, end: int) -> tuple[int, int]:
    """Trim a span that cuts through brackets or quotes (spaCy's entity and noun-phrase edges
    do): "(Portuguese" -> "Portuguese", "a commune (gmina" -> "a commune". At a quote the
    quoted words are kept ("a "mad scientist" -> "mad scientist"); at a bracket, the words
    outside it; the other side when that side has no word. A span is never emptied."""
    while (cut := _unmatched(sentence[start:end])) is not None:
        at = start + cut
        before, after = (start, at), (at + 1, end)
        quote = sentence[at] in '"“”'
        first, second = (after, before) if quote == (sentence[at] in _OPENERS) else (before, after)
        for a, b in (first, second):
            a, b = _strip(sentence, a, b)
            if terms_of(sentence[a:b]):
                start, end = a, b
                break
        else:
            break
    return start, end


# Words spaCy puts inside a number's entity that say how exact it is, not what it is:
# "Only 100–150", "roughly 500,000", "about 2 million".
_HEDGE = re.compile(r"(only|just|roughly|about|around|approximately|nearly|almost|some|an estimated|estimated)\s+", re.I)


def _answering_part(sentence: str, start: int, end: int, info: QuestionInfo) -> tuple[int, int]:
    """A typed entity narrowed to what the question asks: its year or age number when the
    question asks for one (QuestionInfo.focus), and without a leading hedge word."""
    if info.focus is not None and (focused := info.focus.search(sentence, start, end)):
        return focused.span()
    hedge = _HEDGE.match(sentence, start, end)
    return (hedge.end(), end) if hedge and hedge.end() < end else (start, end)


_POSSESSIVE = re.compile(r"(?<=\w)['’]s?$")


def _without_possessive(sentence: str, start: int, end: int) -> tuple[int, int]:
    """"Charles Darwin's" -> "Charles Darwin": the possessive belongs to the sentence, not the name."""
    possessive = _POSSESSIVE.search(sentence, start, end)
    return (start, possessive.start()) if possessive and possessive.start() > start else (start, end)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets without surrounding spaces and commas."""
    while start < end and text[start] in " ,;:":
        start += 1
    while end > start and text[end - 1] in " ,;:":
        end -= 1
    return start, end


def _named_in_question(text: str, info: QuestionInfo, partly: bool = False) -> bool:
    """True if the span's content words already appear in the question: all of them, or with
    `partly` any of them (an entity "Jens Stoltenberg" is the "Stoltenberg" asked about)."""
    terms = terms_of(text)
    return bool(terms) and (any if partly else all)(t in info.terms for t in terms)


_NUMERIC = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"})


def _anchors(doc, info: QuestionInfo) -> list[int]:
    """Token positions of the question's content words in the sentence."""
    return [t.i for t in doc if stem(t.text) in info.terms]


def _gap(span, anchors: list[int]) -> int:
    """Tokens between a span and the nearest question word (0 if it touches or contains one)."""
    if not anchors:
        return 0
    return min(max(span.start - a - 1, a - span.end, 0) for a in anchors)


def _typed_span(doc, info: QuestionInfo) -> tuple[tuple[int, int] | None, float]:
    """The entity of an expected type nearest to the question's words in the sentence, and how
    well its type fits (1 for the first expected label, less for the later, looser ones)."""
    anchors = _anchors(doc, info)
    ents = list(doc.ents)
    best = None
    for i, ent in enumerate(ents):
        # A name is "named" if any word of it is in the question; a number or date only if all are.
        if ent.label_ not in info.labels or _named_in_question(ent.text, info, partly=ent.label_ not in _NUMERIC):
            continue
        priority = info.labels.index(ent.label_)
        if info.avoid is not None and info.avoid.search(ent.text):
            continue
        if info.prefer is not None and not info.prefer.search(ent.text):
            priority += len(info.labels)
        key = (priority, _gap(ent, anchors), ent.start_char)
        if best is None or key < best[0]:
            best = (key, _list_span(doc, ents, i))
    if best is None:
        return None, 0.0
    priority = best[0][0]
    return best[1], max(0.0, 1.0 - TYPE_DECAY * priority)


def _list_span(doc, ents, i: int) -> tuple[int, int]:
    """Widen "Germany" to "France and Germany" when entities of one type are listed."""
    def joined(left, right) -> bool:
        gap = doc.text[left.end_char : right.start_char]
        return left.label_ == right.label_ and gap.strip(" ,") in ("and", "or", "")

    first = last = i
    while first > 0 and joined(ents[first - 1], ents[first]):
        first -= 1
    while last + 1 < len(ents) and joined(ents[last], ents[last + 1]):
        last += 1
    return ents[first].start_char, ents[last].end_char


def _noun_phrase(doc, info: QuestionInfo) -> tuple[int, int] | None:
    """For what/which questions: the noun phrase (or entity) not named in the question,
    nearest to the question's words."""
    anchors = _anchors(doc, info)
    if not anchors:
        return None
    candidates = list(doc.ents) + list(doc.noun_chunks)
    best = None
    for chunk in candidates:
        terms = terms_of(chunk.text)
        if not terms or all(t in info.terms for t in terms):  # nothing, or only what the question names
            continue
        if all(tok.is_stop or tok.pos_ == "PRON" for tok in chunk):
            continue
        # A phrase that repeats part of the question is rarely what it asks for.
        repeats = any(t in info.terms for t in terms)
        key = (_gap(chunk, anchors) + NP_REPEAT_PENALTY * repeats, -len(chunk.text))
        if best is None or key < best[0]:
            best = (key, (chunk.start_char, chunk.end_char))
    return None if best is None else best[1]
