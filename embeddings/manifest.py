"""What one generation's FAISS files are: plain data the store records, readable without FAISS.

Kept apart from embeddings/index.py so the store (and `rag status`) can read a manifest without
importing FAISS.
"""
from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class IndexFileInfo:
    name: str  # file name inside the index directory
    sha256: str
    count: int
    dim: int


@dataclass(frozen=True)
class IndexManifest:
    """One generation's FAISS index: files[0] is the base, files[1:] deltas added in order,
    then the `removed` passage ids taken out."""

    files: tuple[IndexFileInfo, ...]
    removed: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        return sum(f.count for f in self.files) - len(self.removed)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.files]

    @property
    def delta_size(self) -> int:
        """Vectors added and removed since the base: the work every load repeats."""
        return sum(f.count for f in self.files[1:]) + len(self.removed)

    def with_delta(self, delta: IndexFileInfo | None, removed: list[int]) -> IndexManifest:
        return IndexManifest(self.files + ((delta,) if delta else ()), self.removed + tuple(removed))

    def to_json(self) -> str:
        return json.dumps({"files": [f.__dict__ for f in self.files], "removed": list(self.removed)})

    @classmethod
    def from_json(cls, raw: str) -> IndexManifest:
        data = json.loads(raw)
        if "files" not in data:  # written before deltas existed: one file
            return cls((IndexFileInfo(**data),))
        return cls(tuple(IndexFileInfo(**f) for f in data["files"]), tuple(data["removed"]))
