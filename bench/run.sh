#!/usr/bin/env bash
# Every benchmark, each printing its figures beside a baseline measured in the same run.
# The first run generates a 1,000,000-row history database (about two minutes; kept in bench/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
for bench in bench_foundation bench_safety bench_classify; do
    echo "== $bench"
    .venv/bin/python "bench/$bench.py"
    echo
done
