"""Rendering: untrusted text is escaped, the answer span is marked at the right place."""
from __future__ import annotations

from rag.answer import NOT_FOUND, Answer, AnswerSource, Citation
from ui.render import chat_reply, highlight, reply_text, sources_panel, span_in

PASSAGE = "Jens Stoltenberg handed it over to <b>Mark Rutte</b> today."
DOC_START = 100  # the passage's offset in its document


def citation(text: str = PASSAGE, title: str = "NATO <script>x()</script>", score: float = 0.9,
             doc_id: str = "doc") -> Citation:
    return Citation(doc_id, title, f"{doc_id}.txt", 3, DOC_START, DOC_START + len(text), score, text)


def answer_for(text: str, start: int, end: int, abstained: bool = False, others: tuple[Citation, ...] = ()) -> Answer:
    """An answer whose span is PASSAGE[start:end], from the sentence that is the whole passage."""
    source = None if abstained else AnswerSource("doc", DOC_START + start, DOC_START + end)
    sentence = AnswerSource("doc", DOC_START, DOC_START + len(PASSAGE))
    return Answer("Who succeeded Stoltenberg?", text, abstained, source, [citation(), *others],
                  sentence=PASSAGE, sentence_source=sentence)


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


def test_sources_panel_shows_title_place_score_and_the_highlight():
    start = PASSAGE.index("Mark")
    html = sources_panel(answer_for("Mark Rutte", start, start + 10))
    assert "NATO &lt;script&gt;x()&lt;/script&gt;" in html
    assert "<script>" not in html
    assert 'doc.txt, paragraph 4 · <span class="rag-score" title="Retrieval score of this passage' in html
    assert ">score 0.900</span>" in html
    assert '<mark class="rag-answer">Mark Rutte</mark>' in html


def test_an_abstention_lists_closest_passages_not_sources_and_no_highlight():
    answer = answer_for(NOT_FOUND, 0, 0, abstained=True)
    for html in (sources_panel(answer), chat_reply(answer, answer.question, 1)):
        assert "Closest passages" in html and "Source" not in html and "<mark" not in html
    assert "[1]" not in chat_reply(answer, answer.question, 1)


RUTTE = PASSAGE.index("Mark")
OTHERS = (citation("Rutte was prime minister.", "Rutte", 0.7, "b"), citation("NATO has 32 members.", "NATO", 1.2, "c"))


def test_reply_cites_only_the_answers_passage_and_lists_the_rest_apart_best_first():
    reply = chat_reply(answer_for("Mark Rutte", RUTTE, RUTTE + 10, others=OTHERS), "Who succeeded Stoltenberg?", 4)
    short, quote, cite = reply.split("</div>")[0], reply.split("<blockquote")[1], reply.split('"rag-cite">')[1]
    assert short.endswith(">Mark Rutte")
    # The sentence quoted, the answer marked inside it, markup in it escaped.
    assert '“Jens Stoltenberg handed it over to &lt;b&gt;<mark class="rag-answer">Mark Rutte</mark>' in quote
    assert cite.startswith('<a class="rag-ref" href="#rag-reply-4-1">[1]</a> NATO &lt;script&gt;')
    assert "[2]" not in reply and "Sources" not in reply  # the other passages are not sources...
    related = reply.split("<summary>Related passages</summary>")[1]
    assert related.index("NATO has 32") < related.index("Rutte was prime minister")  # ...best score first
    assert 'id="rag-reply-4-1"' in reply.split("<summary>Related")[0]  # the [1] link's target


def test_each_reply_has_its_own_link_targets():
    answer = answer_for("Mark Rutte", RUTTE, RUTTE + 10)
    first, second = chat_reply(answer, answer.question, 1), chat_reply(answer, answer.question, 3)
    assert 'href="#rag-reply-1-1"' in first and 'id="rag-reply-1-1"' in first
    assert 'href="#rag-reply-3-1"' in second and "rag-reply-1-" not in second


def test_the_copied_text_is_plain_answer_quote_and_citation():
    answer = answer_for("Mark Rutte", RUTTE, RUTTE + 10, others=OTHERS)
    assert reply_text(answer) == (
        "Mark Rutte\n“Jens Stoltenberg handed it over to <b>Mark Rutte</b> today.”\n"
        "[1] NATO <script>x()</script> (doc.txt, paragraph 4)"
    )
    assert reply_text(answer_for(NOT_FOUND, 0, 0, abstained=True)) == "I couldn't find that in the documents."
    # In the message it is an attribute value, escaped like everything else.
    assert 'data-copy="Mark Rutte\n“Jens Stoltenberg handed it over to &lt;b&gt;Mark' in chat_reply(answer, "x", 1)


def test_chat_reply_escapes_the_answer():
    reply = chat_reply(answer_for('<img src=x onerror="alert(1)">', 0, 5), "Who succeeded Stoltenberg?", 1)
    assert '<div class="rag-short">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</div>' in reply
    assert "<img" not in reply and "Read as" not in reply


def test_chat_reply_says_how_a_follow_up_was_read():
    reply = chat_reply(answer_for("57", 0, 2), "How old is he?", 1)
    assert "Read as: Who succeeded Stoltenberg?" in reply
