# Two commands do all the set-up on a fresh machine:
#   make demo   install, then fuse a synthetic scene with the shipped weights (writes demo_out/)
#   make test   install, then run the test suite (what .ci/run calls)
PY ?= python3

.PHONY: install demo test lint bench

install: .install.stamp

# torch is installed only when missing, so a user's own (GPU) build is kept; the CPU wheel is the default here.
.install.stamp: pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $@

demo: install
	$(PY) -m wavecross demo -o demo_out --overwrite

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check src tests bench

bench: install
	$(PY) bench/fuse_speed.py
	$(PY) bench/metrics_speed.py
	$(PY) bench/train_throughput.py
