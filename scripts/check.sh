#!/usr/bin/env bash
# The whole test suite: lint, types, tests with branch coverage. Installs dev dependencies itself.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
status=0
.venv/bin/pytest -W error --cov --cov-branch --cov-report=term "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: the suite is missing, which is a failure" >&2
    exit 1
fi
exit "$status"
