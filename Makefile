# Two commands for a newcomer: `make run` (install, build the index, serve) and `make test`.
# `make run PORT=8001 HOST=127.0.0.1` picks where it listens (a non-loopback HOST needs PUBLIC=1).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTHON ?= python3

.PHONY: install run run-library build test lint bench bench-library soak browsers clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU build on this machine's disk, never a CUDA download.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

browsers:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v wrk >/dev/null || { \
	  echo "installing Debian's wrk for the benchmark's load-script test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

build: install
	$(VENV)/bin/qa build

run: build
	$(VENV)/bin/qa serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(PUBLIC),--public)

# A library: the seed report beside every real archive report in tests/data/reports/.
LIBRARY ?= library
run-library: install
	mkdir -p $(LIBRARY)
	cp seeds/*.txt seeds/DEFAULT tests/data/reports/*.txt tests/data/reports/partial/*.txt $(LIBRARY)/
	QA_SEEDS_DIR=$(LIBRARY) QA_INDEX_DIR=index/library $(VENV)/bin/qa build
	QA_SEEDS_DIR=$(LIBRARY) QA_INDEX_DIR=index/library $(VENV)/bin/qa serve

lint: install
	$(VENV)/bin/ruff check qa tests $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check qa tests $(wildcard benchmarks)

test: install browsers lint
	$(VENV)/bin/python -m pytest -q

bench: build
	$(VENV)/bin/qa bench

# Libraries of 1, 100 and 1,000 copies of the real reports: writes benchmarks/results.library.json.
bench-library: install
	$(VENV)/bin/qa bench --library

soak: build
	$(VENV)/bin/python -m pytest -q -m soak -p no:cacheprovider tests/test_soak.py

clean:
	rm -rf $(VENV) index/*/ index/manifest.json index/.staging-* .pytest_cache $(LIBRARY)
