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

.PHONY: setup demo test lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# A CPU build of torch: the pinned local wheel where available, else whatever pip resolves.
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/hbt-bench eval --model $(DEMO_MODEL) --tasks $(DEMO_TASKS) --output-folder results

lint: setup
	$(BIN)/ruff check hbt_bench tests benchmarks _hbt_bench_mteb_hook.py
	$(BIN)/ruff format --check hbt_bench tests benchmarks _hbt_bench_mteb_hook.py

test: setup lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
