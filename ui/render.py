"""HTML for the chat page: chat messages, the sources panel, the documents table.

Seeds and questions are untrusted input (DESIGN decision 6): every string that comes from a
document or a user is escaped here, so `<script>`, `<img onerror=...>` or `![](url)` in a seed
shows as text and neither runs nor loads anything. The only markup in the output is ours, and
Markdown is never interpreted (the chatbot has render_markdown=False).
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rag.answer import Answer, Citation
from rag.types import DocumentRow, IndexReport, UploadReport


def escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def header(seeds_dir: Path) -> str:
    return (
        '<div class="rag-header"><h2>seed-rag</h2>'
        f"<p>Answers from the documents in <code>{escape_html(str(seeds_dir))}</code>, with the passages that say so.</p></div>"
    )


class Span(Protocol):
    """A stretch of a document: a Citation's passage or an AnswerSource."""

    doc_id: str
    start: int
    end: int


def span_in(outer: Span, inner: Span | None) -> tuple[int, int] | None:
    """Where a document span falls inside another (a passage, a sentence), clipped to it.

    Both carry offsets into the same document text, so the relative span is a subtraction.
    """
    if inner is None or inner.doc_id != outer.doc_id:
        return None
    start, end = max(inner.start, outer.start), min(inner.end, outer.end)
    if start >= end:
        return None
    return start - outer.start, end - outer.start


