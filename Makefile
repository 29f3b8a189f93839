# Two commands: `make run` (index the bundled corpus, open the web chat) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: run test test-fast setup browser lint gate

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: otherwise sentence-transformers pulls a CUDA build of several GB.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,llm]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant serve

# The browser tests drive Debian's Chromium; install it when it is missing and we may.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed: the browser tests will be skipped"

lint: setup
	$(BIN)/ruff check assistant tests
	$(BIN)/mypy assistant

# The quality gate: a change that makes answers worse fails (thresholds just under the level reached;
# eval/README.md). The second set asks the same questions on different dates over tests/data/timeline;
# the third asks whose view it is (one side's position, both sides, a side without a statement) and that
# no answer names a speaker its passage does not support.
gate: setup
	$(BIN)/assistant eval --questions eval/questions.jsonl --corpus corpus --out eval/results/gate \
	  --min fact_recall=0.75 --min abstention_accuracy=0.95 --min citation_validity=1.0
	$(BIN)/assistant eval --questions eval/dated-questions.jsonl --corpus tests/data/timeline \
	  --out eval/results/gate-dated --min fact_recall=1.0 --min answer_presence=1.0 \
	  --min abstention_accuracy=1.0 --min citation_validity=1.0
	$(BIN)/assistant eval --questions eval/voices-questions.jsonl --corpus tests/data/voices \
	  --out eval/results/gate-voices --min attribution_accuracy=1.0 --min both_sides_coverage=1.0 \
	  --min fact_recall=1.0 --min abstention_accuracy=1.0 --min citation_validity=1.0 \
	  --max misattribution_rate=0.0
	$(BIN)/assistant eval --questions eval/period-questions.jsonl --corpus tests/data/periods \
	  --out eval/results/gate-periods --min answer_presence=1.0 --min abstention_accuracy=1.0 \
	  --min citation_validity=1.0

# CI lists the slowest tests, so a test that grows slow is seen.
test: setup browser lint
	$(BIN)/python -m pytest --durations=15
	$(MAKE) gate

# The quick loop while working: no servers started, no browser.
test-fast: setup
	$(BIN)/python -m pytest -m "not server and not browser" --durations=15
