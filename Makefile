# One command per job; each sets up what it needs on a fresh machine.
#   make demo     the documented example on futu-api 10.5 (the shim answers) and on 10.11 (the
#                 vendor's own method), against the simulator; fails unless both results are identical
#   make test     the test suite (unit, end-to-end, differential, docs)
#   make matrix   the test suite on every SDK x protobuf x Python x pandas cell (nox + uv)
#   make lint     ruff
#   make protos   recompile protos/ into futu_buybacks/_descriptors.pb
#   make trading-days  regenerate the simulator's calendars (futu_buybacks/simulator/trading_days.json)
#                 from exchange_calendars
#   make bench    benchmarks against the native method, written to docs/benchmarks.md
#   make soak     the long runs: the suite 5 times in random order under load, 10,000 fuzz examples per
#                 property, a 300-code chaos load (SOAK_RUNS=N for more)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The SDK the main environment runs against: the newest futu-api, which ships the native
# method, so the differential tests compare with the vendor's own code.
MAIN_SDK ?= futu-api==10.11.7108
# The demo's second environment: an SDK without the method, so that the shim answers there. It gets
# the main environment's numpy, pandas and pyarrow, so the two results can be compared exactly.
DEMO_SDK ?= futu-api==10.5.6508
DEMO_VENV := .venv-demo-old
DEMO_BIN := $(DEMO_VENV)/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test matrix soak lint protos trading-days bench clean

$(BIN)/.ready: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test,dev]' '$(MAIN_SDK)'
	touch $@

$(DEMO_BIN)/.ready: $(BIN)/.ready setup.cfg pyproject.toml
	test -x $(DEMO_BIN)/python || $(BIN)/uv venv -q --python $(BIN)/python $(DEMO_VENV)
	$(BIN)/uv pip install -q --python $(DEMO_BIN)/python -e . '$(DEMO_SDK)' \
		$$($(BIN)/uv pip freeze -q --python $(BIN)/python | grep -E '^(numpy|pandas|pyarrow)==')
	touch $@

demo: $(BIN)/.ready $(DEMO_BIN)/.ready
	$(BIN)/python docs/run_example.py $(DEMO_BIN)/python $(BIN)/python

test: $(BIN)/.ready
	$(BIN)/python -m pytest -n 2 --dist worksteal

soak: $(BIN)/.ready
	$(BIN)/python tests/soak.py

matrix: $(BIN)/.ready
	$(BIN)/nox --error-on-missing-interpreters

lint: $(BIN)/.ready
	$(BIN)/ruff check futu_buybacks tests docs benchmarks tools noxfile.py

protos: $(BIN)/.ready
	$(BIN)/python -m grpc_tools.protoc -Iprotos --include_imports \
		--descriptor_set_out=futu_buybacks/_descriptors.pb protos/*.proto

trading-days: $(BIN)/.ready
	$(BIN)/python tools/trading_days.py

clean:
	rm -rf $(VENV) $(DEMO_VENV) .nox .pytest_cache .hypothesis

bench: $(BIN)/.ready
	$(BIN)/python benchmarks/run.py
