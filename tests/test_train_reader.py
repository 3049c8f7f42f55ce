"""`make train-reader` end to end on a few dozen examples: the wiring, saving, loading and
resuming, not the accuracy (the shipped model's figures are in models/reader/MODEL_CARD.md)."""
from __future__ import annotations

import gzip
import json

import pytest

from rag.reader import Reader
from train import reader as trainer

FACTS = [
    ("Lighthouses", "The Bell Rock lighthouse was built by Robert Stevenson in 1810. It stands in the North Sea.",
     [("Who built the Bell Rock lighthouse?", "Robert Stevenson"), ("When was the Bell Rock lighthouse built?", "1810")]),
    ("Lighthouses", "The Eddystone lighthouse burned down in 1755. Its keeper, Henry Hall, was 94 years old.",
     [("How old was Henry Hall?", "94"), ("What happened to the Eddystone lighthouse in 1755?", "burned down")]),
    ("Rivers", "The Danube flows through ten countries and ends in the Black Sea.",
     [("Where does the Danube end?", "the Black Sea"), ("How many countries does the Danube flow through?", "ten")]),
    ("Rivers", "The Thames is 346 kilometres long and flows through Oxford and London.",
     [("How long is the Thames?", "346 kilometres"), ("Which cities does the Thames flow through?", "Oxford and London")]),
]


def write_squad(folder, copies: int = 4) -> None:
    """A small SQuAD-format file, gzipped like the shipped data, with one unanswerable question."""
    articles: dict[str, list] = {}
    for title, context, qas in FACTS:
        for n in range(copies):
            articles.setdefault(f"{title} {n}", []).append({
                "context": context,
                "qas": [{"id": f"{title}-{n}-{i}", "question": q,
                         "answers": [{"text": a, "answer_start": context.index(a)}]} for i, (q, a) in enumerate(qas)]
                + [{"id": f"{title}-{n}-x", "question": "Who painted the lighthouse?", "answers": [],
                    "is_impossible": True}],
            })
    data = {"data": [{"title": t, "paragraphs": p} for t, p in articles.items()]}
    folder.mkdir()
    with gzip.open(folder / "tiny.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(data, fh)


@pytest.fixture
def tiny(tmp_path):
    write_squad(tmp_path / "data")
    return tmp_path


def train(tiny, *extra: str, work: str = "work") -> list[dict]:
    argv = ["--data", str(tiny / "data"), "--out", str(tiny / "model"), "--work", str(tiny / work),
            "--batch-size", "4", "--threads", "1", "--checkpoint-minutes", "0", "--val-share", "0", "--no-bf16",
            *extra]
    assert trainer.main(argv) == 0
    return [json.loads(line) for line in (tiny / work / "train.log").read_text().splitlines()]


def test_training_saves_a_model_the_reader_loads_and_reads_with(tiny):
    events = train(tiny, "--max-steps", "3")
    data = next(e for e in events if e["event"] == "data")
    assert data["windows"] > data["examples"] - 1 > 0 and data["no_answer_windows"] > 0  # unanswerable + negatives
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [1, 2, 3]
    card = json.loads((tiny / "model" / "training.json").read_text())
    assert card["steps"] == 3 and card["base"] == "all-MiniLM-L6-v2"
    assert not list(tiny.glob("model.tmp-*"))  # written beside, renamed in

    context = FACTS[0][1]
    spans = Reader(tiny / "model").read("Who built the Bell Rock lighthouse?", [context, "Unrelated words."])
    assert [s.passage for s in spans] == [0, 1]
    for span, text in zip(spans, [context, "Unrelated words."]):
        assert 0 <= span.start < span.end <= len(text)  # offsets into the passage, a verbatim slice
        assert text[span.start : span.end].strip() == text[span.start : span.end]


def test_another_packaged_base_without_segment_ids_trains_and_reads(tiny):
    # all-mpnet-base-v2 (MPNet): its tokenizer makes no token_type_ids and its model takes none.
    train(tiny, "--max-steps", "1", "--base", "all-mpnet-base-v2")
    assert json.loads((tiny / "model" / "training.json").read_text())["base"] == "all-mpnet-base-v2"
    context = FACTS[2][1]
    [span] = Reader(tiny / "model").read("Where does the Danube end?", [context])
    assert 0 <= span.start < span.end <= len(context)


def test_a_stopped_run_resumes_where_its_checkpoint_was(tiny):
    train(tiny, "--max-steps", "2")
    first = (tiny / "model" / "model.safetensors").read_bytes()
    events = train(tiny, "--max-steps", "4", "--reschedule")
    resumed = next(e for e in events if e["event"] == "resumed")
    assert (resumed["step"], resumed["total"], resumed["checkpoint_total"]) == (2, 4, 2)
    progress = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert progress == [1, 2, 3, 4]  # the second run trained steps 3 and 4 only
    assert (tiny / "model" / "model.safetensors").read_bytes() != first


def test_a_checkpoint_from_other_settings_is_refused_not_mixed_in(tiny):
    train(tiny, "--max-steps", "2")
    with pytest.raises(SystemExit, match="other settings"):
        train(tiny, "--max-steps", "5")  # another total without --reschedule


def test_the_example_order_is_a_function_of_the_seed():
    features = [([0] * (n % 7 + 3), [0], 0, 0) for n in range(100)]
    assert trainer.batches(features, 8, 13, 0) == trainer.batches(features, 8, 13, 0)
    assert trainer.batches(features, 8, 13, 0) != trainer.batches(features, 8, 13, 1)
    assert sorted(i for b in trainer.batches(features, 8, 13, 0) for i in b) == list(range(100))


def test_init_continues_an_exported_model_on_the_batches_it_has_not_seen(tiny):
    train(tiny, "--max-steps", "2")
    exported = (tiny / "model" / "model.safetensors").read_bytes()
    argv = ["--init", str(tiny / "model"), "--out", str(tiny / "more")]
    events = train(tiny, "--max-steps", "1", *argv, work="work-more")
    start = next(e for e in events if e["event"] == "start")
    assert start["data_offset"] == 2  # the exported model's 2 steps of the same order are skipped
    card = json.loads((tiny / "more" / "training.json").read_text())
    assert (card["steps"], card["data_offset"]) == (1, 2)
    assert (tiny / "more" / "model.safetensors").read_bytes() != exported  # trained further, from those weights
    other_seed = train(tiny, "--max-steps", "1", *argv, "--seed", "5", work="work-seed")
    assert next(e for e in other_seed if e["event"] == "start")["data_offset"] == 0  # another order: nothing to skip
