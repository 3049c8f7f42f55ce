"""What a user hands in, checked the same way at every entry: `rag ask`, the chat and the `/ask` API.

A JSON client can send any value (a number for the question, a list for k) and a JSON string can
hold a lone surrogate ("\\ud800"), which no tokenizer or SQLite call accepts. Each becomes an
InputError whose one-line message says what was wrong, instead of a traceback deep inside a stage.
QA.check_question applies `check_question` and then what every question needs (not empty, not too long).
"""
from __future__ import annotations

import json

from rag.errors import RagError

SHOWN_CHARS = 40  # of a rejected value, in the message


class InputError(RagError):
    """A question or setting of the wrong type or out of range; the message says which."""


def check_question(value: object) -> str:
    """`value` if it is a string of valid Unicode, else InputError."""
    if not isinstance(value, str):
        raise InputError(f"the question must be text, not {_shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # the only str that UTF-8 cannot encode holds a lone surrogate
        # Counted from 1, as a person counts characters.
        raise InputError(f"the question is not valid text (lone surrogate at position {exc.start + 1})") from None
    return value


def check_k(value: object, low: int, high: int) -> int:
    """`value` as an int if it is a whole number from low to high (5.0 from a slider is), else InputError."""
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    if not whole or not low <= value <= high:
        raise InputError(f"k must be a whole number from {low} to {high}, not {_shown(value)}")
    return int(value)


def _shown(value: object) -> str:
    """The value as its JSON client wrote it (null, [], "abc"), shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
