"""The trained reader: an extractive QA model that picks the answer span inside a passage.

The model (models/reader/, trained by `make train-reader`, see its MODEL_CARD.md) is
all-MiniLM-L6-v2 with a start/end span head. The question is read against windows of the top
passages in one batch; the best legal span (inside one window's passage, at most
MAX_ANSWER_TOKENS long) is mapped back to character offsets with the fast tokenizer's offset
mapping, so the answer is always a verbatim slice of a cited passage. The [CLS] position
(token 0) scores "no answer here", SQuAD 2.0 style; the span's margin over it feeds the
confidence (rag/confidence.py).

Windows are built the same way for training and for reading (`windows`), so the model never
sees at run time a shape it was not trained on.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.pooling import quiet_transformers
from rag import models
from rag.answer import AnswerSource, Extracted
from rag.errors import RagError
from rag.pipeline import Query
from rag.sentences import score_sentences, sentence_terms

# Window of question + passage word pieces, and the overlap between windows of a long passage.
# 256 fits nearly every passage (Config.max_passage_words 160 words ~ 210 word pieces) and a
# question in one window; the stride only matters for the rare longer passage.
MAX_TOKENS = 256
STRIDE = 96
# Longer questions are cut: a window must keep room for the passage.
MAX_QUESTION_CHARS = 500
# SQuAD answers are short; a cap also stops a span from swallowing the clause between two names.
# Held-out training articles (bench/.cache/heldout, 300 questions, 3 passages read): EM/F1
# .550/.667 at 30 word pieces, .557/.673 at 15, .567/.678 at 10.
MAX_ANSWER_TOKENS = 10
# Which passage's span answers: its span score less this much per place down the retrieval
# ranking, so a slightly better span in a lower passage does not beat the top passage's. Held-out
# training articles (bench/.cache/heldout, 500 questions, 3 passages read), EM/F1 by penalty:
# 0: .548/.665, 0.5: .564/.686, 1.0: .584/.706, 2.0: .580/.703, 3.0: .576/.701; reading 5
# passages instead of 3 gives no more (1.0: .582/.702).
RANK_PENALTY = 1.0


class ReaderNotAvailable(RagError):
    """The reader's weights are missing or unreadable."""



