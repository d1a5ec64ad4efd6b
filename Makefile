# qualidoc: every task starts here. The first run creates .venv and installs the project.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: build watch check test bench clean update-golden lint git-setup bytecode publish wheel serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# qualidoc's modules compiled ahead of time: each command starts about 0.1 s faster, also where
# PYTHONDONTWRITEBYTECODE keeps Python from caching them (compileall only redoes changed files).
bytecode: $(VENV)/.installed
	@$(BIN)/python -m compileall -q pipeline

build: bytecode
	$(BIN)/qualidoc build $(ARGS)
	@$(BIN)/qualidoc check --summary || true

watch: bytecode
	$(BIN)/qualidoc watch $(ARGS)

serve: bytecode
	$(BIN)/qualidoc serve $(ARGS)

check: bytecode
	$(BIN)/qualidoc check $(ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(ARGS)

bench: bytecode
	$(BIN)/python bench/bench.py $(ARGS)

update-golden: $(VENV)/.installed
	$(BIN)/python -m tests.golden

# The documents of the last commit (or ARGS="REV"), stamped with it, in publication/.
publish: bytecode
	$(BIN)/qualidoc publish $(ARGS)

# The installable package (wheel) in dist/, for organisations that install qualidoc with pip.
# setuptools leaves build/lib and build/bdist.* behind; build/ is the documents' folder, so they go.
wheel: $(VENV)/.installed
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .
	rm -rf build/lib build/bdist.*

git-setup: $(VENV)/.installed
	$(BIN)/qualidoc git-setup

lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/mypy pipeline

clean:
	rm -rf build
