# Two commands on a fresh machine with Python 3.11+:
#   make demo   set up .venv and write reports for examples/ into out/ (no key, no network)
#   make test   set up .venv with the test extras and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m graph.run examples/sample_results.csv --offline --out out/sample_results
	$(PY) -m graph.run examples/deepobs_cifar10_3c3d.csv --offline --out out/deepobs_cifar10_3c3d
	@echo "Reports: out/sample_results/hparam_report.md, out/deepobs_cifar10_3c3d/hparam_report.md"

test: $(VENV)/.installed-test
	@# the browser tests drive Debian's chromium (nothing downloaded at test time); root installs it when missing
	@[ -x /usr/bin/chromium ] || [ "$$(id -u)" != 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	env -u HF_TOKEN HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: $(VENV)/.installed-test
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check core graph hparam_inspector prompts tests benchmarks examples

clean:
	rm -rf $(VENV) out .langgraph_api
