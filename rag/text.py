"""What a word is, in one place: the stopwords, the word patterns and the light stemmer shared
by lexical search, question analysis, sentence scoring, follow-ups and passage splitting.

Imports nothing but `re`, so every stage can use it without loading FAISS, torch or spaCy.
The patterns differ on purpose, each for what it counts (named for it below): changing one
changes rankings, answers or citations, so measure with `rag eval` before merging them.
"""
from __future__ import annotations

import re

# Words that carry no evidence on their own; dropping them keeps FTS5 OR-queries fast on
# large corpora (every posting list of "the" would be read) without changing BM25 much.
STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his how i if in
    into is it its of on or she so than that the their them then there these they this to was were
    what when where which who whom whose why will with would you your""".split()
)

# The FTS5 tokenizer of the passages table and of the in-memory table that turns query words
# into its terms: the two must agree. Porter stemming measured better than plain unicode61.
FTS_TOKENIZER = "porter unicode61"

# A lexical query word: FTS5's unicode61 splits at every non-word character, so "Rutte's"
# is searched as "rutte" and "s" (a stopword), as FTS5 itself indexed it.
QUERY_WORD = re.compile(r"\w+", re.UNICODE)
# A content word of a question or sentence: apostrophes stay inside ("Rutte's" -> stem "rutte"),
# hyphens split ("57-year-old" holds "old").
TERM_WORD = re.compile(r"[\w'’]+")
# A word that can be part of a name (follow-up pronouns): starts with a letter, keeps hyphens
# and apostrophes ("Jean-Claude", "O'Brien").
NAME_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# A whitespace-separated word: what a passage's length is counted in (Config.max_passage_words).
SPACED_WORD = re.compile(r"\S+")


def query_words(question: str) -> list[str]:
    """The question's content words (all its words if it has none), lowercased, each once, in order."""
    tokens = QUERY_WORD.findall(question.lower())
    words = list(dict.fromkeys(t for t in tokens if t not in STOPWORDS))
    return words or list(dict.fromkeys(tokens))


def stem(word: str) -> str:
    """A deliberately light stemmer: enough to match 'succeeded'/'succeed', 'joined'/'join'."""
    w = word.lower().strip("'’-")
    w = re.sub(r"['’]s$", "", w)
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)] + repl
    return w


def terms_of(text: str) -> list[str]:
    """The stemmed content words of a text, in order."""
    return [stem(w) for w in TERM_WORD.findall(text) if w.lower() not in STOPWORDS]
