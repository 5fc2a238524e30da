# The workshop's commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
# The notebook's edition: en (convolutional_layers_workshop.ipynb) or es (convolutional_layers_workshop.es.ipynb).
EDITION ?= en
# The package's generated text (i18n): the modules whose messages go to the catalogs (conv_workshop.i18n names
# them), the notebook's translate() calls, and the catalogs' folder.
MESSAGES = $(shell $(PY) -c 'from conv_workshop.i18n import TRANSLATED_MODULES as m; print(*(f"conv_workshop/{n}.py" for n in m))') \
	convolutional_layers_workshop.py
LOCALES := conv_workshop/locale
DATA_PACKAGE := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: run test test-fast test-outside lint serve bench report lab replay data clean lock catalogs translation

# The exact, hash-checked set of requirements.lock (Linux x86_64, CPython 3.11: the reference run's platform). Elsewhere
# (another Python or OS), LOCKED=0 installs from the ranges instead.
LOCKED ?= 1
# The reference run's torch and torchvision: the lock keeps them whatever newer release an index offers.
LOCK_PINS := torch==2.14.1 torchvision==0.29.1

$(VENV)/.installed: requirements.lock requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(filter 1,$(LOCKED)),$(PY) -m pip install --quiet --require-hashes -r requirements.lock,$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt)
	touch $@

lock: $(VENV)/.installed  ## refresh requirements.lock from the ranges (requirements.txt, requirements-dev.txt)
	$(PY) -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links $(addprefix --upgrade-package ,$(LOCK_PINS)) --output-file requirements.lock \
		requirements.txt requirements-dev.txt

# The Debian package when apt is there and we may use it; otherwise the loader finds ./data or downloads.
data:
	@if [ ! -f $(DATA_PACKAGE) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q dataset-fashion-mnist >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null) || true; fi

run: $(VENV)/.installed data  ## execute the whole notebook (PROFILE=smoke|quick|full, EDITION=en|es) into runs/$(PROFILE)/; runs already recorded there are taken, only what is missing is trained (FRESH=1: set them aside, start afresh)
	$(PY) tools/run_notebook.py --profile $(PROFILE) --language $(EDITION) $(if $(filter full,$(PROFILE)),--in-place,) $(if $(FRESH),--fresh,)

test: $(VENV)/.installed data  ## lint + the architecture's contracts + the whole test suite (what CI runs)
	$(VENV)/bin/ruff check conv_workshop tests tools benchmarks convolutional_layers_workshop.py convolutional_layers_workshop.es.py
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

test-fast: $(VENV)/.installed  ## the everyday loop: lint + contracts + every test not marked slow (no notebook run, no real server)
	$(VENV)/bin/ruff check conv_workshop tests tools benchmarks convolutional_layers_workshop.py convolutional_layers_workshop.es.py
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow" -q

test-outside: $(VENV)/.installed data  ## fresh virtualenvs: the wheel + the lock with the .ipynb alone in an empty folder; torch + Pillow loading the weights through torch.hub
	$(PY) -m pytest -m outside tests/test_outside.py tests/test_hub.py -s

serve: $(VENV)/.installed  ## the prediction service on http://127.0.0.1:8000 (docs at /docs)
	$(PY) -m conv_workshop serve --host 127.0.0.1 --port 8000

bench: $(VENV)/.installed data  ## benchmarks: training throughput, export latency, service load
	$(PY) benchmarks/train_throughput.py --json results/benchmarks/train_throughput.json
	$(PY) benchmarks/export_latency.py --json results/benchmarks/export_latency.json
	$(PY) benchmarks/service_load.py --json results/benchmarks/service_load.json

report: $(VENV)/.installed  ## regenerate the README tables from results/
	$(PY) -m conv_workshop report

replay: $(VENV)/.installed data  ## re-render the committed notebook from the recorded full run (training unchanged)
	$(PY) tools/run_notebook.py --profile full --language $(EDITION) --in-place --replay --record-timing results/benchmarks/notebook_profiles.json

catalogs: $(VENV)/.installed  ## extract the package's messages, merge them into each language's .po, compile the .mo files
	mkdir -p $(LOCALES)
	$(VENV)/bin/pybabel extract --no-wrap --sort-by-file -k N_ -k translate -k ngettext:1,2 \
		--project conv-workshop -o $(LOCALES)/conv_workshop.pot $(MESSAGES)
	sed -i -e 's/^\(#,.*\), python-format$$/\1/' -e 's/^#, python-format, /#, /' -e '/^#, python-format$$/d' $(LOCALES)/conv_workshop.pot  # str.format messages: no %-checks
	$(VENV)/bin/pybabel update --no-wrap --ignore-obsolete -D conv_workshop -i $(LOCALES)/conv_workshop.pot -d $(LOCALES)
	$(PY) tools/compile_catalogs.py

translation: $(VENV)/.installed  ## rebuild the Spanish notebook's source from the English one and locale/es/notebook.po
	$(PY) tools/translate_notebook.py --update
	$(PY) tools/translate_notebook.py

lab: $(VENV)/.installed data
	$(VENV)/bin/jupyter lab convolutional_layers_workshop$(if $(filter es,$(EDITION)),.es,).ipynb

clean:
	rm -rf runs .pytest_cache .ruff_cache
