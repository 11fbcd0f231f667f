# One command per job; each sets up what it needs on a fresh machine.
#   make demo     the documented example through a real futu-api against the simulator
#   make test     the test suite (unit, end-to-end, differential, docs)
#   make matrix   the test suite on every SDK x protobuf x Python x pandas cell (nox + uv)
#   make lint     ruff
#   make protos   recompile protos/ into futu_buybacks/_descriptors.pb
#   make bench    benchmarks against the native method, written to docs/benchmarks.md
#   make soak     the long runs: 10,000 fuzz examples per property, a 300-code chaos load

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The SDK the main environment runs against: the newest futu-api, which ships the native
# method, so the differential tests compare with the vendor's own code.
MAIN_SDK ?= futu-api==10.11.7108
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test matrix soak lint protos bench clean

$(BIN)/.ready: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test,dev]' '$(MAIN_SDK)'
	touch $@

demo: $(BIN)/.ready
	$(BIN)/python docs/run_example.py

test: $(BIN)/.ready
	$(BIN)/python -m pytest

soak: $(BIN)/.ready
	FUZZ_EXAMPLES=10000 CHAOS_CODES=300 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/test_fuzz.py tests/test_reliability.py::test_chaos_every_record_exactly_once

matrix: $(BIN)/.ready
	$(BIN)/nox --error-on-missing-interpreters

lint: $(BIN)/.ready
	$(BIN)/ruff check futu_buybacks tests docs benchmarks noxfile.py

protos: $(BIN)/.ready
	$(BIN)/python -m grpc_tools.protoc -Iprotos --include_imports \
		--descriptor_set_out=futu_buybacks/_descriptors.pb protos/*.proto

clean:
	rm -rf $(VENV) .nox .pytest_cache .hypothesis

bench: $(BIN)/.ready
	$(BIN)/python benchmarks/run.py
