"""Benchmark and corpus report for the static safety analyzer.

Run: ``.venv/bin/python bench/bench_safety.py``. Prints the time to analyse a generated
10,000-line shell script (median of several runs) beside tree-sitter parsing alone measured in
the same run, then the confusion table of the shared corpora.
"""

from __future__ import annotations

import ast
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from workflow_agent.core.types import Language
from workflow_agent.execution.safety import analyze
from workflow_agent.execution.safety.bash import parse
from workflow_agent.execution.safety.corpus import CorpusMissing, load_corpus

RUNS = 7

_BLOCK = """\
# --- section {i}: back up and report -------------------------------------------------
backup_{i}() {{
    local src="${{1:?source dir}}" dest="${{BACKUP_ROOT:-/mnt/backup}}/notes-{i}"
    mkdir -p "$dest"
    if [ -d "$src" ]; then
        rsync -a --delete "$src/" "$dest/current/"
        tar -czf "$dest/notes-$(date +%Y%m%d)-{i}.tar.gz" -C "$src" .
    fi
    find "$dest" -name '*.tar.gz' -mtime +7 -print | while read -r old; do
        echo "pruning $old" >> "$LOG_FILE"
        rm -f -- "$old"
    done
}}
for f in "$WORK_DIR"/*.csv; do
    count=$(wc -l < "$f")
    printf '%s\\t%d\\n' "$(basename "$f")" "$count" | tee -a "$REPORT"
done
case "${{MODE:-daily}}" in
    daily) du -sh "$HOME/notes" | sort -h | head -n 10 ;;
    weekly) git -C "$REPO" log --oneline --since='1 week ago' | grep -v '^Merge' ;;
    *) echo "unknown mode" >&2; exit 2 ;;
esac
status=$(curl -fsS --retry 3 "https://api.example.com/status/{i}" | jq -r '.state')
if [[ "$status" == "ok" && -n "${{TOKEN:-}}" ]]; then
    echo "healthy {i}"
else
    echo "degraded {i}: $status" | mail -s "report {i}" ops@example.com
fi
rm -rf "${{BUILD_DIR:?}}/cache-{i}" ./tmp-{i}
cat > "$WORK_DIR/summary-{i}.txt" <<EOF
section {i} done at $(date -u +%H:%M)
EOF
python3 -c 'import json,sys; print(json.dumps({{"section": {i}}}))' >> "$REPORT"
"""


_PY_HEADER = """\
\"\"\"Nightly maintenance.\"\"\"

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

"""
_PY_BLOCK = """\
# --- section {i}: collect, transform and report -----------------------------------------


class Collector{i}:
    \"\"\"Gathers rows for section {i} and writes a summary.\"\"\"

    def __init__(self, root: str, limit: int = 100) -> None:
        self.root = root
        self.limit = limit
        self.rows: list[dict[str, object]] = []

    def load(self, name: str) -> None:
        path = os.path.join(self.root, "data", f"{{name}}-{i}.json")
        if not os.path.exists(path):
            logging.warning("missing %s", path)
            return
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    self.rows.append(json.loads(line))

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {{}}
        for row in self.rows[: self.limit]:
            key = str(row.get("kind", "other"))
            counts[key] = counts.get(key, 0) + 1
        return counts


def build_{i}(workdir: str, verbose: bool = False) -> int:
    build = Path(workdir) / "build-{i}"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    result = subprocess.run(["git", "-C", workdir, "rev-parse", "HEAD"], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"section {i}: not a git checkout", file=sys.stderr)
        return 1
    collector = Collector{i}(workdir)
    for name in ("alpha", "beta", "gamma"):
        collector.load(name)
    report = build / "report.txt"
    report.write_text(json.dumps(collector.summary(), indent=2))
    if verbose:
        print(f"section {i}: {{len(collector.rows)}} rows, head {{result.stdout.strip()[:8]}}")
    return 0
"""


def generate_script(lines: int = 10_000) -> str:
    """A realistic maintenance script of at least ``lines`` lines."""
    header = 'set -euo pipefail\nLOG_FILE="${TMPDIR:-/tmp}/report.log"\nREPORT=./report.txt\n'
    return _repeat(header, _BLOCK, lines)


