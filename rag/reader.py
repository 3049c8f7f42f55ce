"""The trained reader: an extractive QA model that picks the answer span inside a passage.

The model (models/reader/, trained by `make train-reader`, see its MODEL_CARD.md) is
all-MiniLM-L6-v2 with a start/end span head. A question is read against windows of passages;
the [CLS] position (token 0) scores "no answer here", SQuAD 2.0 style.

Windows are built the same way for training and for reading (`windows`), so the model never
sees at run time a shape it was not trained on.
"""
from __future__ import annotations

from typing import Any, Sequence

# Window of question + passage word pieces, and the overlap between windows of a long passage.
# 256 fits nearly every passage (Config.max_passage_words 160 words ~ 210 word pieces) and a
# question in one window; the stride only matters for the rare longer passage.
MAX_TOKENS = 256
STRIDE = 96
MAX_QUESTION_TOKENS = 64


def windows(tokenizer: Any, questions: Sequence[str], contexts: Sequence[str],
            max_tokens: int = MAX_TOKENS, stride: int = STRIDE) -> Any:
    """Tokenise question/context pairs into overlapping windows (a BatchEncoding with
    `overflow_to_sample_mapping` and `offset_mapping`; offsets of question tokens are None'd
    through `sequence_ids`)."""
    questions = [q.strip()[: MAX_QUESTION_TOKENS * 8] for q in questions]
    return tokenizer(
        list(questions),
        list(contexts),
        truncation="only_second",
        max_length=max_tokens,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
