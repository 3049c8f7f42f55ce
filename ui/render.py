"""HTML for the chat page: chat messages, the sources panel, the documents table.

Seeds and questions are untrusted input (DESIGN decision 6): every string that comes from a
document or a user is escaped here, so `<script>`, `<img onerror=...>` or `![](url)` in a seed
shows as text and neither runs nor loads anything. The only markup in the output is ours, and
Markdown is never interpreted (the chatbot has render_markdown=False).
"""
from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any, Sequence

from rag.answer import Answer, Citation
from rag.types import DocumentRow, IndexReport, UploadReport


def escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def header(seeds_dir: Path) -> str:
    return (
        '<div class="rag-header"><h2>seed-rag</h2>'
        f"<p>Answers from the documents in <code>{escape_html(str(seeds_dir))}</code>, with the passages that say so.</p></div>"
    )


def span_in(citation: Citation, source: Any) -> tuple[int, int] | None:
    """Where a document span (an AnswerSource) falls inside a cited passage, clipped to it.

    Both carry offsets into the same document text, so the passage-relative span is a subtraction.
    """
    if source is None or source.doc_id != citation.doc_id:
        return None
    start, end = max(source.start, citation.start), min(source.end, citation.end)
    if start >= end:
        return None
    return start - citation.start, end - citation.start


def highlight(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """Escaped `text` with `<mark class=...>` around each (start, end, class); later spans win."""
    cuts = sorted({0, len(text), *(i for s, e, _ in spans for i in (s, e) if 0 <= i <= len(text))})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [cls for s, e, cls in spans if s <= a and b <= e]
        piece = escape_html(text[a:b])
        out.append(f'<mark class="{covering[-1]}">{piece}</mark>' if covering else piece)
    return "".join(out)


def chat_reply(answer: Answer, asked: str) -> str:
    """The assistant's chat message: the short answer, then its citation numbers [1] [2] ...

    The chatbot shows messages as (sanitised) HTML with Markdown off, so escaping is enough
    and the text reads cleanly to screen readers.
    """
    lines = [escape_html(answer.text or ""), ""]
    if answer.abstained and answer.citations:
        lines.append("The closest passages are listed under Sources.")
    elif answer.citations:
        lines.append("Sources: " + " ".join(f"[{n}]" for n in range(1, len(answer.citations) + 1)))
    if answer.question != asked:
        lines.append(f"Read as: {escape_html(answer.question)}")
    return "\n".join(lines)


def sources_panel(answer: Answer | None) -> str:
    """Each cited passage with title, file, page (of a PDF), paragraph number, score and the answer highlighted."""
    if answer is None:
        return '<div class="rag-sources rag-empty">Ask a question: the passages that answer it appear here.</div>'
    sentence = answer.sentence_source  # the whole sentence the answer came from, if any
    items = []
    for n, c in enumerate(answer.citations, 1):
        spans = []
        if not answer.abstained:
            for source, cls in ((sentence, "rag-sentence"), (answer.source, "rag-answer")):
                span = span_in(c, source)
                if span:
                    spans.append((*span, cls))
        page = "" if c.page is None else f" · page {c.page}"
        items.append(
            f'<li class="rag-source" id="rag-source-{n}">'
            f'<div class="rag-source-head"><span class="rag-n">[{n}]</span> '
            f'<span class="rag-title">{escape_html(c.title)}</span></div>'
            f'<div class="rag-source-meta">{escape_html(c.path)}{page} · paragraph {c.ordinal + 1} · score {c.score:.3f}</div>'
            f'<div class="rag-passage">{highlight(c.text, spans)}</div></li>'
        )
    total = sum(answer.timings.values())
    heading = "Closest passages (no answer found)" if answer.abstained else "Sources"
    return (
        f'<div class="rag-sources"><div class="rag-sources-heading">{heading}'
        f' <span class="rag-timing">{len(answer.citations)} passages · {total:.0f} ms</span></div>'
        f'<ol class="rag-source-list">{"".join(items)}</ol></div>'
    )


def documents_table(rows: Sequence[DocumentRow], status: dict[str, Any]) -> str:
    """The index status line and one table row per indexed document."""
    facts = [
        ("model", status.get("model")),
        ("generation", status.get("generation")),
        ("documents", status.get("documents")),
        ("passages", status.get("passages")),
        ("last indexed", status.get("indexed_at")),
    ]
    summary = " · ".join(f"{name}: <b>{escape_html(str(value))}</b>" for name, value in facts)
    body = "".join(
        f"<tr><td>{escape_html(r.title)}</td><td>{escape_html(r.path)}</td><td>{r.passages}</td>"
        f"<td>{escape_html(_when(r.indexed_at))}</td></tr>"
        for r in rows
    )
    return (
        f'<div class="rag-status">{summary}</div>'
        '<table class="rag-documents"><thead><tr><th>title</th><th>file</th><th>passages</th>'
        f"<th>indexed</th></tr></thead><tbody>{body}</tbody></table>"
    )


def upload_result(report: UploadReport) -> str:
    lines = []
    for s in report.saved:
        verb = "already in the seeds folder as" if s.already_there else "saved as"
        lines.append(f"{s.original} {verb} {s.path.name}")
    lines += [f"refused: {message}" for message in report.refused]
    if report.index is not None:
        lines += index_lines(report.index)
    return message_list(lines)


def index_lines(report: IndexReport) -> list[str]:
    """An index run's summary line and its warnings."""
    return [f"indexed: {report.summary()}"] + [f"warning: {w}" for w in report.warnings]


def message_list(lines: Sequence[str]) -> str:
    return '<ul class="rag-messages">' + "".join(f"<li>{escape_html(line)}</li>" for line in lines) + "</ul>"


def _when(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds") if timestamp else ""


CSS = """
.rag-sources-heading { font-weight: 600; margin-bottom: .4em; }
.rag-timing { font-weight: 400; opacity: .65; font-size: .85em; margin-left: .5em; }
.rag-source-list { padding-left: 0; list-style: none; margin: 0; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .6em .8em; margin-bottom: .6em; }
.rag-n { font-weight: 700; }
.rag-title { font-weight: 600; }
.rag-source-meta { font-size: .8em; opacity: .7; margin: .15em 0 .35em; }
.rag-passage { white-space: pre-wrap; line-height: 1.45; }
mark.rag-sentence { background: #fff3bf; color: inherit; }
mark.rag-answer { background: #ffd43b; color: inherit; font-weight: 600; }
.rag-documents { width: 100%; border-collapse: collapse; }
.rag-documents td, .rag-documents th { border-bottom: 1px solid var(--border-color-primary); padding: .3em .5em; text-align: left; }
.rag-status { margin-bottom: .6em; }
.rag-empty { opacity: .65; }
.rag-header h2 { margin: 0 0 .2em; }
.rag-header p { margin: 0; opacity: .8; }
"""
