# `make demo` and `make test` are the whole set-up on a fresh machine: each creates
# .venv, installs what is missing (Debian packages included) and then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: demo test lint sysdeps models bench venv format clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

sysdeps:
	@bash scripts/sysdeps.sh

models: venv
	@$(PY) main.py models install

demo: venv sysdeps models
	@$(PY) main.py demo

# Two worker processes, one test file each at a time (a file's module fixtures and the
# broker tests' shared queues stay in one process); each worker has its own PostgreSQL
# database (tests/conftest.py). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2

test: venv sysdeps models
	@$(PY) -m pytest -q -p no:cacheprovider --durations=30 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy .

format: venv
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

bench: venv sysdeps models
	@$(PY) main.py bench engine

clean:
	rm -rf $(VENV) data/demo*
