"""What the chat page needs from `rag`: the same calls the CLI makes.

Gradio runs handlers on worker threads. Questions never wait for indexing: an upload or a
re-index writes under the writers' lock while questions go on reading the last published
generation (each question runs in its own SQLite read snapshot, DESIGN decision 1). A QA object
holds one SQLite connection, which one question at a time may use, so the backend keeps a pool
of `workers` of them and a question borrows one; the models behind them are loaded once per
process (rag/models.py) and shared.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    """Questions answered `config.chat_workers` at a time; one upload or re-index at a time beside them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.workers = config.chat_workers
        self._pool = [QA(config) for _ in range(self.workers)]
        self._idle: queue.SimpleQueue[QA] = queue.SimpleQueue()
        for qa in self._pool:
            self._idle.put(qa)
        self._writer = threading.Lock()  # uploads and re-indexing take turns; questions never wait for it

    def close(self) -> None:
        for qa in self._pool:
            qa.close()

    def warm_up(self) -> None:
        """Load every model and each worker's FAISS index now, so the first questions are answered as fast as the next."""
        for qa in self._pool:
            qa.ask("Who is this about?")

    @contextmanager
    def _answerer(self) -> Iterator[QA]:
        qa = self._idle.get()  # Gradio admits at most `workers` questions at once (ui/app.py)
        try:
            yield qa
        finally:
            self._idle.put(qa)

    def ask(self, question: str, k: int | None = None, mode: str | None = None) -> Answer:
        question = self._checked(question)
        with self._answerer() as qa:
            return qa.ask(question, k=k, mode=mode)

    def chat(self, question: str, history: Sequence[Turn], k: int | None = None, mode: str | None = None) -> ChatTurn:
        """Answer a question in a conversation: pronouns refer to earlier turns (rag.followup)."""
        asked = self._checked(question)  # the cap applies to what the user typed
        return ChatTurn(asked, self.ask(resolve(asked, history), k=k, mode=mode))

    def _checked(self, question: object) -> str:
        """The question trimmed, or a RagError: the page and the API send whatever a client sends."""
        return self._pool[0].check_question(question)  # reads only the config: any worker's will do

    def upload(self, files: Sequence[tuple[Path, str]], progress: ProgressFactory | None = None) -> UploadReport:
        with self._writer:
            return ingest_uploads(self.config, files, progress=progress)

    def reindex(self, progress: ProgressFactory | None = None) -> IndexReport:
        """Exactly `rag index`: only new or changed passages are encoded."""
        with self._writer:
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
