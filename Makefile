# One-command set-up: every target that needs Python depends on the venv stamp, which
# creates .venv, installs torch==2.13.0 first (the CPU wheel on local disk; a bare
# `torch` requirement would pull a multi-GB CUDA build), then the project and its extras.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
Q      ?= Who succeeded Stoltenberg?
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test ask index clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q

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

index: $(STAMP)
	$(BIN)/rag index

ask: $(STAMP)
	$(BIN)/rag index
	$(BIN)/rag ask "$(Q)"

clean:
	rm -rf .rag
