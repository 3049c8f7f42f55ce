"""What a question asks for: its expected answer types and its content words.

No extractive QA model ships its weights on PyPI, so the answer step relies on the question
word to decide what kind of span answers it (DESIGN decision 4).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import TERM_WORD, stem, terms_of

DURATION = re.compile(r"\b(years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centur(y|ies))\b", re.I)
AGE = re.compile(r"^\d{1,3}$|\b\d{1,3}[- ]years?[- ]old\b|\baged? \d{1,3}\b", re.I)
# The part of a typed span that answers: the year of "May 2012" for "In what year ...?", the
# number of "age 39" or "57-year-old" for "How old ...?".
YEAR = re.compile(r"\b\d{3,4}\b")
AGE_NUMBER = re.compile(r"\b\d{1,3}\b")

PERSON_LIKE = ("PERSON", "ORG", "NORP")
TIME_LIKE = ("DATE", "TIME")
NUMBER_LIKE = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE")
PLACE_LIKE = ("GPE", "LOC", "FAC")

# (pattern on the lower-cased question, expected entity labels), first match wins.
_RULES: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"\bhow (many|much)\b"), ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")),
    (re.compile(r"\bhow old\b"), ("DATE", "CARDINAL")),
    (re.compile(r"\bhow (long|far|big|large|tall|high|wide|deep|heavy|fast)\b"), ("DATE", "TIME", "QUANTITY", "CARDINAL")),
    (re.compile(r"\b(what|which) (year|date|day|month|century|decade|time|period|era)\b"), TIME_LIKE),
    (re.compile(r"\b(what|which) (percentage|percent|proportion|share)\b"), ("PERCENT",)),
    (re.compile(r"\b(what|which) (country|city|state|region|place|continent|nation|town|location)\b"), PLACE_LIKE),
    (re.compile(r"\bwhen\b"), TIME_LIKE),
    (re.compile(r"\bwhere\b"), PLACE_LIKE),
    (re.compile(r"\b(who|whom|whose)\b"), PERSON_LIKE),
    (re.compile(r"\b(what|which) (company|organization|organisation|team|group|party|agency|university)\b"), ("ORG",)),
    (re.compile(r"\b(what|which) (language|nationality|religion)\b"), ("NORP", "LANGUAGE")),
    (re.compile(r"\b(what|which) (person|man|woman|king|president|leader|player|author|scientist)\b"), ("PERSON",)),
]


# The head noun of a "what/which ..." question often names the type ("what player", "the name
# of the company"); checked after the question-word rules above found nothing.
_HEAD_NOUNS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        "person man woman king queen president leader player author writer scientist emperor pope "
        "composer artist architect founder ruler minister general coach quarterback inventor".split(),
        ("PERSON",),
    ),
    **dict.fromkeys("company organization organisation team group party agency university club".split(), ("ORG",)),
    **dict.fromkeys("country city state region place continent nation town location island river".split(), PLACE_LIKE),
    **dict.fromkeys("year date day month century decade".split(), TIME_LIKE),
    **dict.fromkeys("number amount percentage".split(), ("CARDINAL", "PERCENT", "QUANTITY", "MONEY")),
}
_WHAT = re.compile(r"\b(what|which)\b(.*)")
# The question word that leads the question decides its type: "What does Doctor Who do when
# his body is damaged?" asks neither who nor when.
_LEAD = re.compile(r"\b(what|which|who|whom|whose|when|where|how|why)\b")
# After "what did/does ...", the words that follow are the question's subject, not the answer's
# type ("What did the General Conference name ...?" does not ask for a general).
_AUXILIARIES = frozenset("do does did can could will would should shall may might must has have had".split())


@dataclass(frozen=True)
class QuestionInfo:
    text: str
    labels: tuple[str, ...]  # expected entity labels; () = a noun phrase or the sentence
    terms: frozenset[str]  # stemmed content words
    bigrams: frozenset[tuple[str, str]]  # consecutive content words, in question order
    # Within the expected types, spans matching `prefer` rank first ("how long" -> "10 years",
    # "how old" -> "65" or "57-year-old"), and spans matching `avoid` are never the answer
    # ("when" -> not an age such as "57-year-old", which spaCy labels DATE).
    prefer: re.Pattern[str] | None = None
    avoid: re.Pattern[str] | None = None
    focus: re.Pattern[str] | None = None  # narrows a typed span to the part that answers


def analyse(question: str) -> QuestionInfo:
    lower = question.lower()
    labels: tuple[str, ...] = ()
    lead = _LEAD.search(lower)
    at = lead.start() if lead else 0
    for pattern, wanted in _RULES:
        if pattern.match(lower, at):
            labels = wanted
            break
    else:
        what = _WHAT.match(lower, at)
        words = TERM_WORD.findall(what.group(2)) if what else []
        if words and words[0] not in _AUXILIARIES:
            for word in words[:6]:
                labels = _HEAD_NOUNS.get(word) or _HEAD_NOUNS.get(stem(word), ())
                if labels:
                    break
    prefer = avoid = focus = None
    if re.search(r"\bhow long\b", lower):
        prefer = DURATION
    elif re.search(r"\bhow old\b", lower):
        prefer, focus = AGE, AGE_NUMBER
    elif labels == TIME_LIKE:
        avoid = AGE
        if re.search(r"\b(what|which) year\b", lower):
            focus = YEAR
    terms = terms_of(question)
    return QuestionInfo(question, labels, frozenset(terms), frozenset(zip(terms, terms[1:])), prefer, avoid, focus)
