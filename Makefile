# Set-up and entry points. `make demo` and `make test` each do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Air-gapped machines: point HBT_BENCH_DATA_DIR at a copy of the data (files are checked against their
# pinned sha256). By default we use ../shared/data when it exists, else the pinned downloads.
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(HBT_BENCH_DATA_DIR),)
ifneq ($(wildcard $(SHARED_DATA)/xquad-r/en.json),)
export HBT_BENCH_DATA_DIR := $(SHARED_DATA)
endif
endif
export HF_HUB_OFFLINE ?= 1
DEMO_MODEL ?= builtin:use-m
DEMO_TASKS ?= XQuADR
TEXTATTACK_VERSION := 0.3.11

.PHONY: setup attack-deps wordnet demo test lint clean repro-training

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# A CPU build of torch: the pinned local wheel where available, else whatever pip resolves.
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[test]"
	# TextAttack next to transformers 5: without its flair requirement (see hbt_bench/adversarial/textattack_adapter.py).
	$(BIN)/pip install -q --no-deps textattack==$(TEXTATTACK_VERSION)
	touch $@

setup: $(BIN)/.installed

# For a venv of your own: the attack extra, then TextAttack without its dependencies.
attack-deps:
	pip install -e ".[attack]"
	pip install --no-deps textattack==$(TEXTATTACK_VERSION)

# English WordNet for the `en-synonym` recipe (Debian/Ubuntu, needs root); optional everywhere else.
wordnet:
	apt-get install -y -q wordnet-base wordnet-sense-index

demo: setup
	$(BIN)/hbt-bench eval --model $(DEMO_MODEL) --tasks $(DEMO_TASKS) --output-folder results

# The hybrid-batch mini reproduction on CPU (about 50 min on 2 cores; leaderboard/training/README.md).
repro-training: setup
	$(BIN)/pip install -q -e ".[repro]"
	$(BIN)/hbt-bench sweep --config examples/repro_minilm_mlqar.toml --ratios 1,0,0.5 \
		--output runs/minilm-mlqar --baseline

lint: setup
	$(BIN)/ruff check hbt_bench tests benchmarks _hbt_bench_mteb_hook.py
	$(BIN)/ruff format --check hbt_bench tests benchmarks _hbt_bench_mteb_hook.py

test: setup lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
