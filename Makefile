# handbook: two commands do everything on a fresh machine.
#   make book [PROFILE=cpu]   execute every notebook in _toc.yml with papermill, build the HTML book
#   make test                 pytest over tests/ and nbval over notebooks/ (their cheapest profile);
#                             the browser tests open every page of the last built book in Chromium
#   make screenshots          full-page PNGs of every page of the built book, desktop and phone
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PROFILE ?= cpu
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install stamp is newer than pyproject.toml once the venv holds the project and its extras.
STAMP := $(VENV)/.installed

.PHONY: help install book test screenshots clean

help:
	@echo "make book [PROFILE=smoke|cpu|gpu|paper]  build the book (default PROFILE=cpu)"
	@echo "make test                                run the test suite and the notebook checks"
	@echo "make screenshots                         PNGs of every page of the built book in _build/screenshots/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing handlib and its extras into $(VENV) (first run only)"
	@# torch first and pinned: it resolves to the CPU build here and keeps pip from pulling CUDA.
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[book,test]"
	@touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/python tools/build_book.py --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest tests -q
	$(BIN)/python -m pytest --nbval-lax notebooks -q -p no:cacheprovider

screenshots: $(STAMP)
	$(BIN)/python -m tools.book_browser screenshots

clean:
	rm -rf _build