def highlight(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """Escaped `text` with `<mark class=...>` around each (start, end, class); later spans win."""
    cuts = sorted({0, len(text), *(i for s, e, _ in spans for i in (s, e) if 0 <= i <= len(text))})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [cls for s, e, cls in spans if s <= a and b <= e]
        piece = escape_html(text[a:b])
        out.append(f'<mark class="{covering[-1]}">{piece}</mark>' if covering else piece)
    return "".join(out)


def split_citations(answer: Answer) -> tuple[list[Citation], list[Citation]]:
    """The citations that support the answer (their passage holds it; the answer's passage is
    cited first) and the other retrieved passages, best score first. An abstention is supported
    by nothing: all its passages are merely the closest ones."""
    supporting = [] if answer.abstained else [c for c in answer.citations if span_in(c, answer.source)]
    others = [c for c in answer.citations if c not in supporting]
    return supporting, sorted(others, key=lambda c: -c.score)


# The title of every score shown: what the number is, and what it may be compared with.
SCORE_HELP = (
    "Retrieval score of this passage for this question in the chosen mode: higher is a closer "
    "match. Comparable only with the other passages of the same answer."
)


def passage_item(c: Citation, answer: Answer, anchor: str | None = None, n: int | None = None) -> str:
    """One passage: [n] (a source's number) and title, where it is, its score, the text with the
    answer and its sentence highlighted when it supports the answer."""
    spans = []
    if not answer.abstained:
        for source, cls in ((answer.sentence_source, "rag-sentence"), (answer.source, "rag-answer")):
            span = span_in(c, source)
            if span:
                spans.append((*span, cls))
    number = "" if n is None else f'<span class="rag-n">[{n}]</span> '
    ident = "" if anchor is None else f' id="{anchor}"'
    return (
        f'<li class="rag-source"{ident}><div class="rag-source-head">{number}'
        f'<span class="rag-title">{escape_html(c.title)}</span></div>'
        f'<div class="rag-source-meta">{escape_html(c.location())} · '
        f'<span class="rag-score" title="{escape_html(SCORE_HELP)}">score {c.score:.3f}</span></div>'
        f'<div class="rag-passage">{highlight(c.text, spans)}</div></li>'
    )


def passage_lists(answer: Answer, anchor: str | None = None) -> list[tuple[str, str]]:
    """(heading, <ol> HTML) for the answer's sources, then its related passages; the sources'
    items get ids `{anchor}-{n}` for the [n] links. An abstention has only "Closest passages"."""
    supporting, others = split_citations(answer)
    lists = []
    if supporting:
        items = [
            passage_item(c, answer, None if anchor is None else f"{anchor}-{n}", n) for n, c in enumerate(supporting, 1)
        ]
        lists.append(("Source" if len(items) == 1 else "Sources", items))
    if others:
        lists.append(("Closest passages" if answer.abstained else "Related passages", [
            passage_item(c, answer) for c in others
        ]))
    return [(heading, f'<ol class="rag-source-list">{"".join(items)}</ol>') for heading, items in lists]


def quoted_sentence(answer: Answer) -> str | None:
    """The sentence a reply quotes under its answer: none for an abstention, or when the answer
    is that whole sentence already."""
    if answer.abstained or answer.sentence == answer.text:
        return None
    return answer.sentence


def reply_text(answer: Answer) -> str:
    """The reply as plain text, what the chat's copy button puts on the clipboard: the answer,
    the sentence it comes from in quotes, and each supporting citation's title and place."""
    supporting, _ = split_citations(answer)
    lines = [answer.text or ""]
    if sentence := quoted_sentence(answer):
        lines.append(f"“{sentence}”")
    lines += [f"[{n}] {c.title} ({c.location()})" for n, c in enumerate(supporting, 1)]
    return "\n".join(lines)


def chat_reply(answer: Answer, asked: str, number: int) -> str:
    """The assistant's chat message: the short answer, the sentence it comes from quoted, the
    citation(s) that support it, then the passages themselves in collapsed sections, so each
    reply keeps its own sources whatever is asked next. `number` (the message's place in the
    conversation) keeps the [n] link targets of different replies apart.

    The chatbot shows messages as sanitised HTML with Markdown off: all text is escaped here.
    The copy button copies the message's raw content; COPY_SCRIPT (below) gives the clipboard
    the data-copy text instead of this markup.
    """
    anchor = f"rag-reply-{number}"
    supporting, _ = split_citations(answer)
    parts = [f'<div class="rag-short">{escape_html(answer.text or "")}</div>']
    if sentence := quoted_sentence(answer):
        inside = span_in(answer.sentence_source, answer.source)
        marked = highlight(sentence, [(*inside, "rag-answer")] if inside else [])
        parts.append(f'<blockquote class="rag-quote">“{marked}”</blockquote>')
    for n, c in enumerate(supporting, 1):
        parts.append(
            f'<div class="rag-cite"><a class="rag-ref" href="#{anchor}-{n}">[{n}]</a> '
            f"{escape_html(c.title)} ({escape_html(c.location())})</div>"
        )
    if answer.question != asked:
        parts.append(f'<div class="rag-read-as">Read as: {escape_html(answer.question)}</div>')
    for heading, items in passage_lists(answer, anchor):
        parts.append(f"<details><summary>{heading}</summary>{items}</details>")
    return f'<div class="rag-reply" data-copy="{escape_html(reply_text(answer))}">{"".join(parts)}</div>'


def sources_panel(answer: Answer | None) -> str:
    """The latest answer's passages in full: its sources with the answer highlighted, then the
    related passages (an abstention's closest ones), each with title, place and score."""
    if answer is None:
        return '<div class="rag-sources rag-empty">Ask a question: the passages that answer it appear here.</div>'
    total = sum(answer.timings.values())
    sections = "".join(
        f'<div class="rag-sources-heading">{heading}</div>{items}' for heading, items in passage_lists(answer)
    )
    return (
        f'<div class="rag-sources"><div class="rag-sources-title">Latest answer'
        f' <span class="rag-timing">{len(answer.citations)} passages · {total:.0f} ms</span></div>{sections}</div>'
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


# Highlight colours are set for both schemes with their text colour, never `inherit`: Gradio puts
# a `dark` class on <body> for a dark system scheme or ?__theme=dark, and the light text of the
# dark theme on a light yellow mark was unreadable. Each pair keeps a contrast ratio of at least
# 4.5:1 (WCAG AA), which tests/test_ui.py measures in Chromium in both schemes.
CSS = """
.rag-sources-title { font-weight: 600; margin-bottom: .4em; }
.rag-sources-heading { font-weight: 600; margin: .6em 0 .3em; }
.rag-timing { font-weight: 400; opacity: .65; font-size: .85em; margin-left: .5em; }
.rag-source-list { padding-left: 0; list-style: none; margin: 0; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .6em .8em; margin-bottom: .6em; }
.rag-n { font-weight: 700; }
.rag-title { font-weight: 600; }
.rag-source-meta { font-size: .8em; opacity: .8; margin: .15em 0 .35em; }
.rag-score { cursor: help; border-bottom: 1px dotted currentColor; }
.rag-passage { white-space: pre-wrap; line-height: 1.45; }
.rag-reply { white-space: normal; }
.rag-short { font-weight: 600; }
.rag-quote { margin: .4em 0; padding-left: .7em; border-left: 3px solid var(--border-color-primary); }
.rag-cite, .rag-read-as { font-size: .9em; }
.rag-reply details { margin-top: .5em; }
.rag-reply summary { cursor: pointer; }
.rag-reply .rag-source-list { margin-top: .4em; }
mark.rag-sentence { background: #fff3bf; color: #1f2328; }
mark.rag-answer { background: #ffd43b; color: #1f2328; font-weight: 600; }
.dark mark.rag-sentence { background: #4d3f00; color: #fff8db; }
.dark mark.rag-answer { background: #806600; color: #ffffff; }
.rag-documents { width: 100%; border-collapse: collapse; }
.rag-documents td, .rag-documents th {
  border-bottom: 1px solid var(--border-color-primary); padding: .3em .5em; text-align: left;
}
.rag-status { margin-bottom: .6em; }
.rag-empty { opacity: .65; }
.rag-header h2 { margin: 0 0 .2em; }
.rag-header p { margin: 0; opacity: .8; }
"""

# Run by the page on load (launch(js=...)). The chatbot's copy button writes a message's raw
# content to the clipboard (Gradio 6's Chatbot has no per-message plain-text option), and that
# content is our escaped HTML: "I couldn&#x27;t" and markup. A copy started from the chat gets
# the reply's data-copy text (render.reply_text) instead, or, for a question or an error, its
# text without entities. DOMParser's document is inert: no script runs, nothing loads.
# navigator.clipboard exists only in secure contexts (localhost, https); elsewhere Gradio copies
# with execCommand and the raw content.
COPY_SCRIPT = """
() => {
  const clipboard = navigator.clipboard;
  if (!clipboard) return;
  const write = clipboard.writeText.bind(clipboard);
  let fromChat = false;
  document.addEventListener("click", (event) => { fromChat = Boolean(event.target.closest?.("#chat")); }, true);
  clipboard.writeText = (text) => {
    if (!fromChat) return write(text);
    const body = new DOMParser().parseFromString(text, "text/html").body;
    const replies = [...body.querySelectorAll("[data-copy]")];
    return write(replies.length ? replies.map((reply) => reply.dataset.copy).join("\\n\\n") : body.textContent);
  };
}
"""
