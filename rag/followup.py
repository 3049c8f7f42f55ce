"""Follow-up questions: replace a personal pronoun with the name the conversation is about.

"How old is he?" after "Who succeeded Stoltenberg?" (answer "Mark Rutte") is searched as
"How old is Mark Rutte?", so retrieval always works on a self-contained question. The rule is
small on purpose, so a user can predict it (the chat shows the rewritten question):

- only third-person personal pronouns are resolved (he, she, him, her, his, hers, they, them,
  their); "it" is left alone because it is mostly not a reference ("how long did it take?");
- after a who-question the referent is the first name (run of capitalised words) in its answer
  that the question did not already name; after any other question, an abstention, or an answer
  that only repeats the question's name, it is the first name in that question; when the latest
  turn names no one, older turns are tried in turn;
- these pronouns stand for people, so a name that is not a person's is never the referent: an
  acronym written in capitals ("NATO", "EU") or a name holding an organisation word ("European
  Union", "Security Council", _ORGANISATION_WORDS); "Where is NATO headquarters?" then "Where did
  he study?" is asked as typed, or about the person of an older turn;
- a question without such a pronoun, or a conversation with no name in it, is asked as typed.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text import NAME_WORD

# Pronoun -> how to substitute a name for it.
SUBJECT_OR_OBJECT = {"he", "she", "him", "they", "them"}
POSSESSIVE = {"his", "their", "hers"}  # "hers" -> "X's" reads fine in a question
# "her" is an object before these words or at the end ("ask her about"), else possessive ("her job").
_AFTER_OBJECT_HER = {
    "about", "after", "as", "at", "before", "by", "for", "from", "in", "into", "of", "on", "over",
    "since", "to", "under", "with", "and", "or", "but", "if", "that", "when", "while", "so",
}
# Capitalised words that never start a name (question words, sentence-initial function words).
_NOT_NAMES = {
    "who", "whom", "whose", "what", "when", "where", "why", "how", "which", "did", "does", "do", "is",
    "are", "was", "were", "can", "could", "will", "would", "should", "has", "have", "had", "tell",
    "and", "but", "or", "the", "a", "an", "in", "on", "at", "of", "for", "to", "by", "with", "from",
    "i", "he", "she", "it", "they", "we", "you", "his", "her", "their", "its", "this", "that", "these",
    "those", "there", "then", "after", "before", "since", "last", "former", "updated", "said",
}
_WHO = re.compile(r"\s*(who|whom)\b", re.IGNORECASE)
# Words that make a name an organisation's or a place's, never a person's. A fixed list, not a
# model, so the rule stays predictable; a name missing here is still substituted.
_ORGANISATION_WORDS = {
    "agency", "alliance", "association", "bank", "commission", "committee", "company", "corporation",
    "council", "court", "department", "foundation", "government", "group", "headquarters",
    "institute", "league", "ministry", "nations", "office", "organisation", "organization",
    "parliament", "party", "union", "university",
}


@dataclass(frozen=True)
class Turn:
    """One finished exchange: the question as searched, and the answer text (None if abstained)."""

    question: str
    answer: str | None


def resolve(question: str, history: Sequence[Turn]) -> str:
    """The question with its personal pronouns replaced by the conversation's referent."""
    words = list(NAME_WORD.finditer(question))
    pronouns = [m for m in words if m.group().lower() in SUBJECT_OR_OBJECT | POSSESSIVE | {"her"}]
    if not pronouns:
        return question
    referent = find_referent(history)
    if referent is None:
        return question
    out, last = [], 0
    for m in pronouns:
        out.append(question[last : m.start()])
        out.append(_substitute(m, referent, question))
        last = m.end()
    out.append(question[last:])
    return "".join(out)


def find_referent(history: Sequence[Turn]) -> str | None:
    """The name a pronoun most likely points to, newest turn first.

    After a who-question the answer is the person ("Mark Rutte"); after any other question
    (when, where, how old...) the answer is a date, place or number, so the person is the
    first name in the question ("Rutte" in "When did Rutte become prime minister?").
    """
    for turn in reversed(history):
        asked = names_in(turn.question)
        if turn.answer and _WHO.match(turn.question):
            # A name the question did not already mention: an answer sentence names the
            # asked-about person too ("Stoltenberg ... handed it over to ... Mark Rutte").
            asked_words = {w.lower() for name in asked for w in name.split()}
            fresh = [n for n in names_in(turn.answer) if not asked_words & {w.lower() for w in n.split()}]
            if people := [n for n in fresh if could_be_a_person(n)]:
                return people[0]
        if people := [n for n in asked if could_be_a_person(n)]:
            return people[0]
    return None


def could_be_a_person(name: str) -> bool:
    """False for an acronym in capitals ("NATO") and a name with an organisation word."""
    words = name.split()
    if all(w.isupper() and len(w) > 1 for w in words):
        return False
    return not any(w.lower() in _ORGANISATION_WORDS for w in words)


def names_in(text: str) -> list[str]:
    """Runs of capitalised words separated only by spaces ("Dutch Prime Minister Mark Rutte")."""
    names: list[str] = []
    run: list[re.Match[str]] = []
    for m in NAME_WORD.finditer(text):
        word = m.group()
        is_name = word[0].isupper() and word.lower() not in _NOT_NAMES
        if is_name and run and text[run[-1].end() : m.start()].isspace():
            run.append(m)
            continue
        if run:
            names.append(_run_text(text, run))
        run = [m] if is_name else []
    if run:
        names.append(_run_text(text, run))
    return names


def _run_text(text: str, run: list[re.Match[str]]) -> str:
    return re.sub(r"['’]s$", "", text[run[0].start() : run[-1].end()])


def _substitute(m: re.Match[str], referent: str, question: str) -> str:
    word = m.group().lower()
    if word in POSSESSIVE:
        return f"{referent}'s"
    if word == "her":
        following = NAME_WORD.match(question[m.end() :].lstrip())
        if following and following.group().lower() not in _AFTER_OBJECT_HER:
            return f"{referent}'s"
    return referent
