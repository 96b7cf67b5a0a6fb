# One entry point for people and CI. Every target installs what it needs on
# first use; stamp files make the second call install nothing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
CDK := node_modules/.bin/cdk
# Where synth writes the cloud assembly (tests point it at a temporary directory).
CDK_OUT ?= cdk.out
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install test lint typecheck unit synth deploy diff run rehearse retrain approve reject bench clean

help:
	@echo "make run            run the whole pipeline offline (local AWS emulator), then one prediction"
	@echo "make test           ruff + mypy + pytest (what CI runs)"
	@echo "make synth ENV=dev  synthesize cdk.out/ for an environment (dev, stage, prod)"
	@echo "make rehearse ENV=dev  synth, then run exactly that cloud assembly offline (the step before deploy)"
	@echo "make deploy ENV=dev cdk deploy that environment's stacks (ENV=delivery: start the delivery pipeline)"
	@echo "make retrain ENV=dev  start a run of a deployed environment on its newest complete dataset"
	@echo "make approve ENV=prod VERSION=N [REASON=...]  approve a model version: the deployment state machine deploys it"
	@echo "make reject ENV=prod VERSION=N [REASON=...]   reject one; if it is live, the previous Approved version returns"
	@echo "make bench          serving benchmark against MLflow and other peers; proxy Lambda overhead; batch transform over 1M rows"

$(STAMPS)/venv: requirements.txt requirements-dev.txt training/requirements.txt inference/requirements.txt
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(STAMPS)/node: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMPS)/venv $(STAMPS)/node

lint: $(STAMPS)/venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMPS)/venv
	$(VENV)/bin/mypy

# Two workers (the machines have 2 cores; much of the suite waits on subprocesses and local servers).
# --dist loadgroup spreads tests one by one, but keeps a module marked xdist_group on one worker, so its
# module-scoped fixture (a whole offline run, say) is built once.
PYTEST_WORKERS ?= 2
unit: install
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: lint typecheck unit

# The app writes into an existing directory without clearing it, so another environment's templates
# would survive; start from an empty one. synth and diff take every stack of the app without --all
# (the CLI only knows --all for deploy and warns that it ignores it elsewhere).
synth: install
	rm -rf -- "$(CDK_OUT)"
	$(CDK) synth --quiet -c env=$(ENV) --output "$(CDK_OUT)"
	@echo "wrote $(CDK_OUT)/ for $(ENV) (cdk-nag report: $(CDK_OUT)/validation-report.json if any findings)"

# ENV=delivery is the delivery pipeline, whose assembly also holds every environment's stacks as its stages:
# --all would deploy those straight from here, past the pipeline and its approval, so it selects the pipeline.
DELIVERY_STACK = $(if $(filter delivery,$(ENV)),FraudPipeline-Delivery)

diff: install
	$(CDK) diff $(DELIVERY_STACK) -c env=$(ENV)

deploy: install
	$(CDK) deploy $(or $(DELIVERY_STACK),--all) -c env=$(ENV)

run: install
	$(PY) -m offline run --env $(ENV)

# What `make deploy` would deploy, tried offline first: same assembly, IAM enforced.
rehearse: synth
	$(PY) -m offline run --assembly "$(CDK_OUT)"

# Uses your AWS credentials; with AWS_ENDPOINT_URL set, offline mode's local AWS (README, "Triggering a run").
retrain: $(STAMPS)/venv
	$(PY) -m pipeline retrain --env $(ENV)

# A decision on one model version (python -m pipeline models list shows them), recorded with who made it and why.
approve reject: $(STAMPS)/venv
	@test -n "$(VERSION)" || { echo "usage: make $@ ENV=$(ENV) VERSION=N [REASON=...]  (versions: $(PY) -m pipeline models list --env $(ENV))" >&2; exit 2; }
	$(PY) -m pipeline models $@ --env $(ENV) $(VERSION) $(if $(REASON),--reason '$(subst ','\'',$(REASON))')

bench: install
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) -m bench.serving
	$(PY) -m bench.proxy_overhead
	$(PY) -m bench.batch_transform

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .offline
