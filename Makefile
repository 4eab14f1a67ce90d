# make demo   : install, build and start the local test environment, run the daily checklist
#               (make demo BACKEND=kind: the QSIGN demo as real pods on a kind cluster)
# make test   : the suite's own tests (lint, unit, pytester, fault injection on the test environment)
# make image  : the OCI image image/out/opscheck-<version>.oci.tar, built without a daemon (image/build.sh)
# make down   : stop the test environment (no process left behind)
# make test-kind : lived faults on a kind cluster with real kubelets (selftests/kind/, not in make test)
# make bench  : issue 13's benchmark on its own kwok cluster (not part of make test; SIZES="0 2000")
PYTHON ?= python3
VENV ?= .venv
# Where the demo runs: kwok (the default: the whole test environment, simulated nodes) or
# kind (the QSIGN demo as real pods on a kind cluster under podman, testenv/kind_demo.py,
# profile environments/demo-kind.yaml): make demo BACKEND=kind
BACKEND ?= kwok
ENV ?= $(if $(filter kind,$(BACKEND)),demo-kind,demo)
# Systems started only on demand (python -m testenv up --system NAME): the one the
# profile needs, e.g. make demo ENV=multicluster starts the mgmt/app1/app2 clusters.
SYSTEM ?= $(filter multicluster,$(ENV))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-kind lint setup venv system binaries image up down status clean bench

demo: setup up
	$(PY) -m pytest -m daily --env=environments/$(ENV).yaml

# Phase 1: unit and pytester tests beside the whole-environment runs; phase 2: the fault
# self-tests in three streams that never break what another observes (selftests/phases.py).
# The image is built first (cached: a no-op on an unchanged tree); selftests/runs/test_image.py runs it.
test: setup lint up image
	$(PY) -m selftests.phases

# Builds what testenv/kind/ has not cached (about 20 min cold), creates or reuses the kind
# cluster $(KIND_CLUSTER) and leaves it running; testenv/kind/delete-cluster.sh NAME removes it.
KIND_CLUSTER ?= opscheck-kind
test-kind: system venv
	OPSCHECK_KIND=1 OPSCHECK_KIND_CLUSTER=$(KIND_CLUSTER) $(PY) -m pytest selftests/kind -p no:cacheprovider -v

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
	$(PY) -m testenv up --backend $(BACKEND) $(addprefix --system ,$(SYSTEM))

down:
	$(PY) -m testenv down

status:
	$(PY) -m testenv status

clean: down
	rm -rf $(VENV)

# The benchmark (bench/, README "Benchmark"): builds its own kwok cluster "bench" (never the
# demo or multicluster clusters), grows it through SIZES pods and measures opscheck's daily run
# beside the floor, the seeds' kubectl lines and a typed-client pytest suite; the cluster is
# stopped at the end. One bench at a time: /tmp/opscheck-bench.lock.
SIZES ?= 0 2000 10000 30000 50000
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	flock /tmp/opscheck-bench.lock $(PY) -m bench --sizes "$(SIZES)"
