# Two commands set up a fresh machine: `make book` and `make test`.
# Everything else (release, grade, bench) uses the same environment in .venv.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# nbgrader runs the `alembic` executable when it creates a gradebook, and Jupyter finds
# the kernel through the environment: every command and subprocess sees .venv/bin first.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# apt-get needs root; use sudo when we are not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium
BWRAP := /usr/bin/bwrap
PG := /usr/bin/pg_ctlcluster
PS ?= ps01

.PHONY: help setup book book-clean test lint release grade bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)  ## create .venv from requirements.txt and install the project

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(BWRAP):  # the grader's sandbox
	$(SUDO) apt-get update -q
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap

$(PG):  # the PostgreSQL gradebook test starts a throwaway server
	$(SUDO) apt-get update -q
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql

# A failed build leaves _build/.failed; the next build then starts from a fresh Sphinx
# environment (executed notebooks stay in the cache), so no page that warned is skipped as
# unchanged. (book/_ext/course_book.py re-runs failed notebooks in any build.)
book: $(STAMP)  ## build the book into _build/html (notebooks executed, cached)
	@if [ -e _build/.failed ]; then echo "last build failed: rebuilding every page"; \
	  rm -rf _build/html _build/.doctrees _build/.failed; fi
	@$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going \
	  || { mkdir -p _build && touch _build/.failed; exit 1; }
	@echo "Open _build/html/index.html"

book-clean:  ## remove the built book and its execution cache
	rm -rf _build

test: $(STAMP) $(CHROMIUM) $(BWRAP) $(PG) book  ## set up, build the book, run every test (browser included)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check .

release: $(STAMP) $(BWRAP)  ## solutions/ -> exercises/ (PS=ps01)
	$(VENV)/bin/autograder release $(PS)

grade: $(STAMP) $(BWRAP)  ## grade submissions (PS=ps01 SUBMISSIONS=path ARGS="--roster r.csv")
	@test -n "$(SUBMISSIONS)" || { echo 'usage: make grade PS=ps01 SUBMISSIONS=path/to/submissions [ARGS="--roster roster.csv --late-config late.toml"]'; exit 2; }
	$(VENV)/bin/autograder grade $(PS) $(SUBMISSIONS) $(ARGS)

bench: $(STAMP) $(BWRAP)  ## run every benchmark and print its ratios
	$(PY) benchmarks/run_all.py

clean:  ## remove build products and the environment
	rm -rf _build $(VENV) *.egg-info
