"""Short answers: typed spans, verbatim offsets, abstention (with the real model and spaCy)."""
from __future__ import annotations

import shutil

import pytest

from rag.answer import NOT_FOUND, extract
from rag.config import Config, ConfigError
from rag.corpus import unpack
from rag.evaluate import load_questions
from rag.indexer import index_seeds
from rag.question import analyse
from rag.types import Hit, StoredPassage
from tests.conftest import EVAL, SEED_FILE, SEED_QUESTIONS, open_qa


def hit(text: str, rank: int = 0) -> Hit:
    passage = StoredPassage(rank + 1, f"d{rank}", "Title", f"d{rank}.txt", 0, 100, 100 + len(text), text)
    return Hit(passage, score=1.0 / (rank + 1), dense=0.6, lexical=None)


@pytest.mark.parametrize(
    "question, sentence, expected",
    [
        ("Who founded the company?", "The company was founded by Ada Lovelace in London in 1843.", "Ada Lovelace"),
        ("When was the company founded?", "The company was founded by Ada Lovelace in London in 1843.", "1843"),
        ("Where was the company founded?", "The company was founded by Ada Lovelace in London in 1843.", "London"),
        ("How many employees does the firm have?", "The firm has 250 employees and two offices.", "250"),
        ("How long did the war last?", "The war began in 1914 and lasted four years.", "four years"),
        ("Which countries signed the treaty?", "Last year, France and Germany signed the treaty.", "France and Germany"),
    ],
)
def test_the_span_has_the_type_the_question_asks_for(question, sentence, expected):
    got = extract(question, [hit(sentence)])
    assert got.text == expected
    assert got.sentence == sentence


@pytest.mark.parametrize(
    "question, sentence, expected",
    [  # spaCy's spans here end inside the brackets or quotes: "a commune (gmina", '"ctenes'
        ("What kind of unit is Warsaw in?", "Warsaw is a commune (gmina) and the capital of Poland.", "a commune"),
        ("What did the press call Tesla?", 'The press called Tesla an archetypal "mad scientist" in the 1890s.', "mad scientist"),
        ("What are the combs of ctenophores called?", 'The comb rows, called "ctenes" by zoologists, beat in waves.', "ctenes"),
    ],
)
def test_an_answer_never_cuts_through_brackets_or_quotes(question, sentence, expected):
    got = extract(question, [hit(sentence)])
    assert got.text == expected
    assert sentence[got.source.start - 100 : got.source.end - 100] == expected  # offsets still slice it


@pytest.mark.parametrize(
    "question, sentence, expected",
    [
        ("How old is Rutte?", "In 2010 the 57-year-old Rutte became prime minister.", "57"),  # not "57-year-old"
        ("When did Rutte become prime minister?", "In 2010 the 57-year-old Rutte became prime minister.", "2010"),
        ("In what year did the club withdraw?", "The club withdrew in May 2012 after a vote.", "2012"),
        ("When did the club withdraw?", "The club withdrew in May 2012 after a vote.", "May 2012"),
        ("The principle came a century before whose theory?",
         "The principle came a century before Charles Darwin's theory of evolution.", "Charles Darwin"),
        ("How many species have been validated?",  # spaCy's entity is "Only 100–150"
         "Only 100–150 species have been validated, and another 25 have not been described.", "100–150"),
    ],
)
def test_a_typed_span_is_narrowed_to_what_the_question_asks(question, sentence, expected):
    assert extract(question, [hit(sentence)]).text == expected


def test_an_entity_the_question_names_is_never_the_answer():
    sentence = "Jens Stoltenberg handed the job over to Mark Rutte."
    assert extract("Who succeeded Stoltenberg?", [hit(sentence)]).text == "Mark Rutte"
    assert extract("Who did Mark Rutte take over from?", [hit(sentence)]).text == "Jens Stoltenberg"


def test_without_a_typed_span_the_answer_is_the_sentence():
    sentence = "The committee met twice."
    got = extract("Who chaired the committee?", [hit(sentence)])
    assert got.text == sentence and got.type_fit == 0.0


def test_question_words_map_to_entity_types():
    assert analyse("Who wrote it?").labels[0] == "PERSON"
    assert analyse("In what year did it end?").labels[0] == "DATE"
    assert analyse("What is the name of the player?").labels == ("PERSON",)
    assert analyse("What did they build?").labels == ()
    assert analyse("The analysis is done by who?").labels[0] == "PERSON"


def test_the_leading_question_word_decides_the_type():
    # Not a who- or when-question: "Who" is part of a title, "when" opens a clause.
    assert analyse("What does Doctor Who do when his body is damaged?").labels == ()
    # After "what did", a noun names the subject, not the answer ("a queen" is not asked for).
    assert analyse("What did Queen Elizabeth II open in Newcastle?").labels == ()
    assert analyse("What German general was of Huguenot ancestry?").labels == ("PERSON",)


