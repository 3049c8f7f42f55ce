"""Uploaded files into the seeds folder, then the same incremental indexing as `rag index`.

An upload is untrusted: its name may try to leave the folder ("../../evil.txt"), its bytes may
be binary where text is expected, unreadable or huge. Each file gets a safe name inside the
seeds folder, or a message that says why it was refused; a refused file writes nothing.
"""
from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path

from rag.config import Config
from rag.documents import SkipFile, decode, extract_text
from rag.errors import DiskFull, RagError, is_disk_full
from rag.formats import EXTRACTORS
from rag.indexer import ProgressFactory, index_seeds
from rag.store import Store
from rag.types import SavedUpload, UploadReport

MAX_NAME_CHARS = 100
# Decoded text with more control characters than this share is a binary file in disguise.
MAX_CONTROL_SHARE = 0.01


class UploadError(RagError):
    """An uploaded file that cannot go into the seeds folder; the message says why."""


def safe_name(original: str, extensions: Sequence[str]) -> str:
    """A file name with no folder part, no leading dot, only word characters, '.', '-' and '_'."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", original))[-1]
    stem, dot, ext = base.rpartition(".")
    ext = f".{ext.lower()}"
    if not dot or ext not in extensions:
        raise UploadError(f"{original!r}: only {', '.join(extensions)} files can be indexed")
    stem = re.sub(r"[^\w.-]+", "_", stem)
    stem = re.sub(r"\.{2,}", ".", stem).strip("._-")[:MAX_NAME_CHARS] or "upload"
    return stem + ext


def check_content(raw: bytes, original: str, ext: str) -> None:
    """Raise UploadError unless `raw` is what its extension says: a PDF or .docx with text to
    index (read as the indexer will, so a scanned or encrypted file is refused now rather than
    saved and skipped at every index run), or else non-empty text."""
    if ext not in EXTRACTORS:
        check_text(raw, original)
        return
    try:
        extract_text(raw, ext)
    except SkipFile as reason:
        raise UploadError(f"{original!r} cannot be indexed: {reason}") from None


def check_text(raw: bytes, original: str) -> None:
    """Raise UploadError unless `raw` is non-empty text."""
    if not raw.strip():
        raise UploadError(f"{original!r} is empty")
    try:
        text, _ = decode(raw)
    except SkipFile as reason:
        raise UploadError(f"{original!r} is not a text file ({reason}); upload .txt, .md or .html text") from None
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if controls > MAX_CONTROL_SHARE * len(text):
        raise UploadError(
            f"{original!r} is not a text file ({controls:,} control characters); upload .txt, .md or .html text"
        )


def ids_in_use(seeds_dir: Path, extensions: Sequence[str], stored_ids: Collection[str]) -> set[str]:
    """Document ids an upload must not take: the stored ones, and the stem of every indexable file
    in the folder whatever its extension (`a.htm` beside `a.txt` would share the id "a", and the
    indexer keeps only one of them)."""
    exts = {e.lower() for e in extensions}
    in_folder = {p.stem for p in seeds_dir.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")}
    return in_folder | set(stored_ids)


def save_upload(source: Path, original: str, seeds_dir: Path, max_bytes: int, extensions: Sequence[str],
                stored_ids: Collection[str] = ()) -> SavedUpload:
    """Copy an uploaded file into seeds_dir under a safe name that no other document uses (never overwriting)."""
    name = safe_name(original, extensions)
    size = source.stat().st_size
    if size > max_bytes:  # checked before reading, so a huge file is never loaded into memory
        raise UploadError(f"{original!r} is {size:,} bytes; the upload limit is {max_bytes:,} bytes")
    raw = source.read_bytes()
    stem, ext = os.path.splitext(name)
    check_content(raw, original, ext)
    root = seeds_dir.resolve()
    tmp = root / f".upload-{uuid.uuid4().hex}.tmp"  # hidden: the indexer skips it
    try:
        tmp.write_bytes(raw)
        taken = ids_in_use(root, extensions, stored_ids)
        for n in range(1, 1000):
            target = root / (name if n == 1 else f"{stem}-{n}{ext}")
            if target.resolve().parent != root:  # defence in depth; safe_name already prevents it
                raise UploadError(f"{original!r} would be saved outside the seeds folder")
            if target.exists() and target.read_bytes() == raw:
                return SavedUpload(original, target, already_there=True)
            if target.stem in taken:
                continue
            try:
                os.link(tmp, target)  # atomic, and fails instead of overwriting
            except FileExistsError:
                continue
            return SavedUpload(original, target)
        raise UploadError(f"{original!r}: too many files named like {name} in the seeds folder")
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(root, len(raw), after=f"{original!r} was not saved") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def ingest_uploads(
    config: Config,
    files: Sequence[tuple[Path, str]],
    progress: ProgressFactory | None = None,
) -> UploadReport:
    """Save each (temporary path, original name) into the seeds folder, then index incrementally.
    More than config.max_pending_uploads files, or config.max_pending_upload_bytes, at once are refused."""
    check_batch(files, config.max_pending_uploads, config.max_pending_upload_bytes)
    saved: list[SavedUpload] = []
    refused: list[str] = []
    stored_ids = _stored_ids(config)
    try:
        for source, original in files:
            try:
                saved.append(save_upload(source, original, config.seeds_dir, config.max_file_bytes, config.extensions,
                                         stored_ids))
            except UploadError as exc:
                refused.append(str(exc))
        if not any(not s.already_there for s in saved):
            return UploadReport(saved, refused, None)
        report = index_seeds(config, progress=progress)
    except DiskFull as exc:
        # The index is as it was; so is the seeds folder, or the next index run would bring the
        # files in behind the user's back (and they take room the disk lacks).
        for upload in saved:
            if not upload.already_there:
                upload.path.unlink(missing_ok=True)
        raise DiskFull(exc.folder, exc.needed, after="the upload was not saved and the index is as it was before") from None
    return UploadReport(saved, refused, report)


def check_batch(files: Sequence[tuple[Path, str]], max_files: int, max_bytes: int) -> None:
    """UploadError if one upload brings more files or bytes than the chat holds for indexing at a time."""
    if len(files) > max_files:
        raise UploadError(f"{len(files)} files at once; add at most {max_files} at a time")
    total = sum(source.stat().st_size for source, _ in files)
    if total > max_bytes:
        raise UploadError(f"{len(files)} files of {total:,} bytes in all; add at most {max_bytes:,} bytes at a time")


def _stored_ids(config: Config) -> set[str]:
    if not config.store_path.exists():
        return set()
    store = Store.open(config.store_path, read_only=True)
    try:
        return set(store.document_hashes())
    finally:
        store.close()
