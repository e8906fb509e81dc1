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
TEXTATTACK_VERSION := $(shell sed -n 's/^textattack==//p' requirements/textattack.in)
LOCK := requirements/lock.txt
TEXTATTACK_LOCK := requirements/textattack.txt
LATEST ?= .venv-latest
# pytest-xdist workers for `make test` (whole test files per worker: module fixtures are built once);
# PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= 2

.PHONY: setup attack-deps wordnet demo test test-latest lock lint clean repro-training

# Everything from the lock, every file checked against its sha256: the environment the suite passed on.
# TextAttack goes in without its dependencies (its flair requirement conflicts with transformers 5; see
# hbt_bench/adversarial/textattack_adapter.py); hbt-bench itself editable, built by the locked hatchling.
$(BIN)/.installed: $(LOCK) $(TEXTATTACK_LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(TEXTATTACK_LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

setup: $(BIN)/.installed

# Re-resolve the lock from pyproject.toml's ranges (README "Refreshing the lock"); then run `make test`.
lock:
	bash requirements/compile.sh

# The newest versions pyproject.toml allows, in a separate venv (torch stays the CPU 2.13.0 build): runs the
# suite there and prints which packages moved against the lock. Not part of .ci/run.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install -q --upgrade --upgrade-strategy eager -e ".[test,repro]" torch==2.13.0
	$(LATEST)/bin/pip install -q --no-deps textattack==$(TEXTATTACK_VERSION)
	$(LATEST)/bin/python requirements/moved.py
	$(LATEST)/bin/pytest -q; status=$$?; $(LATEST)/bin/python requirements/moved.py; exit $$status

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
	$(BIN)/hbt-bench sweep --config examples/repro_minilm_mlqar.toml --ratios 1,0,0.5 \
		--output runs/minilm-mlqar --baseline

lint: setup
	$(BIN)/ruff check hbt_bench tests benchmarks _hbt_bench_mteb_hook.py requirements/moved.py
	$(BIN)/ruff format --check hbt_bench tests benchmarks _hbt_bench_mteb_hook.py requirements/moved.py

test: setup lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=25

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache
