"""Load seed documents: list, read, decode, HTML to text, title; every bad file is named.

Seeds are untrusted input. A file that cannot be indexed is skipped with a warning that
names it and says why; the rest of the folder is still indexed.

Decisions (documented in README "Seed files"):
- invalid UTF-8 is decoded as cp1252 (latin-1 where cp1252 has holes) with a warning, since
  such files are nearly always Windows text and losing them is worse than a rare wrong glyph;
- UTF-16 with a BOM is decoded as UTF-16, with a note;
- two files with identical bytes are indexed once, under the first name in sorted order,
  and the other name is reported;
- a file of any other type is reported too (hidden files excepted): a seed left out in
  silence looks like a retrieval failure;
- PDF and .docx text comes from rag/formats.py; a PDF's pages are kept apart by PAGE_BREAK.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from rag.errors import RagError
from rag.formats import EXTRACTORS, SkipFile

BOMS_UTF16 = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the seeds folder, without extension
    path: str  # path relative to the seeds folder
    title: str
    text: str  # decoded text; passage offsets index into it
    sha256: str  # of the raw bytes


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class SeedsError(RagError):
    """The seeds folder itself is unusable (missing, not a folder)."""


def list_seed_files(seeds_dir: Path, extensions: Iterable[str]) -> list[Path]:
    """Files under seeds_dir with a known extension, sorted; hidden files and folders skipped."""
    exts = {e.lower() for e in extensions}
    return [Path(full) for _, full in _seed_files(seeds_dir) if os.path.splitext(full)[1].lower() in exts]


def _seed_files(seeds_dir: Path) -> list[tuple[str, str]]:
    """(path relative to seeds_dir with "/" separators, full path) of every visible file, sorted
    by the relative path: the caller picks the known types and reports the others."""
    if not seeds_dir.exists():
        raise SeedsError(f"seeds folder {seeds_dir} does not exist")
    if not seeds_dir.is_dir():
        raise SeedsError(f"seeds folder {seeds_dir} is not a folder")
    found: list[tuple[str, str]] = []
    # Plain strings while walking: pathlib costs ~0.5 s per 5,000 files, paid on every `rag index`.
    for root, dirs, files in os.walk(seeds_dir, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        folder = os.path.relpath(root, seeds_dir).replace(os.sep, "/")
        prefix = "" if folder == "." else folder + "/"
        found += [(prefix + n, os.path.join(root, n)) for n in files if not n.startswith(".")]
    return sorted(found)


def load_documents(seeds_dir: Path, extensions: Iterable[str], max_bytes: int) -> LoadResult:
    result = LoadResult()
    seen_ids: dict[str, str] = {}
    seen_hashes: dict[str, str] = {}
    root = seeds_dir.resolve()
    exts = tuple(e.lower() for e in extensions)
    for rel, full in _seed_files(seeds_dir):
        path = Path(full)
        suffix = path.suffix.lower()
        if suffix not in exts:
            what = f"unsupported file type ({suffix})" if suffix else "no file extension"
            result.warnings.append(f"skipped {rel}: {what}; seeds can be {', '.join(exts)}")
            continue
        try:
            raw = _read_checked(path, root, max_bytes)
            text, note = extract_text(raw, suffix)
        except SkipFile as skip:
            result.warnings.append(f"skipped {rel}: {skip}")
            continue
        if note:
            result.warnings.append(f"{rel}: {note}")
        if not text.strip():
            what = "only markup, no visible text" if raw.strip() else "only whitespace"
            result.warnings.append(f"skipped {rel}: {what}")
            continue
        doc_id = rel.rsplit(".", 1)[0]
        digest = hashlib.sha256(raw).hexdigest()
        if doc_id in seen_ids:
            result.warnings.append(f"skipped {rel}: document id {doc_id!r} is already used by {seen_ids[doc_id]}")
            continue
        if digest in seen_hashes:
            result.warnings.append(f"skipped {rel}: same content as {seen_hashes[digest]} (indexed once)")
            continue
        seen_ids[doc_id] = rel
        seen_hashes[digest] = rel
        result.documents.append(Document(doc_id, rel, title_of(text, fallback=doc_id), text, digest))
    return result


def extract_text(raw: bytes, suffix: str) -> tuple[str, str | None]:
    """(text, note) of a seed file's bytes, by its (lower-case) extension; raises SkipFile.
    Passage offsets index into this text, which the store keeps."""
    if suffix in EXTRACTORS:
        return EXTRACTORS[suffix](raw), None
    text, note = decode(raw)
    return (html_to_text(text) if suffix in {".html", ".htm"} else text), note


def _read_checked(path: Path, root: Path, max_bytes: int) -> bytes:
    """The file's bytes, or SkipFile saying why it cannot be indexed."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise SkipFile("broken symlink") from None
        if not target.is_relative_to(root):
            raise SkipFile(f"symlink points outside the seeds folder ({target})")
    try:
        # O_NONBLOCK: opening a FIFO named like a seed must not hang the indexer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SkipFile("file disappeared between listing and reading") from None
    except PermissionError:
        raise SkipFile("permission denied (unreadable file)") from None
    except OSError as exc:
        raise SkipFile(f"cannot open: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SkipFile("not a regular file (a pipe, socket or device)")
        if info.st_size > max_bytes:
            raise SkipFile(f"{info.st_size:,} bytes is over the size cap of {max_bytes:,} bytes (RAG_MAX_FILE_BYTES)")
        try:
            raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise SkipFile(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:  # grew after the size check
        raise SkipFile(f"over the size cap of {max_bytes:,} bytes (RAG_MAX_FILE_BYTES)")
    if not raw:
        raise SkipFile("empty file")
    if not raw.strip():
        raise SkipFile("only whitespace")
    return raw


def decode(raw: bytes) -> tuple[str, str | None]:
    """(text, note): UTF-8 (BOM allowed), UTF-16 with BOM, else cp1252 with a note.

    Raises SkipFile for binary content (NUL bytes outside UTF-16).
    """
    if raw.startswith(BOMS_UTF16):
        try:
            return raw.decode("utf-16"), "decoded as UTF-16 (byte-order mark found)"
        except UnicodeDecodeError:
            raise SkipFile("starts with a UTF-16 byte-order mark but is not valid UTF-16") from None
    if b"\x00" in raw:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        where = exc.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text, f"not valid UTF-8 (first bad byte at offset {where}); decoded as Windows-1252"


def title_of(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "blockquote", "pre", "title", "hr",
}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in {"script", "style", "noscript", "template"}:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "noscript", "template"}:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, block elements separated by blank lines.

    Passage offsets for an HTML seed index into this extracted text (stored with the document).
    Character references are decoded once, by the parser (convert_charrefs): unescaping its
    output again would turn the text "&lt;script&gt;" (written "&amp;lt;script&amp;gt;") into "<script>".
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