def windows(tokenizer: Any, questions: Sequence[str], contexts: Sequence[str],
            max_tokens: int = MAX_TOKENS, stride: int = STRIDE) -> Any:
    """Tokenise question/context pairs into overlapping windows: a BatchEncoding with
    `overflow_to_sample_mapping`, `offset_mapping` and `sequence_ids(i)` (1 = context token)."""
    return tokenizer(
        [q.strip()[:MAX_QUESTION_CHARS] for q in questions],
        list(contexts),
        truncation="only_second",
        max_length=max_tokens,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def segment_ids(enc: Any, i: int) -> list[int]:
    """Window i's segment ids (0 question, 1 passage); all 0 for tokenizers without them (MPNet)."""
    return enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(enc["input_ids"][i])


def model_inputs(tokenizer: Any, ids: Any, types: Any, mask: Any) -> dict[str, Any]:
    """The forward pass's keyword arguments: segment ids only for models that take them (BERT,
    the shipped reader's architecture, does; MPNet does not)."""
    inputs = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in tokenizer.model_input_names:
        inputs["token_type_ids"] = types
    return inputs


@dataclass(frozen=True)
class Span:
    """The reader's best answer inside one passage."""

    passage: int  # index into the texts read
    start: int  # character offsets into that text
    end: int
    score: float  # start + end logit of the span
    no_answer: float  # start + end logit of [CLS] in the span's window


PRECISIONS = ("float32", "bfloat16", "int8")


def at_precision(model: Any, precision: str) -> Any:
    """The model to run at `precision`: int8 dynamically quantises its linear layers; float32 and
    bfloat16 run it as loaded (bfloat16 through `autocast`)."""
    if precision != "int8":
        return model
    import torch

    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def autocast(precision: str) -> Any:
    """The context a forward pass at `precision` runs in: matrix work in bfloat16 where asked."""
    import torch

    return torch.autocast("cpu", torch.bfloat16, enabled=precision == "bfloat16")


class Reader:
    """The trained model, loaded on first use (a cheap constructor: rag/models.py caches it).

    `precision`: float32; bfloat16 (autocast: matrix work in bf16 where the CPU has it); int8
    (dynamically quantised linear layers)."""

    def __init__(self, model_dir: Path, threads: int = 1, precision: str = "float32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"reader precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.precision = precision
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if not (self.model_dir / "model.safetensors").is_file():
            raise ReaderNotAvailable(
                f"no reader model in {self.model_dir}: the project ships one in models/reader/ "
                f"(or train one with `make train-reader`)"
            )
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        quiet_transformers()
        torch.set_num_threads(self.threads)
        tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        # Shipped as float16 (half the size); computed in float32, which is faster on CPUs.
        model = AutoModelForQuestionAnswering.from_pretrained(
            str(self.model_dir), local_files_only=True, dtype=torch.float32
        )
        model.eval()
        self._model, self._tokenizer = at_precision(model, self.precision), tokenizer

    def read(self, question: str, texts: Sequence[str]) -> list[Span]:
        """The best span of each text that has one (windows of all texts in one batch)."""
        import torch

        with self._lock:
            if self._model is None:
                self._load()
        if not texts:
            return []
        enc = windows(self._tokenizer, [question] * len(texts), texts)
        width = max(len(ids) for ids in enc["input_ids"])
        n = len(enc["input_ids"])
        ids = torch.full((n, width), self._tokenizer.pad_token_id, dtype=torch.long)
        types = torch.zeros((n, width), dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        context = torch.zeros((n, width), dtype=torch.bool)
        for i, row in enumerate(enc["input_ids"]):
            ids[i, : len(row)] = torch.tensor(row)
            types[i, : len(row)] = torch.tensor(segment_ids(enc, i))
            mask[i, : len(row)] = 1
            context[i, : len(row)] = torch.tensor([s == 1 for s in enc.sequence_ids(i)])
        with torch.inference_mode(), autocast(self.precision):
            out = self._model(**model_inputs(self._tokenizer, ids, types, mask))
        start, end = out.start_logits.float(), out.end_logits.float()
        # Every (start, end) pair inside the passage part of a window, end >= start, bounded length.
        pair = start[:, :, None] + end[:, None, :]
        legal = context[:, :, None] & context[:, None, :]
        legal &= torch.ones(width, width, dtype=torch.bool).triu().tril(MAX_ANSWER_TOKENS - 1)
        pair = pair.masked_fill(~legal, float("-inf")).view(n, -1)
        best_score, best_at = pair.max(dim=1)
        best: dict[int, Span] = {}
        for i in range(n):
            score = float(best_score[i])
            if score == float("-inf"):
                continue
            s_tok, e_tok = divmod(int(best_at[i]), width)
            text_index = enc["overflow_to_sample_mapping"][i]
            offsets = enc["offset_mapping"][i]
            span = Span(text_index, offsets[s_tok][0], offsets[e_tok][1], score, float(start[i, 0] + end[i, 0]))
            if text_index not in best or span.score > best[text_index].score:
                best[text_index] = span
        return [best[i] for i in sorted(best)]


@dataclass
class Read:
    """The answer stage of the trained reader: the best span among the top `passages` hits."""

    model_dir: Path
    passages: int
    threads: int = 1
    precision: str = "float32"
    name: str = "read"

    def run(self, query: Query) -> None:
        hits = query.hits[: self.passages]
        reader = models.reader(self.model_dir, self.threads, self.precision)
        spans = reader.read(query.question, [h.passage.text for h in hits])
        if not spans:
            query.extracted = None
            return
        span = max(spans, key=lambda s: s.score - RANK_PENALTY * s.passage)
        query.extracted = extracted_from(span, hits, query, min(s.no_answer for s in spans))


def extracted_from(span: Span, hits, query: Query, no_answer: float) -> Extracted:
    """The span with its sentence (the one it starts in, widened to the one it ends in) and
    that sentence's overlap with the question, for the citation and the confidence;
    `no_answer` is the lowest no-answer score among the passages read."""
    passage = hits[span.passage].passage
    bounds = [(s, e) for s, e, _ in sentence_terms(passage.text)]
    s_start = next((s for s, e in bounds if s <= span.start < e), span.start)
    s_end = next((e for s, e in bounds if s < span.end <= e), span.end)
    s_end = max(s_end, span.end)
    overlap = next(
        (s.overlap for s in score_sentences(hits, query.info)
         if s.hit_index == span.passage and s.start <= span.start < s.end),
        0.0,
    )
    base = passage.start
    return Extracted(
        hit_index=span.passage,
        text=passage.text[span.start : span.end],
        source=AnswerSource(passage.doc_id, base + span.start, base + span.end),
        sentence=passage.text[s_start:s_end],
        sentence_source=AnswerSource(passage.doc_id, base + s_start, base + s_end),
        overlap=overlap,
        type_fit=0.0,
        reader_margin=span.score - span.no_answer,
        reader_no_answer=no_answer,
    )
