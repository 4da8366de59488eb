# wxmember — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
PY_BOOT := $(shell for p in python3.11 python3.13 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench soak infra reconcile job dlq package lock clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PY_BOOT)" || { echo "Python 3.11+ is required"; exit 1; }
	$(PY_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet "pip>=23,<26.3"  # chalice 1.34 packages with pip < 26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)  ## start the local stack (embedded AWS, fake WeChat, API on 127.0.0.1:8000) with demo data
	$(PY) -m local.run

# The contract run (schemathesis against a local stack, ~5 min, mostly waiting on the stack) starts
# first, beside the two xdist workers that run everything else; its output follows theirs.
test: $(STAMP) lint typecheck  ## the whole default suite: lint, types, unit, integration, reliability, contract
	@log=$$(mktemp); $(PY) -m pytest -q tests/contract >$$log 2>&1 & contract=$$!; \
	$(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/contract; rest=$$?; \
	wait $$contract; status=$$?; echo "--- tests/contract"; cat $$log; rm -f $$log; \
	test $$rest -eq 0 -a $$status -eq 0

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy chalicelib

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: $(STAMP)  ## benchmarks: print figures, write bench/results.json
	$(PY) -m pytest -q -m bench -p no:randomly tests/bench -s

soak: $(STAMP)  ## long reliability runs, the 1,000-recipient campaign and the long contract run on the local stack
	WXM_SOAK=1 WXM_CONCURRENCY_OPS=600 $(PY) -m pytest -q -m "soak or not bench" tests/reliability tests/e2e tests/contract

infra: $(STAMP)  ## regenerate infra/*.json from code: tables (models), queues (+ event sources), ops (IAM, logs, alarms, tags), gateway responses
	$(PY) -m chalicelib.cli infra tables > infra/tables.json
	$(PY) -m chalicelib.cli infra queues > infra/queues.json
	$(PY) -m chalicelib.cli infra ops > infra/ops.json
	$(PY) -m chalicelib.cli infra gateway > infra/gateway_responses.json

LOCAL_ENV := AWS_ENDPOINT_URL=http://127.0.0.1:$${LOCAL_AWS_PORT:-5100} AWS_ACCESS_KEY_ID=local \
	AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1 TABLE_PREFIX=wxmember-local- STAGE=local \
	EVENTS_QUEUE_NAME=wxmember-local-events EVENTS_DLQ_NAME=wxmember-local-events-dlq \
	SECRETS_FILE=$${LOCAL_DIR:-.local}/secrets.env

# The local-stack targets find it as `make run` started it: set LOCAL_AWS_PORT and LOCAL_DIR alike.
reconcile: $(STAMP)  ## reconcile the local stack (needs `make run` running)
	$(LOCAL_ENV) $(PY) -m chalicelib.cli reconcile

job: $(STAMP)  ## run a scheduled job on the local stack: make job NAME=expire-points [NOW=<ISO time with offset>]
	@test -n "$(NAME)" || { echo "usage: make job NAME=<job> [NOW=<ISO time with offset, e.g. 2026-12-01T00:10:00+08:00>]"; \
		echo "jobs: $$($(PY) -c 'from chalicelib.jobs.runner import JOBS; print(", ".join(JOBS))')"; exit 2; }
	$(LOCAL_ENV) $(PY) -m chalicelib.cli job $(NAME) $(if $(NOW),--now $(NOW))

dlq: $(STAMP)  ## the local stack's dead letters: make dlq [ACTION=redrive] [LIMIT=10]
	$(LOCAL_ENV) $(PY) -m chalicelib.cli dlq $(or $(ACTION),list) $(if $(LIMIT),--limit $(LIMIT))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The Lambda runtime. `chalice package` takes it from the interpreter that runs it (and builds the
# wheels for it), so `make package` and `make lock` refuse any other Python.
LAMBDA_PYTHON := 3.11
PACKAGE_STAGE ?= prod
INFRA := infra/tables.json infra/queues.json infra/gateway_responses.json infra/ops.json
CFN_REGIONS := us-east-1 cn-north-1 cn-northwest-1

lock: $(STAMP)  ## resolve requirements.txt into requirements.lock (hashes) with pip-tools in a venv of its own
	$(PY) infra/check_package.py python $(LAMBDA_PYTHON)
	test -x build/lock-venv/bin/pip-compile || { $(PY) -m venv build/lock-venv && \
		build/lock-venv/bin/pip install --quiet "pip>=23,<26.3" pip-tools==7.6.2; }
	build/lock-venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock requirements.txt

# chalice installs the requirements.txt of its project directory: build/src is a copy of the app
# whose requirements.txt is requirements.lock, so the zip holds exactly the locked, hash-checked wheels.
package: $(STAMP)  ## chalice package (locked deps) + infra merge; checks, cfn-lint for us-east-1 and China, smoke test
	$(PY) infra/check_package.py python $(LAMBDA_PYTHON)
	$(PY) infra/check_package.py lock requirements.txt requirements.lock
	rm -rf build/package build/src/app.py build/src/chalicelib && mkdir -p build/src/.chalice
	cp app.py requirements.lock build/src/ && mv build/src/requirements.lock build/src/requirements.txt
	cp -R chalicelib build/src/ && find build/src/chalicelib -name __pycache__ -prune -exec rm -rf {} +
	cp .chalice/config.json .chalice/policy.json build/src/.chalice/
	$(PY) infra/merge_templates.py $(INFRA) > build/merge-template.json
	set -o pipefail; AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/chalice --project-dir build/src package \
		--stage $(PACKAGE_STAGE) --merge-template $(abspath build/merge-template.json) $(abspath build/package) 2>&1 | tee build/package.log
	@! grep -q "Could not install dependencies" build/package.log || { echo "a runtime wheel is missing"; exit 1; }
	$(PY) infra/slim_package.py build/package/deployment.zip
	$(PY) infra/check_package.py template build/package/sam.json python$(LAMBDA_PYTHON)
	$(VENV)/bin/cfn-lint --regions $(CFN_REGIONS) -- build/package/sam.json
	@echo "cfn-lint: clean for $(CFN_REGIONS)"
	@# The zip alone (no site-packages: -S) must import the app and build the AWS clients it uses, and
	@# resolve Asia/Shanghai from its own tzdata (PYTHONTZPATH empty: no system zoneinfo).
	@rm -rf build/package/unzipped && mkdir -p build/package/unzipped && cd build/package/unzipped && \
		unzip -q ../deployment.zip && PYTHONTZPATH= $(abspath $(PY)) -S -c "import sys; sys.path.insert(0, '.'); \
		import os, app, boto3, chalicelib.api.schemas, jwt, wechatpy.crypto, zoneinfo, tzdata; \
		[boto3.client(s, region_name='us-east-1') for s in ('dynamodb', 'ssm', 'sqs', 'events', 'sts')]; \
		assert zoneinfo.TZPATH == () and tzdata.__file__.startswith(os.getcwd() + '/'), tzdata.__file__; \
		zoneinfo.ZoneInfo('Asia/Shanghai'); \
		print('package smoke test: app imports,', len(app.app.routes), 'routes; Asia/Shanghai from the zip tzdata', tzdata.IANA_VERSION)"
	@unzip -l build/package/deployment.zip | grep -q "cryptography/" || { echo "cryptography missing from the zip"; exit 1; }
	@echo "zip: $$(du -k build/package/deployment.zip | cut -f1) KiB, unzipped: $$(unzip -l build/package/deployment.zip | tail -1 | awk '{print int($$1/1024)}') KiB"
