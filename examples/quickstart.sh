#!/usr/bin/env bash
# Install workflow into ./.venv and run a bundled example workflow. Needs no network beyond PyPI
# and no API key. State goes to $WORKFLOW_HOME (default ~/workflows).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

wf=.venv/bin/workflow
if ! "$wf" show disk-report >/dev/null 2>&1; then
    "$wf" add disk-report --file examples/disk-report.sh \
        --description "Summarise disk usage of the working directory: totals and the biggest entries"
fi
if ! "$wf" show log-levels >/dev/null 2>&1; then
    "$wf" add log-levels --file examples/log-levels.py --description "Count log lines by level in a folder"
fi

echo "== workflow run disk-report"
"$wf" run disk-report --param TOP=5
echo
echo "== workflow history"
"$wf" history --limit 5
