# exemplar: the two set-up commands are `make book` and `make test`. Both create .venv when it is missing.
# QUICK=1 runs the notebooks at small sizes (results in results/quick/) for a fast pass.
# A second `make book` reruns only what changed (notebooks, parameters, code, data, the results a page reads)
# and reuses stored trainings (results/.store); FRESH=1 reruns every notebook and trains everything again.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUICK  ?=
FRESH  ?=
RUNFLAGS := $(if $(QUICK),--quick,) $(if $(FRESH),--fresh,)

BENCH_STAMP := $(VENV)/.installed-bench
LAB_STAMP   := $(VENV)/.installed-lab

.PHONY: all venv data run book test bench lab chromium slurm clean

all: book

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP)

data: $(STAMP)
	$(BIN)/exemplar data
	$(BIN)/exemplar data --dataset fashion-mnist

run: data
	$(BIN)/exemplar run $(RUNFLAGS)

book: run
	$(BIN)/exemplar book

test: data chromium slurm $(LAB_STAMP)
	$(BIN)/python -m pytest

# The benchmarks (results/bench/*.csv; QUICK=1: tiny sizes into results/quick/bench). They need the
# [bench] extra (PyTorch, CPU build, and py-spy), installed here on first use.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	@touch $(BENCH_STAMP)

bench: data $(BENCH_STAMP)
	$(BIN)/exemplar bench $(if $(QUICK),--quick,)

# JupyterLab (the [lab] extra, installed on first use) on the notebooks, kernel = this venv's Python.
$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,lab]"
	@touch $(LAB_STAMP)

lab: data $(LAB_STAMP)
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# tests/test_browser.py opens the built site in the system's Chromium. Where none is installed,
# install Debian's (as root, with apt-get); where that cannot be done, say so loudly: the browser
# test is then skipped with the same warning in pytest's summary.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	    || command -v google-chrome >/dev/null 2>&1 || [ -n "$$EXEMPLAR_CHROMIUM" ]; then \
	  true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "[make] chromium is missing: installing Debian's chromium for the browser test (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "*** WARNING: apt-get could not install chromium: the browser test will be SKIPPED ***"; \
	else \
	  echo "*** WARNING: chromium is missing and cannot be installed here (needs root and apt-get):"; \
	  echo "*** the browser test will be SKIPPED. Install chromium, or set EXEMPLAR_CHROMIUM to a Chromium. ***"; \
	fi

# tests/test_slurm.py starts its own one-node Slurm (munged, slurmctld, slurmd) from Debian's packages.
# Where they are missing, install them (as root, with apt-get; no daemon is started or enabled here);
# where that cannot be done, say so loudly: the Slurm test is then skipped with the reason.
slurm:
	@if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
	    && command -v munged >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1; then \
	  true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "[make] Slurm is missing: installing Debian's slurm-wlm and munge for the Slurm test (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; } \
	    || echo "*** WARNING: apt-get could not install slurm-wlm and munge: the Slurm test will be SKIPPED ***"; \
	else \
	  echo "*** WARNING: Slurm is missing and cannot be installed here (needs root and apt-get):"; \
	  echo "*** the Slurm test will be SKIPPED. Install slurm-wlm and munge, as root. ***"; \
	fi

clean:
	rm -rf _build book/_run results/quick book/_static/plotly.min.js
