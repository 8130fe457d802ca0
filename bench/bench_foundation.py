"""Foundation benchmarks: start-up, run overhead, history at 1M rows, output throughput and memory.

Every figure is printed beside a baseline measured in the same run, with the ratio and the target.
Usage: python bench/bench_foundation.py [--quick] [--db PATH] [--gigabytes N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workflow_agent.app.run import run_workflow
from workflow_agent.core.settings import load_settings
from workflow_agent.core.types import WorkflowConfig
from workflow_agent.execution.sandbox import Isolation, probe
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore

PY = sys.executable
CLI = [PY, "-c", "from workflow_agent.cli import run; run()"]
CACHE = Path(__file__).resolve().parent / ".cache"
ROWS: list[tuple[str, str, str, str, str]] = []


def row(metric: str, subject: str, baseline: str, ratio: str, target: str) -> None:
    ROWS.append((metric, subject, baseline, ratio, target))
    print(f"  {metric}: {subject} vs {baseline} ({ratio}; target {target})", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median_wall(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def median_call(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_help(runs: int) -> None:
    # Interleaved, so that drift in a shared machine's speed hits both sides alike.
    base_times: list[float] = []
    help_times: list[float] = []
    for _ in range(runs):
        base_times.append(median_wall([PY, "-c", "import typer, rich"], 1))
        help_times.append(median_wall([*CLI, "--help"], 1))
    base, help_time = statistics.median(base_times), statistics.median(help_times)
    row(
        "workflow --help",
        ms(help_time),
        f"{ms(base)} (import typer, rich)",
        f"{help_time / base:.2f}x",
        "<= 1.3x",
    )


def bench_run(home: Path, runs: int) -> None:
    env = {**os.environ, "WORKFLOW_HOME": str(home)}
    store = WorkflowStore(home)
    store.create(WorkflowConfig(name="true"), "true\n")
    bash = median_wall(["bash", "-c", "true"], runs)
    settings = load_settings(env)
    with HistoryStore(settings.history_path) as history:

        def once(mode: Isolation) -> None:
            run_workflow(store, history, settings, "true", base_env=env, sandbox=mode)

        once(Isolation.AUTO)  # warm up: imports, the sandbox probe, the analyzer
        bare = median_call(lambda: once(Isolation.NONE), runs)
        boxed = median_call(lambda: once(Isolation.AUTO), runs)
    row(
        "run `true`, no sandbox (in process)",
        ms(bare),
        f"{ms(bash)} (bash -c true)",
        f"+{ms(bare - bash)}",
        "<= +40 ms",
    )
    row(
        f"run `true`, sandbox {probe().mode.value} (in process)",
        ms(boxed),
        f"{ms(bare)} (same, no sandbox)",
        f"+{ms(boxed - bare)}",
        "<= +60 ms",
    )
    whole = median_wall([*CLI, "run", "true", "-q"], runs, env)
    python = median_wall([PY, "-c", "pass"], runs)
    row(
        "workflow run true (whole CLI)",
        ms(whole),
        f"{ms(bash)} bash; {ms(python)} bare python",
        f"+{ms(whole - bash)} over bash",
        "report",
    )


def bench_history(db: Path, runs: int) -> None:
    if not db.exists():
        print(f"  generating {db} (1,000,000 rows; about two minutes, kept for later runs)", flush=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([PY, str(Path(__file__).with_name("gen_history.py")), str(db)], check=True)
    with HistoryStore(db) as history:
        count = history.conn.execute("SELECT count(*) FROM executions").fetchone()[0]
        scan = median_call(
            lambda: history.conn.execute("SELECT sum(length(status)) FROM executions").fetchone(), 3
        )
        baseline = f"{ms(scan)} (one full-table scan, {count:,} rows)"
        stats_all = median_call(history.get_stats, runs)
        row("stats (all workflows)", ms(stats_all), baseline, f"{stats_all / scan:.3f}x", "< 100 ms")
        stats_one = median_call(lambda: history.get_stats("job-03"), runs)
        row("stats NAME", ms(stats_one), baseline, f"{stats_one / scan:.3f}x", "< 100 ms")
        grep = median_call(lambda: history.query(grep="No space left", limit=20), runs)
        row("history --grep 'No space left'", ms(grep), baseline, f"{grep / scan:.3f}x", "< 100 ms")
        rare = median_call(lambda: history.query(grep="run 999999", limit=20), runs)
        row("history --grep (one match)", ms(rare), baseline, f"{rare / scan:.3f}x", "< 100 ms")
    env = {**os.environ, "WORKFLOW_HOME": str(db.parent)}
    if db.name == "history.db":
        cli_stats = median_wall([*CLI, "stats"], max(3, runs // 2), env)
        cli_grep = median_wall([*CLI, "history", "--grep", "No space left"], max(3, runs // 2), env)
        row("workflow stats (whole CLI)", ms(cli_stats), "-", "-", "report")
        row("workflow history --grep (whole CLI)", ms(cli_grep), "-", "-", "report")


RSS_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    out = subprocess.run([PY, "-c", RSS_WRAPPER, *argv], capture_output=True, text=True, env=env, check=True)
    seconds, kib = out.stdout.split()
    return float(seconds), int(kib)


def bench_output(home: Path, gigabytes: float) -> None:
    size = int(gigabytes * (1 << 30))
    producer = f"yes 'the quick brown fox jumps over the lazy dog' | head -c {size}"
    WorkflowStore(home).create(WorkflowConfig(name="flood"), producer + "\n")
    label = f"{gigabytes:g} GiB"
    base_env = {**os.environ, "WORKFLOW_HOME": str(home)}
    cat_time, cat_kib = measured(["bash", "-c", f"{producer} | cat > /dev/null"], base_env)
    cat_rate = size / cat_time / (1 << 20)
    for log_note, extra in (
        ("default 64 MiB log", {}),
        ("log kept whole", {"WORKFLOW_LOG_LIMIT": str(4 << 30)}),
    ):
        run_time, run_kib = measured([*CLI, "run", "flood"], {**base_env, **extra})
        run_rate = size / run_time / (1 << 20)
        row(
            f"throughput, {label} through run ({log_note})",
            f"{run_rate:.0f} MiB/s",
            f"{cat_rate:.0f} MiB/s (cat > /dev/null)",
            f"{run_rate / cat_rate:.2f}x",
            ">= 0.5x",
        )
        row(
            f"peak RSS, {label} ({log_note})",
            f"{run_kib / 1024:.1f} MiB",
            f"{cat_kib / 1024:.1f} MiB (cat)",
            "-",
            "< 100 MB",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 0.25 GiB of output")
    parser.add_argument("--db", type=Path, default=CACHE / "history-1m" / "history.db")
    parser.add_argument("--gigabytes", type=float, default=None)
    args = parser.parse_args()
    runs = 5 if args.quick else 20
    gigabytes = args.gigabytes or (0.25 if args.quick else 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        print("start-up", flush=True)
        bench_help(runs)
        print("run overhead", flush=True)
        bench_run(Path(tmp) / "run-home", runs)
        print("history at 1M rows", flush=True)
        bench_history(args.db, runs)
        print("output", flush=True)
        bench_output(Path(tmp) / "out-home", gigabytes)
    widths = [
        max(len(r[i]) for r in [("metric", "measured", "baseline", "ratio", "target"), *ROWS])
        for i in range(5)
    ]
    print()
    for line in [("metric", "measured", "baseline", "ratio", "target"), *ROWS]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
