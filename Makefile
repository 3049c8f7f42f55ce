# One-command set-up: every target that needs Python depends on the venv stamp, which
# creates .venv, installs torch==2.13.0 first (the CPU wheel on local disk; a bare
# `torch` requirement would pull a multi-GB CUDA build), then the project and its extras
# (dev includes rerank and ray, so the tests run the larger model and a local Ray),
# and Debian's chromium for the UI tests when it is missing.
PYTHON ?= python3
# Where pip finds torch. Unset: pip's own configuration. On an ordinary Linux box PyPI's
# torch==2.13.0 is the multi-GB CUDA build; TORCH_INDEX=https://download.pytorch.org/whl/cpu
# gets the CPU wheel.
TORCH_INDEX ?=
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
Q      ?= Who succeeded Stoltenberg?
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test ask index clean lint

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e '.[dev]'
	@command -v chromium >/dev/null 2>&1 || $(INSTALL_CHROMIUM)
	touch $@

# tests/test_ui.py drives Debian's chromium (never a downloaded browser). Installed as root when
# apt-get is there; otherwise one line says how. Not fatal: everything but the UI tests works.
INSTALL_CHROMIUM = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
		|| echo "warning: could not install chromium; the UI tests need it"; \
	else echo "note: the UI tests need Debian's chromium: sudo apt-get install chromium"; fi

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

.PHONY: lint
lint: $(STAMP)
	$(BIN)/ruff check .

# The chat page (`rag chat`): indexes seeds/ if needed (only new or changed text is encoded), then
# serves http://$(CHAT_HOST):$(CHAT_PORT) until Ctrl+C. More flags via CHAT_ARGS, e.g. --auth me:secret.
CHAT_HOST ?= 127.0.0.1
CHAT_PORT ?= 7860
.PHONY: chat screenshot

chat: $(STAMP)
	$(BIN)/rag index
	$(BIN)/rag chat --host $(CHAT_HOST) --port $(CHAT_PORT) $(CHAT_ARGS)

# docs/chat.png for the README: the page answering in headless Chromium (Debian's /usr/bin/chromium).
screenshot: $(STAMP)
	$(BIN)/python -m ui.screenshot docs/chat.png
	$(BIN)/python -m ui.screenshot docs/chat-dark.png --scheme dark

index: $(STAMP)
	$(BIN)/rag index

ask: $(STAMP)
	$(BIN)/rag index
	$(BIN)/rag ask "$(Q)"

# Batch evaluation (`rag eval`): every retrieval mode side by side; tables on stdout, reports in
# reports/eval/<set>/ (report.json, report.md, recall_at_k.png). Each corpus is indexed once into
# .rag/eval/<set>/ and re-used while unchanged.
EVAL_REPORTS ?= reports/eval
# SciFact without the opt-in `reranked` mode: its 9,669 abstracts take about an hour to encode with
# all-mpnet-base-v2 on one thread. SCIFACT_MODES=all includes it (the vectors are then cached).
SCIFACT_MODES ?= bm25,dense,hybrid,rrf,rescored
.PHONY: eval eval-scifact

eval: $(STAMP)
	$(BIN)/rag eval eval/seed/questions.jsonl --corpus seeds --compare all --report $(EVAL_REPORTS)/seed
	$(BIN)/rag eval eval/xquad_en/questions.jsonl --corpus eval/xquad_en/corpus.jsonl.gz --compare all \
		--report $(EVAL_REPORTS)/xquad_en
	$(BIN)/rag eval eval/scifact/questions.jsonl --corpus eval/scifact/corpus.jsonl.gz --compare $(SCIFACT_MODES) \
		--report $(EVAL_REPORTS)/scifact

# Cross-check of the metrics and the lexical index: BM25 on SciFact must land within 0.03 of
# the BEIR paper's 0.665 nDCG@10. The first run encodes ~5k abstracts (minutes on one thread).
eval-scifact: $(STAMP)
	$(BIN)/rag eval eval/scifact/questions.jsonl --corpus eval/scifact/corpus.jsonl.gz --compare bm25 \
		--report $(EVAL_REPORTS)/scifact
	$(BIN)/python -c 'import json, sys; \
		n = json.load(open("$(EVAL_REPORTS)/scifact/report.json"))["modes"]["bm25"]["ndcg@10"]; \
		print(f"scifact bm25 nDCG@10 = {n:.3f}; BEIR BM25 = 0.665; allowed difference 0.03"); \
		sys.exit(abs(n - 0.665) > 0.03)'

# Adding one 20-passage document (real MiniLM) to a 100,000-passage index built from synthetic text
# with a cheap stand-in encoder (~2 min): seconds and passages encoded, to bench/results/incremental.json.
.PHONY: bench-incremental
bench-incremental: $(STAMP)
	$(BIN)/python bench/bench_incremental.py

clean:
	rm -rf .rag

# The reader (models/reader/, MODEL_CARD.md): all-MiniLM-L6-v2 + a span head fine-tuned on
# train/data/ (SQuAD + TyDi QA train splits). Hours on 2 CPU cores, minutes on a GPU
# (TRAIN_ARGS=--device=cuda). Checkpoints every 5 minutes into .train/reader/; running the same
# command again resumes there. TRAIN_ARGS takes more flags (`python -m train.reader --help`).
TRAIN_ARGS ?=
.PHONY: train-reader
train-reader: $(STAMP)
	$(BIN)/python -m train.reader $(TRAIN_ARGS)

# Scaling out (issue 12): passages/s of `rag index --ray` with 1 and 2 workers vs the in-process
# encoder on one corpus, in one run, then the Ray fault checks (worker and driver killed mid-job,
# a dead address); to bench/results/ray.json and ray.md (~5 min on 2 busy cores).
.PHONY: bench-ray
bench-ray: $(STAMP)
	$(BIN)/python -m bench.bench_ray

# Performance (issue 7): every stage side by side, results in bench/results/ and README
# "Performance". The 1M-passage store is built once into bench/.cache/ (5-22 min the first time, by machine).
.PHONY: bench bench-quick
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick --no-readme

# Many users at once (issue 15): `rag chat` on loopback, 8/16/32 concurrent /ask clients for
# LOAD_DURATION s each, an upload and a re-index in the middle of each level; before (main's
# one-lock server) and after. Results in bench/results/load.{json,md} and README "Serving many users".
LOAD_DURATION ?= 60
LOAD_ARGS ?= --baseline 0ab9b1e
.PHONY: bench-load
bench-load: $(STAMP)
	$(BIN)/python -m bench.load --duration $(LOAD_DURATION) $(LOAD_ARGS)