def generate_python(lines: int = 10_000) -> str:
    """A realistic Python maintenance script of at least ``lines`` lines."""
    return _repeat(_PY_HEADER, _PY_BLOCK, lines)


def _repeat(header: str, template: str, lines: int) -> str:
    parts = [header]
    total = header.count("\n")
    i = 0
    while total < lines:
        block = template.format(i=i)
        parts.append(block)
        total += block.count("\n")
        i += 1
    return "".join(parts)


def _median_seconds(func: Callable[[], object]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timing() -> None:
    """Time analyze() on the generated scripts against parsing alone (tree-sitter, ``ast``)."""
    _time("bash", generate_script(), Language.BASH, "tree-sitter parse only", parse)
    _time("Python", generate_python(), Language.PYTHON, "ast.parse only", ast.parse)


def _time(
    label: str, script: str, language: Language, parser: str, parse_only: Callable[[str], object]
) -> None:
    lines = script.count("\n")
    verdict = analyze(script, language)  # also warms up imports and the grammar
    base = _median_seconds(lambda: parse_only(script))
    full = _median_seconds(lambda: analyze(script, language))
    print(
        f"10k-line {label} script: {lines} lines, {len(script):,} bytes, verdict {verdict.decision.value}, "
        f"{len(verdict.findings)} findings"
    )
    print(f"  {parser:<23}: {base * 1000:7.1f} ms (median of {RUNS})")
    print(f"  {'analyze()':<23}: {full * 1000:7.1f} ms (median of {RUNS})")
    print(f"  {'ratio analyze/parse':<23}: {full / base:7.1f}x")
    print(f"  {'target analyze < 100 ms':<23}: {'met' if full < 0.1 else 'NOT met'}")


def scaling() -> None:
    """How analysis time grows with script length; the largest size under 100 ms is the figure
    that matters for scripts people really keep (tens to hundreds of lines)."""
    print()
    print(f"{'lines':>7}{'bash analyze':>15}{'bash parse':>13}{'Python analyze':>17}{'ast.parse':>12}")
    for lines in (100, 300, 1_000, 3_000, 10_000):
        cells = _scaling_row(lines)
        widths = (12, 10, 14, 9)
        print(f"{lines:>7}" + "".join(f"{c * 1000:>{w}.1f} ms" for c, w in zip(cells, widths, strict=True)))


def _scaling_row(lines: int) -> list[float]:
    bash, python = generate_script(lines), generate_python(lines)
    analyze(bash, Language.BASH)
    analyze(python, Language.PYTHON)
    return [
        _median_seconds(lambda: analyze(bash, Language.BASH)),
        _median_seconds(lambda: parse(bash)),
        _median_seconds(lambda: analyze(python, Language.PYTHON)),
        _median_seconds(lambda: ast.parse(python)),
    ]


def confusion() -> None:
    """Decisions per corpus: dangerous split by the source prefix of its category."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for row in load_corpus("dangerous"):
        prefix = row.category.split(":", 1)[0].split("(", 1)[0]
        table[prefix][analyze(row.command, Language.BASH).decision.value] += 1
    print()
    print(f"{'corpus / category prefix':<26}{'allow':>7}{'ask':>7}{'deny':>7}{'total':>7}{'ask+deny':>10}")
    totals: Counter[str] = Counter()
    for prefix in sorted(table):
        totals.update(table[prefix])
        _row(f"dangerous {prefix}", table[prefix])
    _row("dangerous ALL", totals)
    for name in ("benign", "gray"):
        _row(
            f"{name} ALL",
            Counter(analyze(r.command, Language.BASH).decision.value for r in load_corpus(name)),
        )


def _row(label: str, counts: Counter[str]) -> None:
    total = sum(counts.values())
    flagged = (counts["ask"] + counts["deny"]) / total if total else 0.0
    print(f"{label:<26}{counts['allow']:>7}{counts['ask']:>7}{counts['deny']:>7}{total:>7}{flagged:>10.1%}")


def main() -> int:
    """Print timing and the confusion table; exit 1 when the corpora are missing."""
    timing()
    scaling()
    try:
        confusion()
    except CorpusMissing as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
