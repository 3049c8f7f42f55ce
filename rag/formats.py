"""Text from the seed formats that are not text files: PDF (with its pages) and Word .docx.

Both parsers are pure Python (pypdf, python-docx), imported on first use so that loading only
text seeds, or importing `rag`, never pays for them. A file they cannot read is skipped with
the reason (SkipFile), never a traceback: seeds are untrusted input.
"""
from __future__ import annotations

import io
import logging

from rag.types import PAGE_BREAK

# What an OLE compound file starts with: a password-protected Office file, or an old .doc.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# pypdf logs each repair it makes to a damaged file; with no handler of the application's,
# Python would print them all to stderr. A fatal problem still raises, and becomes the warning.
_QUIET = logging.NullHandler()


class SkipFile(Exception):
    """Raised with the reason a file is not indexed."""


def pdf_text(raw: bytes) -> str:
    """The PDF's text layer, its pages joined by PAGE_BREAK lines (an empty page stays a page,
    so page numbers match the PDF's)."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").addHandler(_QUIET)
    try:
        reader = PdfReader(io.BytesIO(raw))
        # Many PDFs are encrypted with an empty user password (only printing or copying is
        # restricted): those open without one.
        locked = reader.is_encrypted and not reader.decrypt("")
        pages = [] if locked else [_clean(page.extract_text()) for page in reader.pages]
    except Exception as exc:  # pypdf raises many types on damaged input: skip the file, not the run
        raise SkipFile(f"damaged or unreadable PDF ({type(exc).__name__}: {exc})") from None
    if locked:
        raise SkipFile("encrypted PDF (needs a password)")
    if not any(pages):
        raise SkipFile("no text layer (a scanned PDF?)")
    return f"\n{PAGE_BREAK}\n".join(pages)


def docx_text(raw: bytes) -> str:
    """The document body's paragraphs and tables in order, blank-line separated (one paragraph
    per table row, its cells joined by " | "). Headers and footers are left out: they repeat."""
    if raw.startswith(_OLE_MAGIC):
        raise SkipFile("password-protected or old-format (.doc) Word file; save it as .docx without a password")
    import docx
    from docx.table import Table

    try:
        body = docx.Document(io.BytesIO(raw)).iter_inner_content()
        blocks = [_table_text(b) if isinstance(b, Table) else _clean(b.text) for b in body]
    except Exception as exc:  # python-docx, zipfile and lxml raise many types on damaged input
        raise SkipFile(f"damaged or unreadable .docx file ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(b for b in blocks if b)
    if not text:
        raise SkipFile("no text in the document")
    return text


def _table_text(table) -> str:
    rows = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        # A merged cell is returned once per grid column it spans.
        cells = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
        rows.append(" | ".join(cells))
    return "\n\n".join(r for r in rows if r)


def _clean(text: str) -> str:
    """Extracted text without page breaks of its own (they would shift page numbers) or NULs."""
    return text.replace(PAGE_BREAK, "\n").replace("\x00", "").strip()


# Extension -> the function that reads a file of that type (every other seed is decoded as text).
EXTRACTORS = {".pdf": pdf_text, ".docx": docx_text}
