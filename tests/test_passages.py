"""Splitting documents into cited passages: offsets, duplicates, long paragraphs."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.documents import html_to_text, load_documents, title_of
from rag.passages import sentence_spans, split_passages
from tests.conftest import SEED_FILE


def test_every_passage_slices_exactly_out_of_the_seed_file():
    text = SEED_FILE.read_text(encoding="utf-8-sig")
    passages = split_passages("seed", text, 160)
    assert len(passages) > 20
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text


def test_repeated_title_and_caption_are_kept_once():
    text = SEED_FILE.read_text(encoding="utf-8-sig")
    passages = [p.text for p in split_passages("seed", text, 160)]
    assert len(passages) == len(set(passages))
    # The seed repeats its headline; it is kept once, as the first passage.
    assert passages[0] == "Stoltenberg Leaves NATO Role With Warning About ‘Reckless Russian Rhetoric’"


def test_long_paragraph_is_split_at_sentence_boundaries():
    sentences = [f"Sentence number {i} talks about topic {i} at some length here." for i in range(40)]
    text = "Title\n\n" + " ".join(sentences) + "\n\nLast paragraph."
    passages = split_passages("doc", text, max_words=30)
    body = [p for p in passages if p.text.startswith("Sentence")]
    assert len(body) > 1
    for p in body:
        assert len(p.text.split()) <= 30
        assert p.text.endswith(".")  # cut after a sentence, never inside one
        assert text[p.start : p.end] == p.text
    assert " ".join(p.text for p in body) == " ".join(sentences)


def test_a_run_on_sentence_longer_than_the_window_is_split_at_words():
    text = " ".join(f"w{i}" for i in range(100))
    passages = split_passages("doc", text, max_words=40)
    assert [len(p.text.split()) for p in passages] == [40, 40, 20]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab .!?\n\t\r", min_size=0, max_size=40), max_size=8))
def test_offsets_hold_for_arbitrary_text(parts):
    text = "\n\n".join(parts)
    for p in split_passages("doc", text, max_words=3):
        assert text[p.start : p.end] == p.text
        assert p.text.strip() == p.text != ""


def test_sentences_split_after_terminal_punctuation():
    text = "NATO was created in 1949. It has 32 members! Does it? “Yes.” Then more."
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got == ["NATO was created in 1949.", "It has 32 members!", "Does it?", "“Yes.”", "Then more."]


def test_initials_and_abbreviations_stay_inside_their_sentence():
    # Each of these once cut a gold answer in two ("William E." | "Simon as the first ...").
    text = ("In 1973, Nixon named William E. Simon as administrator. Dr. Smith met Mr. Jones in the U.S. Navy. "
            "It ended with vitamin C. Then Brown v. Board was decided, as Smith et al. (2005) wrote.")
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got == [
        "In 1973, Nixon named William E. Simon as administrator.",
        "Dr. Smith met Mr. Jones in the U.S. Navy.",
        "It ended with vitamin C.",  # a lone capital after a lower-case word still ends a sentence
        "Then Brown v. Board was decided, as Smith et al. (2005) wrote.",
    ]


def test_html_seed_becomes_paragraphs_without_markup_or_scripts():
    html = ("<html><head><title>T</title><script>evil()</script></head>"
            "<body><h1>Head</h1><p>One &amp; two.</p><p>Three</p></body></html>")
    text = html_to_text(html)
    assert "evil" not in text and "<" not in text
    assert [p.text for p in split_passages("d", text, 100)] == ["T", "Head", "One & two.", "Three"]


def test_title_is_first_non_empty_line():
    assert title_of("\n\n  # My notes \nbody", "fallback") == "My notes"
    assert title_of("   ", "fallback") == "fallback"


def test_html_character_references_are_decoded_once(tmp_path):
    # Old code unescaped the parser's already-decoded text again: "&lt;script&gt;" became "<script>".
    markup = "<p>Escaped: &amp;lt;script&amp;gt; &amp;amp; caf&eacute; &#x41;</p>"
    assert html_to_text(markup) == "Escaped: &lt;script&gt; &amp; café A"
    (tmp_path / "page.html").write_text(markup, encoding="utf-8")
    [doc] = load_documents(tmp_path, [".html"], 10_000).documents
    assert doc.text == "Escaped: &lt;script&gt; &amp; café A"
