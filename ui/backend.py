"""What the chat page needs from `rag`, behind one lock: the same calls the CLI makes.

Gradio runs handlers on worker threads; the QA object holds one SQLite connection and one
model, so questions, uploads and re-indexing take turns.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer import Answer
from rag.config import Config
from rag.followup import Turn, resolve
from rag.indexer import ProgressFactory, index_seeds
from rag.qa import QA
from rag.status import index_status
from rag.store import Store
from rag.types import DocumentRow, IndexReport, UploadReport
from rag.uploads import ingest_uploads

EXAMPLES_FILE = ".examples.txt"  # in the seeds folder


@dataclass(frozen=True)
class ChatTurn:
    asked: str  # as typed (trimmed)
    answer: Answer  # answer.question is what was searched (pronouns resolved)

    def as_turn(self) -> Turn:
        return Turn(self.answer.question, None if self.answer.abstained else self.answer.text)


class Backend:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.qa = QA(config)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.qa.close()

    def warm_up(self) -> None:
        """Load every model a question needs now, so the first one is answered as fast as the next."""
        self.ask("Who is this about?")

    def ask(self, question: str, k: int | None = None, mode: str | None = None) -> Answer:
        question = self._checked(question)
        with self._lock:
            return self.qa.ask(question, k=k, mode=mode)

    def chat(self, question: str, history: Sequence[Turn], k: int | None = None, mode: str | None = None) -> ChatTurn:
        """Answer a question in a conversation: pronouns refer to earlier turns (rag.followup)."""
        asked = self._checked(question)  # the cap applies to what the user typed
        return ChatTurn(asked, self.ask(resolve(asked, history), k=k, mode=mode))

    def _checked(self, question: object) -> str:
        """The question trimmed, or a RagError: the page and the API send whatever a client sends."""
        return self.qa.check_question(question)

    def upload(self, files: Sequence[tuple[Path, str]], progress: ProgressFactory | None = None) -> UploadReport:
        with self._lock:
            return ingest_uploads(self.config, files, progress=progress)

    def reindex(self, progress: ProgressFactory | None = None) -> IndexReport:
        """Exactly `rag index`: only new or changed passages are encoded."""
        with self._lock:
            return index_seeds(self.config, progress=progress)

    def examples(self) -> list[str]:
        """Example questions for the chat page: seeds/.examples.txt, one per line, written by
        whoever owns the documents (hidden, so never indexed); none without the file."""
        path = self.config.seeds_dir / EXAMPLES_FILE
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        return [line.strip() for line in lines if line.strip()]

    def documents(self) -> tuple[list[DocumentRow], dict[str, Any]]:
        with Store.open(self.config.store_path, read_only=True) as store:
            rows = store.documents()
        return rows, index_status(self.config)
