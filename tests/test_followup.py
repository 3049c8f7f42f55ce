"""Follow-up questions: pronouns resolve to the person the conversation is about."""
from __future__ import annotations

import pytest

from rag.followup import Turn, names_in, resolve

RUTTE_SENTENCE = (
    "NATO Secretary General Jens Stoltenberg has stepped down from the role and handed it over to "
    "former Dutch Prime Minister Mark Rutte."
)


@pytest.mark.parametrize(
    "history, question, expected",
    [
        # After a who-question the answer is the person.
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte")], "How old is he?", "How old is Mark Rutte?"),
        # A sentence answer: the name the question did not already mention.
        ([Turn("Who succeeded Stoltenberg?", RUTTE_SENTENCE)], "How old is he?",
         "How old is Dutch Prime Minister Mark Rutte?"),
        # After a when/how question the answer is a date or number: the person is in the question.
        ([Turn("When did Rutte become prime minister?", "2010")], "How old was he then?", "How old was Rutte then?"),
        # Abstained, or an answer that only repeats the question's name: the name in the question.
        ([Turn("Who succeeded Stoltenberg?", "Jens Stoltenberg")], "How old is he?", "How old is Stoltenberg?"),
        ([Turn("Who succeeded Stoltenberg?", None)], "How old is he?", "How old is Stoltenberg?"),
        # Possessive and object forms.
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte")], "What was his job?", "What was Mark Rutte's job?"),
        ([Turn("Who leads NATO?", "Mark Rutte")], "What did Putin say about her?", "What did Putin say about Mark Rutte?"),
        ([Turn("Who leads NATO?", "Mark Rutte")], "What is her job?", "What is Mark Rutte's job?"),
        # The newest turn that names someone wins; chains work because turns hold the searched question.
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte"), Turn("How old is Mark Rutte?", "57")],
         "Where was he prime minister?", "Where was Mark Rutte prime minister?"),
    ],
)
def test_pronouns_resolve_to_the_conversation_referent(history, question, expected):
    assert resolve(question, history) == expected


@pytest.mark.parametrize(
    "history, question",
    [
        ([], "How old is he?"),  # nothing to refer to
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte")], "When was NATO created?"),  # no pronoun
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte")], "How long did it take?"),  # "it" is left alone
        ([Turn("how many members are there?", "32")], "Where are they?"),  # no name anywhere
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte")], "Is the shepherd there?"),  # "he" inside words
    ],
)
def test_questions_without_a_resolvable_pronoun_are_unchanged(history, question):
    assert resolve(question, history) == question


@pytest.mark.parametrize(
    "history, question, expected",
    [
        # An acronym is an organisation, not "he": asked as typed...
        ([Turn("Where is NATO headquarters?", "Brussels")], "Where did he study?", "Where did he study?"),
        # ...or about the person of an older turn.
        ([Turn("Who succeeded Stoltenberg?", "Mark Rutte"), Turn("Where is NATO headquarters?", "Brussels")],
         "Where did he study?", "Where did Mark Rutte study?"),
        ([Turn("When was the European Union founded?", "1993")], "Who led it and when did he?",
         "Who led it and when did he?"),
        ([Turn("Who chairs the Security Council?", "the UN Security Council President")], "How old is she?",
         "How old is she?"),
        # A person's name that holds an acronym is still a person's.
        ([Turn("When did NATO Secretary General Jens Stoltenberg leave?", "2024")], "Where was he born?",
         "Where was NATO Secretary General Jens Stoltenberg born?"),
    ],
)
def test_a_pronoun_resolves_only_to_a_persons_name(history, question, expected):
    assert resolve(question, history) == expected


def test_names_are_runs_of_capitalised_words_without_question_words():
    assert names_in("When did Rutte become prime minister of The Netherlands?") == ["Rutte", "Netherlands"]
    assert names_in("Who is Mark Rutte's successor?") == ["Mark Rutte"]
    assert names_in("NATO Secretary General Jens Stoltenberg, 65, said") == ["NATO Secretary General Jens Stoltenberg"]


def test_resolved_follow_up_retrieves_the_passage_that_answers_it(seed_qa):
    """The issue's example: "How old is he?" after "Who succeeded Stoltenberg?" -> Mark Rutte."""
    question = resolve("How old is he?", [Turn("Who succeeded Stoltenberg?", "Mark Rutte")])
    answer = seed_qa.ask(question, k=3)
    assert any("57-year-old Rutte" in c.text for c in answer.citations), [c.text for c in answer.citations]
