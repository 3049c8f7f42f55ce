"""Errors a user can cause or fix. The CLI and UI print their message; no traceback."""


class RagError(Exception):
    """Base class: the message says what is wrong and what to do."""


class QuestionFileError(RagError):
    """A question file that cannot be read; the message names the line."""
