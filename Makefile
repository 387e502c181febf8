# Commands for the course. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the browser of book-check: Debian's Chromium, which `make chromium` installs
CHROMIUM ?= /usr/bin/chromium

.PHONY: help env book book-check chromium test check notebook notebooks chapter seeds bench matrix clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

env: $(STAMP)  ## create .venv with the pinned environment and companion (editable)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

book: $(STAMP)  ## build the HTML book into _build/html (warnings are errors)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

book-check: $(STAMP) $(CHROMIUM)  ## open every page of the built book in headless Chromium, offline, and check it
	$(BIN)/python tools/check_book.py --chromium $(CHROMIUM)

chromium: $(CHROMIUM)  ## install Debian's Chromium for book-check (as root), unless it is there

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "book-check needs Chromium: install it, or set CHROMIUM=/path/to/it"; exit 2; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

test: $(STAMP)  ## run every test: unit tests, notebook checks, nbval on every chapter
	$(BIN)/python -m pytest

check: $(STAMP)  ## check that sources and notebooks agree and were executed in order
	$(BIN)/python tools/notebooks.py check

notebook: $(STAMP)  ## execute one chapter: make notebook CHAPTER=book/part1/<slug>.md
	@test -n "$(CHAPTER)" || { echo "usage: make notebook CHAPTER=book/<part>/<slug>.md"; exit 2; }
	$(BIN)/python tools/notebooks.py execute $(CHAPTER)

notebooks: $(STAMP)  ## execute every chapter
	$(BIN)/python tools/notebooks.py execute --all

chapter: $(STAMP)  ## scaffold a chapter: make chapter CHAPTER=book/part2/<slug>.md TITLE="2.1 ..."
	@test -n "$(CHAPTER)" -a -n "$(TITLE)" || { echo 'usage: make chapter CHAPTER=book/<part>/<slug>.md TITLE="..."'; exit 2; }
	$(BIN)/python tools/notebooks.py new $(CHAPTER) "$(TITLE)"

seeds: $(STAMP)  ## execute every chapter with seeds 1 to 4 (SEEDS="5 6" for others); fails on any exception
	$(BIN)/python tools/notebooks.py seeds $(CHAPTER) --seeds $(or $(SEEDS),1 2 3 4)

bench: $(STAMP)  ## run the benchmarks (on demand; not part of the tests)
	$(BIN)/python benchmarks/run.py

matrix:  ## unit tests on the oldest and newest supported Python/PyTorch/NumPy, before a release (GBs of downloads; ENVS=oldest for one)
	$(PYTHON) tools/version_matrix.py $(ENVS)

clean:  ## remove the build output (keeps .venv)
	rm -rf _build
