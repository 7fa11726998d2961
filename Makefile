# Skyddsnät: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
AS_OF ?= $(shell date +%F)
PROFILE ?= ange
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export GX_ANALYTICS_ENABLED := False

.PHONY: install lock demo test lint ui bench clean konsortium konsortium-stop

# Exactly what CI tested: every package pinned with its hashes in requirements/lock.txt
# (`make lock` recompiles it from pyproject.toml), then the project itself without deps.
$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==26.3
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lock:
	$(BIN)/pip install --quiet pip-tools==7.6.2
	$(BIN)/pip-compile --quiet --extra dev --extra bench --generate-hashes --strip-extras \
		--allow-unsafe -o requirements/lock.txt pyproject.toml

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: pipelines/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp pipelines/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	rm -rf $(DEMO)
	$(BIN)/skyddsnat keys init --key-dir $(DEMO)/keys --officer-key-out $(DEMO)/skyddsbehorig.key
	$(BIN)/skyddsnat generate --profile $(PROFILE) --out $(DEMO)/data --as-of $(AS_OF) --seed 1
	$(BIN)/skyddsnat run --data-dir $(DEMO)/data --key-dir $(DEMO)/keys --as-of $(AS_OF)
	@echo
	@echo "Leveransen ligger i $(DEMO)/data/outbox/$(AS_OF)/:"
	@cd $(DEMO)/data/outbox/$(AS_OF)/ && find -L . -type f | sort | sed 's/^\.\//  /'
	@echo
	@echo "Öppna de förseglade listorna (endast den skyddsbehöriga handläggaren):"
	@echo "  $(BIN)/skyddsnat unseal $(DEMO)/data/outbox/$(AS_OF)/restricted/skolplikt.sealed --key $(DEMO)/skyddsbehorig.key --out $(DEMO)/oppnade"
	@echo "Dagster UI: make ui  (http://127.0.0.1:3000)"

test: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	SKYDDSNAT_DATA_DIR=$(CURDIR)/$(DEMO)/data SKYDDSNAT_KEY_DIR=$(CURDIR)/$(DEMO)/keys \
		$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Three municipalities on one Dagster deployment: PostgreSQL (Debian's server, installed if
# missing), the daemon, queued runs. Orchestrated by bench/konsortium.py; state in .konsortium/.
konsortium: $(STAMP)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	$(BIN)/python -m bench.konsortium

konsortium-stop: $(STAMP)
	$(BIN)/python -m bench.konsortium --stop

clean:
	rm -rf $(VENV) $(DEMO) $(DAGSTER_HOME) .konsortium
