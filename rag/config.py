"""The one configuration object: defaults <- environment <- explicit overrides (CLI flags).

Building a Config loads nothing; it is plain data that can be saved beside an index.

What lives here: every setting a user or `rag eval --compare` varies (paths, models, modes,
depths, weights, the calibrated confidence). Constants chosen once by a measurement and never
varied per run (a stage's internal weights, window sizes) stay beside the code that uses them,
with a comment naming the measurement; DESIGN.md is the one home of the measured figures.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import RagError

# Environment variables that override defaults (flags override these in turn).
ENV_VARS = {
    "seeds_dir": "RAG_SEEDS_DIR",
    "index_dir": "RAG_INDEX_DIR",
    "model": "RAG_MODEL",
    "max_file_bytes": "RAG_MAX_FILE_BYTES",
}


DEFAULT_MODEL = "all-MiniLM-L6-v2"
# The larger packaged bi-encoder the opt-in "reranked" mode scores the top passages with.
RERANK_MODEL = "all-mpnet-base-v2"
# Retrieval modes (rag/retrieve.py). "rescored" is hybrid with a second stage: the top passages
# re-ranked by their best sentence (rag/sentences.py); the default, as `rag eval` measured it best.
# "reranked" adds a third, opt-in stage: the same top passages also scored by a larger model.
MODES = ("hybrid", "dense", "bm25", "rrf", "rescored", "reranked")
# One line each, for the chat's Settings (what a mode does, in a user's words).
MODE_HELP = {
    "hybrid": "meaning and keywords: dense and BM25 scores mixed",
    "dense": "meaning only: nearest embedding vectors (FAISS)",
    "bm25": "keywords only: SQLite FTS5's BM25 ranking",
    "rrf": "meaning and keywords: dense and BM25 ranks fused",
    "rescored": "hybrid, then its top 5 passages re-ranked by their best sentence's match",
    "reranked": f"rescored, then its top 5 passages also scored by the larger {RERANK_MODEL}",
}
# Answer stages: "reader" is the trained extractive model shipped in models/reader/ (rag/reader.py),
# "rules" the spaCy span rules (rag/answer.py). A mode may name one: "rescored:rules".
ANSWERERS = ("reader", "rules")
# The trained reader the project ships (MODEL_CARD.md beside it says how it was made).
READER_DIR = Path(__file__).resolve().parents[1] / "models" / "reader"


# The most citations a question may ask for, on the CLI, the chat page and its API alike:
# past 20 the list is longer than anyone reads, and every citation costs a passage fetch.
MAX_K = 20


def index_command(index_dir: Path, seeds_dir: Path | None = None) -> str:
    """`rag index` for the index at index_dir (from seeds_dir), with --index-dir and --seeds
    unless they are the defaults: a message that says "run `rag index`" must build the index the
    user asked about, from the folder it was built from."""
    command = "rag index"
    if seeds_dir is not None and Path(seeds_dir) != Config.seeds_dir:
        command += f" --seeds {shlex.quote(str(seeds_dir))}"
    if Path(index_dir) != Config.index_dir:
        command += f" --index-dir {shlex.quote(str(index_dir))}"
    return command


class ConfigError(RagError):
    """A setting from the environment or a flag has an unusable value."""


def _whole_number(name: str, text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        var = ENV_VARS.get(name, name)
        raise ConfigError(f"{var} must be a whole number, got {text!r}")
    return value


@dataclass(frozen=True)
class Config:
    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path(".rag")
    # None: the model the index was built with (or DEFAULT_MODEL for a new index).
    model: str | None = None
    # Passages longer than this many words are split at sentence boundaries. MiniLM's window
    # is 256 word pieces (~1.3 per English word), and the title is embedded with the passage,
    # so 160 words keeps nearly every passage inside the window. Counted in words, not model
    # tokens, so that the passages (the unit of citation) do not depend on the model.
    max_passage_words: int = 160
    max_file_bytes: int = 20 * 1024 * 1024
    encode_batch_size: int = 64
    # Torch threads for encoding. One thread avoids barrier stalls when another process holds
    # a core on a 2-core machine (DESIGN.md, "Measured so far": 15 ms vs ~870 ms per query).
    torch_threads: int = 1
    # Past this many passages the FAISS index is approximate (IVF, embeddings/ann.py) rather
    # than exact; nprobe is how many inverted lists a query scans. Both chosen by `make bench`
    # (README "Performance"): exact search costs ~1 ms per 10k passages per query here, so
    # past 50k it would eat the retrieval budget; nprobe 192 keeps recall@10 >= 0.95 at 1M on
    # the benchmark's hard synthetic vectors (128 gave 0.946, 256 gave 0.974 at twice the cost).
    ann_threshold: int = 50_000
    ann_nprobe: int = 192
    k: int = 5
    mode: str = "rescored"
    candidates: int = 50
    # Weight of the dense score in the convex mix of min-max-normalised scores.
    dense_weight: float = 0.5
    # The "rescored" mode re-ranks the top rescore_depth fused passages by fused score +
    # rescore_weight x their best sentence's overlap with the question (rag/sentences.py).
    # xquad_en doc recall@1 by weight: 0 -> .949, .5 -> .960, 1 -> .964, 2 -> .961, 5 -> .950;
    # depth 10 gave no more than 5.
    rescore_depth: int = 5
    rescore_weight: float = 1.0
    # The "reranked" mode adds rerank_weight x the rerank model's cosine to those rescore_depth
    # passages' scores. Its passage vectors are stored by `rag index --rerank-model NAME` (later
    # runs keep them current); None: the model the index recorded, if any.
    rerank_model: str | None = None
    rerank_weight: float = 1.0
    max_question_chars: int = 2000
    # Abstention: logistic confidence over the answer signals (rag/confidence.py SIGNALS), calibrated by
    # bench/calibrate_abstention.py on all 1,190 xquad_en questions, each also with its gold
    # document removed, at most 9% wrong abstentions (a margin under the 10%): abstains
    # on 0.838 of the gold-removed questions at 0.089 wrong; fitted on one half and measured on
    # the other, 0.829 at 0.088. (The earlier 3-signal model: 0.813 at 0.096.)
    conf_bias: float = -7.507
    conf_weights: tuple[float, ...] = (5.220, 6.005, 0.419, 2.439, 9.976)
    abstain_below: float = 0.35
    answerer: str = "reader"
    reader_dir: Path = READER_DIR
    # Passages the reader reads (question + passage windows, one batch), and its arithmetic.
    # Held-out training articles (300 questions, bfloat16), EM/F1 by passages read: 1 .567/.687,
    # 2 .540/.665, 3 .550/.667, 5 .533/.652 (read p50 22, 42, 61, 104 ms). 3, not 1: the seed's
    # "Who succeeded Stoltenberg?" is answered by the passage retrieval ranks 3rd. bfloat16 vs
    # float32 on xquad_en's first 300 (5 passages): EM .563 vs .570, 98 vs 249 ms; int8 .557, 76 ms.
    reader_passages: int = 3
    reader_precision: str = "bfloat16"
    # The reader's abstention (rag/confidence.py SIGNALS["reader"]), calibrated by
    # bench/calibrate_abstention.py --answerer reader --max-wrong 0.065 on the reader's held-out
    # training articles (bench/heldout_set.py; all 2,578 questions, each also with its gold
    # paragraph removed), with the reader of run 3 (models/reader/MODEL_CARD.md): abstains on .650
    # of gold-removed at .062 wrong (2-fold: .642 at .060). The margin under the 8% of wrong
    # abstentions allowed is there because the rate moves when the calibration meets new
    # questions: run 2's weights thresholded at 0.075 abstained wrongly on .090 of xquad_en's
    # answerable questions. Fitted on the held-out articles only; xquad_en stays an evaluation set.
    reader_conf_bias: float = -2.582
    reader_conf_weights: tuple[float, ...] = (2.920, 1.626, 0.093, 0.276, 0.089, -0.169)
    reader_abstain_below: float = 0.26
    # `rag chat`: questions answered at once, each by its own QA (SQLite connection, FAISS copy);
    # the models are shared. Uploads and re-indexing run beside them, one at a time. On 2 cores
    # a third worker added no throughput (README "Serving many users: `make bench-load`").
    chat_workers: int = 2
    # `rag chat`: uploads Gradio holds in its temp folder not yet indexed, at most this many
    # files and bytes (a page could otherwise fill the disk with files it never submits).
    max_pending_uploads: int = 20
    max_pending_upload_bytes: int = 100 * 1024 * 1024
    extensions: tuple[str, ...] = field(default=(".txt", ".md", ".html", ".htm", ".pdf", ".docx"))

    @classmethod
    def from_env(cls, **overrides: Any) -> Config:
        """Defaults, then RAG_* environment variables, then non-None overrides."""
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            if os.environ.get(var):
                values[name] = os.environ[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        converted: dict[str, Any] = {}
        for name, value in data.items():
            default = getattr(cls, name, None)
            if isinstance(default, Path):
                value = Path(value)
            elif isinstance(default, tuple):
                value = tuple(value)
            elif isinstance(default, int) and isinstance(value, str):  # from the environment
                value = _whole_number(name, value)
            converted[name] = value
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def split_mode(self, spec: str | None) -> tuple[str, str]:
        """"rescored:rules" -> ("rescored", "rules"); a bare mode takes the configured answerer."""
        mode, _, answerer = (spec or self.mode).partition(":")
        answerer = answerer or self.answerer
        if mode not in MODES or answerer not in ANSWERERS:
            raise ConfigError(
                f"unknown mode {spec!r}: choose one of {', '.join(MODES)}, optionally with :reader or :rules"
            )
        return mode, answerer

    @property
    def store_path(self) -> Path:
        return self.index_dir / "store.sqlite"

