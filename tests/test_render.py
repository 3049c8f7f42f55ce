"""Rendering: untrusted text is escaped, the answer span is marked at the right place."""
from __future__ import annotations

from rag.answer import Answer, AnswerSource, Citation
from ui.render import chat_reply, highlight, sources_panel, span_in

PASSAGE = "Jens Stoltenberg handed it over to <b>Mark Rutte</b> today."
DOC_START = 100  # the passage's offset in its document


def citation(text: str = PASSAGE, title: str = "NATO <script>x()</script>") -> Citation:
    return Citation("doc", title, "doc.txt", 3, DOC_START, DOC_START + len(text), 0.9, text)


def answer_for(text: str, start: int, end: int, abstained: bool = False) -> Answer:
    source = None if abstained else AnswerSource("doc", DOC_START + start, DOC_START + end)
    return Answer("Who succeeded Stoltenberg?", text, abstained, source, [citation()])


def test_highlight_marks_the_span_and_escapes_everything():
    start = PASSAGE.index("<b>Mark")
    end = PASSAGE.index("</b>") + 4
    out = highlight(PASSAGE, [(start, end, "rag-answer")])
    assert out == (
        'Jens Stoltenberg handed it over to <mark class="rag-answer">&lt;b&gt;Mark Rutte&lt;/b&gt;</mark> today.'
    )


def test_nested_spans_split_into_marks_with_the_inner_class_winning():
    out = highlight("abcdef", [(0, 6, "s"), (2, 4, "a")])
    assert out == '<mark class="s">ab</mark><mark class="a">cd</mark><mark class="s">ef</mark>'


def test_span_in_converts_document_offsets_to_passage_offsets():
    c = citation()
    assert span_in(c, AnswerSource("doc", DOC_START + 5, DOC_START + 16)) == (5, 16)
    assert span_in(c, AnswerSource("other", DOC_START + 5, DOC_START + 16)) is None  # another document
    assert span_in(c, AnswerSource("doc", 0, 10)) is None  # before the passage
    assert span_in(c, AnswerSource("doc", DOC_START - 5, DOC_START + 4)) == (0, 4)  # clipped


def test_sources_panel_shows_title_file_paragraph_score_and_the_highlight():
    start = PASSAGE.index("Mark")
    html = sources_panel(answer_for("Mark Rutte", start, start + 10))
    assert "NATO &lt;script&gt;x()&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "doc.txt · paragraph 4 · score 0.900" in html
    assert '<mark class="rag-answer">Mark Rutte</mark>' in html


def test_an_abstention_lists_passages_without_a_highlight():
    html = sources_panel(answer_for("I couldn't find that in the documents.", 0, 0, abstained=True))
    assert "Closest passages" in html and "<mark" not in html


def test_chat_reply_escapes_the_answer_and_numbers_the_citations():
    reply = chat_reply(answer_for('<img src=x onerror="alert(1)">', 0, 5), "Who succeeded Stoltenberg?")
    assert reply.startswith("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;")
    assert "Sources: [1]" in reply
    assert "Read as" not in reply


def test_chat_reply_says_how_a_follow_up_was_read():
    reply = chat_reply(answer_for("57", 0, 2), "How old is he?")
    assert "Read as: Who succeeded Stoltenberg?" in reply
