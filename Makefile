# Two entry points for a fresh machine: `make simulate` and `make test`.
# Both create .venv and install gardenbot into it on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: simulate test test-fast lint system-deps clean-venv

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Pinned first so that the ">=2.2" range below is already met by the CPU wheel.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,pretrain]'
	touch $@

simulate: $(STAMP)
	$(VENV)/bin/gardenbot simulate

test: $(STAMP) system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check .

system-deps:
	./scripts/system-deps.sh

clean-venv:
	rm -rf $(VENV)
