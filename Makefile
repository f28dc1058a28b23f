# famsim build and test entry points. `make test` is the whole gate (CI runs it
# through .ci/run): it needs only Python 3 and, for PostgreSQL, apt-get.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Marks a finished `pip install`; older than pyproject.toml means "install again".
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -q -n 2

# Prefix for commands that need root (installing Debian packages).
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: venv postgres tools lint test demo bench format i18n clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@# Debian ships ensurepip separately (python3-venv); without it `-m venv` fails.
	@if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	    echo "make: $(PYTHON) cannot make virtual environments; installing python3-venv"; \
	    $(AS_ROOT) apt-get update && \
	    $(AS_ROOT) env DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y --no-install-recommends python3-venv; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	touch $@

postgres:
	bash scripts/ensure-postgres.sh

# Tools the tests drive: zbarimg (Debian's zbar-tools) decodes our QR codes; Debian's
# chromium (with a CJK font) is the browser Playwright drives in tests/e2e/browser.
tools:
	bash scripts/ensure-tools.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The PostgreSQL, zbarimg and browser tests fail rather than skip here: the gate must
# exercise both databases, decode the QR codes and drive a real browser.
test: venv postgres tools lint
	FAMSIM_REQUIRE_POSTGRES=1 FAMSIM_REQUIRE_TOOLS=1 $(BIN)/pytest $(PYTEST_ARGS)

demo: venv
	mkdir -p var/demo
	FAMSIM_DATA_DIR=$(CURDIR)/var/demo $(BIN)/famsim demo

# The web UI's catalogs brought up to date with the source (docs/translating.md): new texts
# arrive untranslated, gone ones are dropped; `scripts/i18n.sh check` says what is missing.
i18n: venv
	bash scripts/i18n.sh update

# Each benchmark is a script that prints its own figures.
bench: venv
	@set -e; for script in bench/*.py; do \
	    [ -e "$$script" ] || continue; \
	    echo "== $$script"; \
	    $(BIN)/python "$$script"; \
	done

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var build dist src/*.egg-info
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache .coverage
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
