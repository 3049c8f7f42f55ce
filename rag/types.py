"""Plain data passed between the stages: below every stage, importing nothing of theirs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Between two pages of a paged document's text (a PDF's; a form feed in a text file too): the
# page of a passage is 1 + the page breaks before its start, so offsets need no other mapping.
PAGE_BREAK = "\f"


@dataclass(frozen=True)
class StoredPassage:
    """A passage as the store holds it: the unit of citation."""

    id: int
    doc_id: str
    title: str
    path: str
    ordinal: int
    start: int  # offsets into the document's decoded text
    end: int
    text: str
    page: int | None = None  # 1-based, in a document with pages (PAGE_BREAK); else None


@dataclass(frozen=True)
class DocumentRow:
    doc_id: str
    path: str
    sha256: str
    title: str
    passages: int
    indexed_at: float


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with the scores that ranked it."""

    passage: StoredPassage
    score: float  # the mode's score so far (higher is better)
    dense: float | None  # cosine similarity, if the passage was a dense candidate
    lexical: float | None  # BM25 score, if it was a lexical candidate
    # The question's cosine with the passage, from the dense search or (for a lexical-only
    # candidate) its stored vector read in the same snapshot; None without a question vector.
    cosine: float | None = None


@dataclass(frozen=True)
class IndexReport:
    documents: int
    new: int
    changed: int
    unchanged: int
    deleted: int
    passages: int
    encoded: int
    seconds: float
    generation: int
    published: bool  # False when nothing changed and the current generation was kept
    fingerprint: str  # of the model whose vectors the generation holds (name@weights-hash)
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds

    def summary(self) -> str:
        return (
            f"{self.documents} documents ({self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.deleted} deleted), {self.passages} passages, {self.encoded} encoded, "
            f"generation {self.generation}, {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class SavedUpload:
    original: str  # the name the user's browser sent
    path: Path  # where it now lives, inside the seeds folder
    already_there: bool = False  # an identical file already had that name


@dataclass(frozen=True)
class UploadReport:
    saved: list[SavedUpload] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one message per refused file
    index: IndexReport | None = None  # None when nothing new was saved
