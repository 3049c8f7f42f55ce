"""Evaluation corpora: a folder of `<doc_id>.txt` files, or the same packed into one JSON Lines file.

A packed corpus (`corpus.jsonl` or `corpus.jsonl.gz`) holds one `{"doc_id": ..., "text": ...}`
object per line, where `text` is the whole file as it would be in the folder (first line the
title). It is unpacked into a folder once, beside the corpus's index, because the indexer reads
folders; files are rewritten only when their text changed, so the incremental indexer sees the
same hashes and re-encodes nothing. Pack a folder with:

    python -m rag.corpus pack eval/external/xquad_en/corpus eval/xquad_en/corpus.jsonl.gz
"""
from __future__ import annotations

import gzip
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from rag.documents import list_seed_files
from rag.errors import RagError
from rag.jsonl import parse_object

PACKED_SUFFIXES = (".jsonl.gz", ".jsonl")
# Doc ids become file names: word characters, dots and dashes, optionally in sub-folders.
_SAFE_ID = re.compile(r"[\w\-]+(\.[\w\-]+)*(/[\w\-]+(\.[\w\-]+)*)*")


class CorpusError(RagError):
    """An evaluation corpus that cannot be used; the message names the file and line."""


def is_packed(path: Path) -> bool:
    return path.name.endswith(PACKED_SUFFIXES)


def corpus_name(path: Path) -> str:
    """A short name for a corpus or question file: `eval/xquad_en/corpus.jsonl.gz` -> `xquad_en`."""
    name = path.name
    for suffix in (*PACKED_SUFFIXES, ".txt", ".json"):
        name = name.removesuffix(suffix)
    if name in {"corpus", "questions", ""}:
        name = path.resolve().parent.name
    return re.sub(r"[^\w.\-]", "_", name) or "corpus"


def folder_doc_ids(folder: Path, extensions: tuple[str, ...]) -> set[str]:
    """Doc ids of a corpus folder, named as the indexer names them (relative path, no extension)."""
    return {p.relative_to(folder).as_posix().rsplit(".", 1)[0] for p in list_seed_files(folder, extensions)}


def read_packed(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, doc_id, text) for each document of a packed corpus; bad lines raise CorpusError."""
    opener = gzip.open if path.name.endswith(".gz") else open
    seen: dict[str, int] = {}
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                doc_id, text = _parse_line(path, n, line)
                if doc_id in seen:
                    raise CorpusError(f"{path}:{n}: doc_id {doc_id!r} repeats line {seen[doc_id]}")
                seen[doc_id] = n
                yield n, doc_id, text
    except (gzip.BadGzipFile, EOFError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not a readable {'gzip ' if opener is gzip.open else ''}JSON Lines file ({exc})") from None
    if not seen:
        raise CorpusError(f"{path} holds no documents")


def _parse_line(path: Path, n: int, line: str) -> tuple[str, str]:
    item = parse_object(f"{path}:{n}", line, CorpusError, 'with "doc_id" and "text"')
    doc_id, text = item.get("doc_id"), item.get("text")
    if not isinstance(doc_id, str) or not _SAFE_ID.fullmatch(doc_id):
        raise CorpusError(
            f"{path}:{n}: \"doc_id\" must be a string of letters, digits, '_', '-', '.' or '/' (got {doc_id!r})"
        )
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{path}:{n}: no \"text\" string for doc_id {doc_id!r}")
    return doc_id, text


def unpack(path: Path, folder: Path) -> set[str]:
    """Mirror a packed corpus into `folder` as `<doc_id>.txt`; returns the doc ids.

    Unchanged files are left alone and files of documents no longer in the corpus are removed,
    so indexing the folder afterwards is incremental.
    """
    documents = {doc_id: text for _, doc_id, text in read_packed(path)}
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, text in documents.items():
        target = folder / f"{doc_id}.txt"
        data = text.encode("utf-8")
        if not target.is_file() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    for stale in folder.rglob("*.txt"):
        if stale.relative_to(folder).as_posix()[: -len(".txt")] not in documents:
            stale.unlink()
    return set(documents)


def pack(folder: Path, out: Path) -> int:
    """Write the `.txt` files of `folder` as a packed corpus (gzip if `out` ends in .gz); returns the count.

    The gzip header carries no timestamp, so packing the same folder twice gives the same bytes.
    """
    files = list_seed_files(folder, (".txt",))
    if not files:
        raise CorpusError(f"{folder} holds no .txt documents")
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for path in files:
        doc_id = path.relative_to(folder).as_posix()[: -len(".txt")]
        lines.append(json.dumps({"doc_id": doc_id, "text": path.read_bytes().decode("utf-8")}, ensure_ascii=False))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if out.name.endswith(".gz"):
        with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            fh.write(data)
    else:
        out.write_bytes(data)
    return len(files)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "pack":
        sys.exit("usage: python -m rag.corpus pack CORPUS_FOLDER OUT.jsonl.gz")
    print(f"packed {pack(Path(sys.argv[2]), Path(sys.argv[3]))} documents into {sys.argv[3]}")
