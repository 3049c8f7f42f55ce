"""A question and k as a user or a JSON client hands them in: checked once (rag/inputs.py), refused
with one clear line at every entry; `rag ask --questions` skips a bad line and answers the rest.
(The chat and the `/ask` API: tests/test_ui.py.)"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.inputs import InputError, check_k, check_question


@pytest.mark.parametrize(
    "value, message",
    [
        ("\ud800", r"the question is not valid text \(lone surrogate at position 1\)"),
        ("Who is \udcff?", r"the question is not valid text \(lone surrogate at position 8\)"),
        (123, "the question must be text, not 123"),
        ({"a": 1}, r'the question must be text, not \{"a": 1\}'),
        (None, "the question must be text, not null"),
    ],
)
def test_a_question_must_be_valid_text(value, message):
    with pytest.raises(InputError, match=message):
        check_question(value)


def test_a_valid_question_is_returned_as_given():
    assert check_question("  Who? 🦓 ") == "  Who? 🦓 "


@pytest.mark.parametrize(
    "value, shown",
    [("abc", '"abc"'), (None, "null"), ([], r"\[\]"), (2.5, "2.5"), (True, "true"), (0, "0"), (21, "21"),
     (float("nan"), "NaN"), ("x" * 100, '"' + "x" * 38 + "…")],
)
def test_k_must_be_a_whole_number_in_range(value, shown):
    with pytest.raises(InputError, match=f"^k must be a whole number from 1 to 20, not {shown}$"):
        check_k(value, 1, 20)


def test_a_whole_k_is_an_int():
    assert check_k(5.0, 1, 20) == 5 and isinstance(check_k(5.0, 1, 20), int)  # what a slider sends
    assert check_k(20, 1, 20) == 20


def test_rag_ask_refuses_a_lone_surrogate_in_one_line(seed_config):
    # Python decodes a command line's invalid UTF-8 byte 0xff as the lone surrogate "\udcff".
    # Old code: a TypeError traceback from the tokenizer.
    result = CliRunner().invoke(main, ["ask", "Who succeeded \udcff?", "--index-dir", str(seed_config.index_dir)])
    assert result.exit_code == 1 and not isinstance(result.exception, TypeError)
    assert result.stderr == "rag: error: the question is not valid text (lone surrogate at position 15)\n"


def test_rag_ask_questions_skips_each_bad_line_and_answers_the_rest(seed_config, tmp_path):
    # Old code: the invalid UTF-8 stopped the whole file with a UnicodeDecodeError traceback, and
    # any one bad JSON line stopped the batch before its first answer.
    qfile = tmp_path / "q.jsonl"
    qfile.write_bytes(
        b"Who succeeded Stoltenberg?\n"
        b'{"question": "Who \\ud800?"}\n'
        b"caf\xe9 au lait?\n"
        b'{"question": 123}\n'
        b'{"question": "unclosed\n'
        b"\n"
        b'{"text": "When?"}\n'
        + b"x" * 2001 + b"\n"
        b'{"question": "When was NATO created?"}\n'
    )
    result = CliRunner().invoke(main, ["ask", "--questions", str(qfile), "--json", "--index-dir", str(seed_config.index_dir)])
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == ["Who succeeded Stoltenberg?", "When was NATO created?"]
    assert result.stderr.splitlines() == [
        f"rag: error: {qfile}:3: not UTF-8 text (bad byte at column 4) (skipped)",
        f"rag: error: {qfile}:5: not valid JSON (Unterminated string starting at at column 14) (skipped)",
        f'rag: error: {qfile}:7: no "question" key (skipped)',
        f"rag: error: {qfile}:2: the question is not valid text (lone surrogate at position 5) (skipped)",
        f"rag: error: {qfile}:4: the question must be text, not 123 (skipped)",
        f"rag: error: {qfile}:8: the question is 2,001 characters; the limit is 2,000 (skipped)",
        f"rag: error: 6 line(s) of {qfile} skipped",
    ]
    assert result.exit_code == 1
