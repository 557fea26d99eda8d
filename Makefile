# Set-up on a fresh machine is one command:
#   make demo        install, then fuse a synthetic scene with the shipped weights (writes demo_out/)
#   make test        install, then run the whole test suite (what .ci/run calls)
#   make test-fast   install, then the tests not marked slow (minutes instead of a quarter of an hour)
# Everything is installed into the repository's own virtual environment, .venv (created with $(BASE_PY)), unless
# one is already active ($VIRTUAL_ENV set): then into that one. Never into whatever python3 is first on PATH.
BASE_PY ?= python3
VENV := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
# The stamp lives inside the environment it describes: a new or re-created environment has none and re-installs.
STAMP := $(VENV)/.wavecross-install.stamp

.PHONY: install demo test test-fast lint bench

install: $(STAMP)

$(VENV)/bin/python:
	$(BASE_PY) -m venv $(VENV)

# torch is installed only when missing, so a user's own (GPU) build is kept; the CPU wheel is the default here. It
# goes in before the package, so pip never resolves the package's torch>=2.5 itself (on Linux: a CUDA build).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $@

demo: install
	$(PY) -m wavecross demo -o demo_out --overwrite

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff check src tests bench

bench: install
	$(PY) bench/fuse_speed.py
	$(PY) bench/metrics_speed.py
	$(PY) bench/train_throughput.py
