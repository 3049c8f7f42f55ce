"""Evaluation metrics against hand-computed values (log2(3) = 1.58496, log2(5) = 2.32193)."""
from __future__ import annotations

import math

import pytest

from rag import metrics as m


def test_recall_counts_gold_documents_found_in_the_first_k():
    ranked = ["a", "b", "c"]
    assert m.recall_at_k(ranked, ["b", "d"], 1) == 0.0
    assert m.recall_at_k(ranked, ["b", "d"], 2) == 0.5
    # k larger than the ranking: what was retrieved is all there is; no error, no padding credit
    assert m.recall_at_k(ranked, ["b", "d"], 10) == 0.5
    assert m.recall_at_k([], ["b"], 10) == 0.0


def test_duplicates_of_one_document_count_once_at_their_first_rank():
    # three passages of "a" before "b": "b" is the 2nd document, not the 4th result
    ranked = ["a", "a", "a", "b"]
    assert m.unique_in_order(ranked) == ["a", "b"]
    assert m.recall_at_k(ranked, ["b"], 2) == 1.0
    assert m.reciprocal_rank(ranked, ["b"]) == 0.5
    assert m.ndcg_at_k(ranked, ["b"]) == pytest.approx(1 / math.log2(3))
    # a repeated gold id is one gold document
    assert m.recall_at_k(["a"], ["a", "a"], 1) == 1.0
    assert m.ndcg_at_k(["a"], ["a", "a"]) == pytest.approx(1.0)


def test_missing_gold_makes_retrieval_metrics_not_apply():
    for metric in (lambda r, g: m.recall_at_k(r, g, 5), m.reciprocal_rank, m.ndcg_at_k):
        assert metric(["a", "b"], []) is None
    assert m.passage_hit_at_k(["some text"], [], 1) is None
    assert m.passage_hit_at_k(["some text"], ["  "], 1) is None
    # gold given but never retrieved: a real zero, not "does not apply"
    assert m.reciprocal_rank(["a", "b"], ["z"]) == 0.0
    assert m.ndcg_at_k(["a", "b"], ["z"]) == 0.0


def test_mean_skips_questions_a_metric_does_not_apply_to():
    assert m.mean([None, 1.0, 0.0]) == 0.5
    assert m.mean([None, None]) is None
    assert m.mean([]) is None


def test_ndcg_by_hand_with_more_gold_than_results():
    # gold g1 at rank 2, g2 at rank 4, g3 not retrieved; ranking shorter than k=10
    ranked = ["x", "g1", "y", "g2"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # 0.63093 + 0.43068
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # 3 gold documents could fill ranks 1-3
    assert m.ndcg_at_k(ranked, ["g1", "g2", "g3"]) == pytest.approx(dcg / ideal)
    assert m.ndcg_at_k(ranked, ["g1", "g2", "g3"]) == pytest.approx(0.49819, abs=1e-5)


def test_ndcg_ideal_is_capped_at_k():
    gold = [f"g{i}" for i in range(12)]
    assert m.ndcg_at_k(gold[:10], gold, k=10) == pytest.approx(1.0)
    assert m.recall_at_k(gold[:10], gold, 10) == pytest.approx(10 / 12)


def test_ties_are_scored_in_the_order_given_never_re_sorted():
    # the retriever breaks score ties (by passage id); metrics must not reorder, e.g. by name
    assert m.reciprocal_rank(["b", "a"], ["a"]) == 0.5
    assert m.reciprocal_rank(["a", "b"], ["a"]) == 1.0
    # two gold documents swapping places at ranks 1-2 score the same
    assert m.ndcg_at_k(["g2", "g1", "x"], ["g1", "g2"]) == m.ndcg_at_k(["g1", "g2", "x"], ["g1", "g2"]) == 1.0
    # the best answer wins even when two answers tie
    assert m.token_f1("Rutte", ["Mark Rutte", "Rutte", "rutte"]) == 1.0


def test_mrr_only_looks_at_the_first_ten_documents():
    ranked = [f"d{i}" for i in range(10)] + ["gold"]
    assert m.reciprocal_rank(ranked, ["gold"], 10) == 0.0
    assert m.reciprocal_rank(ranked, ["gold"], 11) == pytest.approx(1 / 11)


def test_passage_hit_ignores_case_and_whitespace_runs():
    passages = ["NATO was created in 1949.", "It was handed over to former\nDutch Prime Minister  Mark Rutte."]
    contains = ["handed it over to former Dutch Prime Minister Mark Rutte", "Dutch prime minister Mark Rutte"]
    assert m.passage_hit_at_k(passages, contains, 1) == 0.0
    assert m.passage_hit_at_k(passages, contains, 2) == 1.0
    assert m.passage_hit_at_k(passages, contains, 10) == 1.0  # k larger than the passages


def test_squad_normalisation():
    assert m.normalize_answer("The  Cat's hat!") == "cats hat"
    assert m.normalize_answer("An apple, a day") == "apple day"
    assert m.normalize_answer("Theatre") == "theatre"  # articles only as whole words


def test_exact_match_is_best_over_answers_after_normalisation():
    assert m.exact_match("the Mark Rutte.", ["Mark Rutte"]) == 1.0
    assert m.exact_match("Rutte", ["Mark Rutte", "Rutte"]) == 1.0
    assert m.exact_match("Mark", ["Mark Rutte"]) == 0.0
    assert m.exact_match(None, ["Mark Rutte"]) == 0.0  # an abstention on an answerable question
    assert m.exact_match("anything", []) is None  # retrieval-only question


def test_token_f1_by_hand():
    # "Finland" vs "Finland and Sweden": precision 1/1, recall 1/3 -> 2*(1*1/3)/(4/3) = 0.5
    assert m.token_f1("Finland", ["Finland and Sweden"]) == pytest.approx(0.5)
    # repeated tokens count once each: common = {ten: 1, years: 1}; P = 2/3, R = 1 -> 0.8
    assert m.token_f1("ten ten years", ["ten years"]) == pytest.approx(0.8)
    # best over answers, not the mean
    assert m.token_f1("ten years", ["10 years", "ten years"]) == 1.0
    assert m.token_f1("ten years", ["10 years"]) == pytest.approx(0.5)
    assert m.token_f1(None, ["1949"]) == 0.0
    assert m.token_f1("the", ["the"]) == 0.0  # empty after normalisation, as the SQuAD v1.1 script
    assert m.token_f1("x", []) is None


def test_contains_answer_matches_whole_tokens():
    assert m.contains_answer("Finland and Sweden joined the organization.", ["Sweden"]) == 1.0
    assert m.contains_answer("Swedenborg wrote it.", ["Sweden"]) == 0.0
    assert m.contains_answer(None, ["Sweden"]) == 0.0
    assert m.contains_answer("text", []) is None


def test_contains_answer_finds_answers_that_normalisation_glues_to_a_neighbour():
    assert m.contains_answer("Six-time Grammy winner Lady Gaga sang.", ["Six"]) == 1.0
    assert m.contains_answer("such as William Tyndale's English Bible", ["William Tyndale"]) == 1.0
    assert m.contains_answer("a son, Jochi (1185–1226), nine months later", ["1185"]) == 1.0
    assert m.contains_answer("Sixty-time winner", ["Six"]) == 0.0  # still not inside a longer word


def test_percentile_interpolates_linearly():
    assert m.percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    assert m.percentile([10.0, 20.0, 30.0, 40.0], 95) == pytest.approx(38.5)
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([], 50) is None
