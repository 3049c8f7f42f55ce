"""Split a document into cited passages, each with character offsets into the document text."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rag.text import SPACED_WORD
from rag.types import PAGE_BREAK

# A blank line, or a page break: a passage never spans two pages, so it has one page to cite.
_PARAGRAPH_BREAK = re.compile(rf"\n[ \t\r\f\v]*\n|{re.escape(PAGE_BREAK)}")
# A sentence may end at . ! ? (optionally followed by closing quotes/brackets) before whitespace
# and a capital, digit or opening quote. Cheap and model-free; _ends_sentence then keeps
# abbreviations and initials ("Franklin D. Roosevelt") inside their sentence.
_SENTENCE_END = re.compile(r"""(?:(?<=[.!?])|(?<=[.!?]["'”’)\]]))\s+(?=["'“‘(\[]?[A-Z0-9])""")
# Their period rarely ends a sentence (case-sensitive: "No. 5" but "said no.").
_ABBREVIATIONS = frozenset(
    "Mr Mrs Ms Dr Prof St Mt Ft Jr Sr Gen Gov Sen Rep Rev Lt Col Capt Sgt No Nos Fig Figs "
    "vs v p pp e.g i.e cf al ca approx".split()
)
_LAST_WORD = re.compile(r"""["'“‘(\[]*(\S*?)\.$""")
_ACRONYM = re.compile(r"(?:[A-Z]\.)+[A-Z]")  # "U.S" of "U.S."
_INITIAL = re.compile(r"[A-Z]")


@dataclass(frozen=True)
class Passage:
    doc_id: str
    ordinal: int  # 0-based position among the document's passages
    start: int  # offsets into Document.text: text == document.text[start:end]
    end: int
    text: str


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spans(
    text: str,
    pattern: re.Pattern[str],
    start: int = 0,
    end: int | None = None,
    accept: Callable[[str, int], bool] | None = None,
) -> Iterator[tuple[int, int]]:
    """Stripped (start, end) spans of text[start:end] between matches of pattern (the matches
    `accept(text, match_start)` allows, if given)."""
    end = len(text) if end is None else end
    pos = start
    for match in pattern.finditer(text, start, end):
        if accept is None or accept(text, match.start()):
            yield from _stripped(text, pos, match.start())
            pos = match.end()
    yield from _stripped(text, pos, end)


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Stripped (start, end) spans of the sentences of text[start:end]."""
    return list(spans(text, _SENTENCE_END, start, end, accept=_ends_sentence))


def _ends_sentence(text: str, pos: int) -> bool:
    """Whether the punctuation just before `pos` ends a sentence: not after an abbreviation, a
    dotted acronym ("U.S."), or an initial after a name ("William E. Simon"). A lone capital
    after a lower-case word still ends one ("... vitamin C. The"). On xquad_en, 15 gold answers
    were cut in two by sentence breaks at initials and abbreviations."""
    words = text[max(0, pos - 60) : pos].split()
    match = _LAST_WORD.fullmatch(words[-1]) if words else None
    if match is None:  # ends in ! ? or a closing quote or bracket
        return True
    core = match.group(1)
    if core in _ABBREVIATIONS or _ACRONYM.fullmatch(core):
        return False
    if _INITIAL.fullmatch(core):
        return not (len(words) > 1 and words[-2][:1].isupper())
    return True


def split_passages(doc_id: str, text: str, max_words: int) -> list[Passage]:
    """Paragraphs (separated by blank lines or page breaks), exact duplicates within the document dropped,
    paragraphs over max_words packed into chunks of whole sentences."""
    seen: set[str] = set()
    out: list[Passage] = []
    for p_start, p_end in spans(text, _PARAGRAPH_BREAK):
        for start, end in _chunks(text, p_start, p_end, max_words):
            chunk = text[start:end]
            if chunk in seen:
                continue
            seen.add(chunk)
            out.append(Passage(doc_id, len(out), start, end, chunk))
    return out


def _word_count(text: str, start: int, end: int) -> int:
    return sum(1 for _ in SPACED_WORD.finditer(text, start, end))


def _chunks(text: str, start: int, end: int, max_words: int) -> Iterator[tuple[int, int]]:
    if _word_count(text, start, end) <= max_words:
        yield start, end
        return
    pieces: list[tuple[int, int]] = []
    for s_start, s_end in sentence_spans(text, start, end):
        if _word_count(text, s_start, s_end) <= max_words:
            pieces.append((s_start, s_end))
        else:  # a run-on "sentence": fall back to word boundaries
            words = [m.span() for m in SPACED_WORD.finditer(text, s_start, s_end)]
            for i in range(0, len(words), max_words):
                group = words[i : i + max_words]
                pieces.append((group[0][0], group[-1][1]))
    chunk_start, chunk_end, words_in = pieces[0][0], pieces[0][1], _word_count(text, *pieces[0])
    for p_start, p_end in pieces[1:]:
        n = _word_count(text, p_start, p_end)
        if words_in + n > max_words:
            yield chunk_start, chunk_end
            chunk_start, words_in = p_start, 0
        chunk_end = p_end
        words_in += n
    yield chunk_start, chunk_end