def test_flagship_question_answers_mark_rutte_with_offsets_into_the_seed(seed_qa):
    answer = seed_qa.ask("Who succeeded Stoltenberg?")
    assert answer.text == "Mark Rutte" and not answer.abstained
    source = SEED_FILE.read_text(encoding="utf-8-sig")
    assert source[answer.source.start : answer.source.end] == "Mark Rutte"
    first = answer.citations[0]
    assert first.start <= answer.source.start < answer.source.end <= first.end


def test_seed_questions_are_answered_exactly(seed_qa):
    for q in load_questions(SEED_QUESTIONS):
        if q.answerable:
            answer = seed_qa.ask(q.question)
            assert answer.text in q.answers, (q.question, answer.text)


def test_a_question_the_documents_cannot_answer_abstains_and_still_shows_passages(seed_qa):
    answer = seed_qa.ask("What is the capital of Australia?")
    assert answer.abstained and answer.text == NOT_FOUND and answer.source is None
    assert answer.citations  # the closest passages are still shown


def test_the_readers_no_answer_signal_is_higher_where_the_documents_do_not_say(seed_qa):
    """The confidence's reader_no_answer signal: the lowest "no answer here" score among the
    passages read stays high when none of them holds an answer."""
    config = seed_qa.config
    _, (read, _) = seed_qa.stages(config.mode, "reader")  # the pipeline's own read stage
    lowest = {}
    for question in ("Who succeeded Stoltenberg?", "What is the capital of Australia?"):
        query = seed_qa.retriever.search(question, k=config.reader_passages)
        read.run(query)
        lowest[question] = query.extracted.reader_no_answer
    assert lowest["What is the capital of Australia?"] > lowest["Who succeeded Stoltenberg?"] + 3, lowest


@pytest.mark.xfail(strict=True, reason="known gap: the caption 'Stoltenberg ... and his successor, Mark Rutte' "
                   "looks like an answer to the span rules and to the trained reader alike (models/reader/MODEL_CARD.md)")
def test_who_will_succeed_rutte_abstains(seed_qa):
    assert seed_qa.ask("Who will succeed Mark Rutte at NATO?").abstained


@pytest.mark.parametrize("answerer, stage", [("reader", "read"), ("rules", "extract")])
def test_both_answerers_answer_the_flagship_question_through_their_own_stage(seed_qa, answerer, stage):
    answer = seed_qa.ask("Who succeeded Stoltenberg?", mode=f"rescored:{answerer}")
    assert answer.text == "Mark Rutte" and not answer.abstained
    other = ({"read", "extract"} - {stage}).pop()
    assert stage in answer.timings and other not in answer.timings and "confidence" in answer.timings


def test_a_mode_with_an_unknown_answerer_is_refused_with_the_choices(seed_qa):
    with pytest.raises(ConfigError, match=r"rescored:oracle.*:reader or :rules"):
        seed_qa.ask("Who succeeded Stoltenberg?", mode="rescored:oracle")


@pytest.fixture(scope="module")
def xquad_sample(tmp_path_factory, encoder):
    """The documents behind the first 60 xquad_en questions, indexed with the real model."""
    source = EVAL / "xquad_en"
    questions = load_questions(source / "questions.jsonl")[:60]
    corpus = tmp_path_factory.mktemp("xquad-corpus")
    unpack(source / "corpus.jsonl.gz", corpus)
    seeds = tmp_path_factory.mktemp("xquad-seeds")
    for doc_id in {d for q in questions for d in q.gold_doc_ids}:
        shutil.copy(corpus / f"{doc_id}.txt", seeds / f"{doc_id}.txt")
    config = Config(seeds_dir=seeds, index_dir=tmp_path_factory.mktemp("xquad-index"))
    index_seeds(config)
    qa = open_qa(config, encoder)
    yield qa, questions, seeds
    qa.close()


def test_every_answer_is_a_verbatim_slice_of_its_cited_document(seed_qa, xquad_sample):
    qa, questions, seeds = xquad_sample
    cases = [(seed_qa, q) for q in load_questions(SEED_QUESTIONS)] + [(qa, q) for q in questions]
    answered = {seed_qa: 0, qa: 0}
    for engine, q in cases:
        answer = engine.ask(q.question)
        if answer.abstained:
            continue
        answered[engine] += q.answerable
        cited = [c for c in answer.citations if c.doc_id == answer.source.doc_id]
        assert cited, q.question
        text = engine.retriever.store.document_text(answer.source.doc_id)
        assert text[answer.source.start : answer.source.end] == answer.text
        sentence = answer.sentence_source
        assert sentence.start <= answer.source.start and answer.source.end <= sentence.end
        assert any(c.start <= answer.source.start and answer.source.end <= c.end for c in cited)
    # Abstaining everywhere would pass every check above, so most answerable questions must be
    # answered. Floors, not today's counts (5 of the 5 seed ones and 59 of 60 xquad ones when
    # written), so that another answer step still fits.
    answerable = {e: sum(q.answerable for f, q in cases if f is e) for e in answered}
    assert answerable == {seed_qa: 5, qa: 60}
    assert answered[seed_qa] >= 4 and answered[qa] >= 0.7 * answerable[qa], answered
