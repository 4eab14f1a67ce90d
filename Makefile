# make demo   : install, build and start the local test environment, run the daily checklist
# make test   : the suite's own tests (lint, unit, pytester, fault injection on the test environment)
# make image  : the OCI image image/out/opscheck-<version>.oci.tar, built without a daemon (image/build.sh)
# make down   : stop the test environment (no process left behind)
PYTHON ?= python3
VENV ?= .venv
ENV ?= demo
# Systems started only on demand (python -m testenv up --system NAME): the one the
# profile needs, e.g. make demo ENV=multicluster starts the mgmt/app1/app2 clusters.
SYSTEM ?= $(filter multicluster,$(ENV))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup venv system binaries image up down status clean

demo: setup up
	$(PY) -m pytest -m daily --env=environments/$(ENV).yaml

# Phase 1: unit and pytester tests beside the whole-environment runs; phase 2: the fault
# self-tests in three streams that never break what another observes (selftests/phases.py).
# The image is built first (cached: a no-op on an unchanged tree); selftests/runs/test_image.py runs it.
test: setup lint up image
	$(PY) -m selftests.phases

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

setup: system venv binaries

system:
	testenv/install-system-packages.sh

venv: $(STAMP)
$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

binaries:
	testenv/build-binaries.sh >/dev/null

# Cached under ~/.cache/opscheck/image by its inputs' hash: a second run is a no-op.
image: system venv
	PYTHON=$(PY) image/build.sh

up: venv
	$(PY) -m testenv up $(addprefix --system ,$(SYSTEM))

down:
	$(PY) -m testenv down

status:
	$(PY) -m testenv status

clean: down
	rm -rf $(VENV)
