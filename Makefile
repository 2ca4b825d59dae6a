# exemplar: the two set-up commands are `make book` and `make test`. Both create .venv when it is missing.
# QUICK=1 runs the notebooks at small sizes (results in results/quick/) for a fast pass.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUICK  ?=
RUNFLAGS := $(if $(QUICK),--quick,)

.PHONY: all venv data run book test clean

all: book

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP)

data: $(STAMP)
	$(BIN)/exemplar data

run: data
	$(BIN)/exemplar run $(RUNFLAGS)

book: run
	$(BIN)/exemplar book

test: data
	$(BIN)/python -m pytest

clean:
	rm -rf _build book/_run results/quick book/_static/plotly.min.js
