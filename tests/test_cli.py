"""The CLI as a newcomer meets it, in process (click's CliRunner): messages name the index the
user asked about, `rag status` says when the seeds folder is ahead of the index, `--questions`
prints text unless --json, and -k has one range everywhere."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import ROOT
from rag.answer import Answer, AnswerSource, Citation
from rag.cli import main


def rag(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_a_missing_index_message_names_the_index_dir_that_was_passed(tmp_path):
    result = rag("ask", "When was NATO created?", "--index-dir", str(tmp_path / "notes index"))
    assert result.exit_code == 1
    assert f"run `rag index --index-dir '{tmp_path}/notes index'` first" in result.stderr


def test_status_warns_while_the_seeds_folder_holds_files_never_indexed(encoder, tmp_path):
    from rag.config import Config
    from rag.indexer import index_seeds

    seeds, index_dir = tmp_path / "notes", tmp_path / "index"
    seeds.mkdir()
    (seeds / "board.txt").write_text("Board\n\nThe board met on Monday.\n", encoding="utf-8")
    (seeds / ".examples.txt").write_text("When did the board meet?\n", encoding="utf-8")  # hidden: not a seed
    index_seeds(Config(seeds_dir=seeds, index_dir=index_dir))
    up_to_date = rag("status", "--check", "--index-dir", str(index_dir))
    assert up_to_date.exit_code == 0 and up_to_date.stderr == ""
    assert up_to_date.stdout.endswith("check: ok\n")

    (seeds / "minutes.md").write_text("Minutes\n\nThe board met again on Tuesday.\n", encoding="utf-8")
    behind = rag("status", "--check", "--index-dir", str(index_dir))  # the folder the index was built from
    assert behind.exit_code == 0  # the index itself is sound
    assert behind.stderr == (
        f"warning: 1 files in {seeds} are not in the index (minutes.md): "
        f"run `rag index --seeds {seeds} --index-dir {index_dir}` (it names any file it skips)\n"
    )
    assert behind.stdout.endswith("check: intact, but not up to date with the seeds folder\n")
    assert "seeds_not_indexed: ['minutes.md']" in behind.stdout


def test_questions_file_prints_text_unless_json_is_asked_for(seed_config, encoder, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("When was NATO created?\nWho succeeded Stoltenberg?\n", encoding="utf-8")
    text = rag("ask", "--questions", str(questions), "--index-dir", str(seed_config.index_dir))
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    heads = [(line, lines[n + 1]) for n, line in enumerate(lines) if line.startswith("Q: ")]
    assert heads == [("Q: When was NATO created?", "1949"), ("Q: Who succeeded Stoltenberg?", "Mark Rutte")]
    assert lines[lines.index("Q: Who succeeded Stoltenberg?") - 1] == ""  # answers apart
    assert not any(line.startswith("{") for line in lines)
    as_json = rag("ask", "--questions", str(questions), "--json", "--index-dir", str(seed_config.index_dir))
    assert [line[:14] for line in as_json.stdout.splitlines()] == ['{"question": "'] * 2


@pytest.mark.parametrize("k, accepted", [("20", True), ("21", False), ("0", False)])
def test_k_is_1_to_20_on_the_command_line(seed_config, encoder, k, accepted):
    result = rag("ask", "When was NATO created?", "-k", k, "--json", "--index-dir", str(seed_config.index_dir))
    if accepted:
        assert result.exit_code == 0 and result.stdout.count('"doc_id"') >= 2
    else:
        assert result.exit_code == 2 and "1<=x<=20" in result.stderr


def test_the_readmes_json_example_has_every_key_rag_ask_json_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("`rag ask --json` prints one object per question")[1].split("```json\n")[1].split("```")[0]
    example = json.loads(block)
    where = AnswerSource("d", 0, 1)
    printed = Answer("q", "a", False, where, [Citation("d", "t", "d.txt", 0, 0, 1, 1.0, "a")], "a", where).to_dict()
    assert list(example) == list(printed)
    assert list(example["citations"][0]) == list(printed["citations"][0])
    assert list(example["answer_source"]) == list(example["sentence_source"]) == list(printed["answer_source"])


def test_mode_takes_an_answer_stage_and_refuses_an_unknown_one(seed_config, encoder):
    def ask(mode: str):
        return CliRunner().invoke(main, ["ask", "Who succeeded Stoltenberg?", "--json", "--mode", mode,
                                         "--index-dir", str(seed_config.index_dir)])

    for mode, stage in (("rescored:rules", "extract"), ("rescored:reader", "read"), ("rescored", "read")):
        result = ask(mode)
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["answer"] == "Mark Rutte" and stage in answer["timings_ms"], (mode, answer["timings_ms"])
    refused = ask("rescored:oracle")
    assert refused.exit_code == 2 and "optionally with :reader or :rules" in refused.stderr
