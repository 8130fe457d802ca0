"""Per-workflow statistics, fast on millions of rows.

Counts, success rate and mean duration are all-time, read from the trigger-kept run_totals
table. Percentiles describe recent behaviour: the last DURATION_WINDOW timed runs, read
newest-first off the (workflow_name, id) index. Model usage (calls, tokens, cost) comes from the
llm_calls table, summed per workflow.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

SUCCESS = "success"
DURATION_WINDOW = 1000
FAILURES = ("failed", "timeout", "interrupted")


@dataclass
class LastFailure:
    id: int
    started_at: str
    status: str
    failure_class: str | None
    message: str | None


@dataclass
class WorkflowStats:
    workflow_name: str
    runs: int
    successes: int
    failures: int
    cancelled: int
    refused: int
    running: int
    success_rate: float | None
    mean_duration: float | None
    p50_duration: float | None
    p95_duration: float | None
    duration_window: int  # how many recent timed runs p50/p95 describe (at most DURATION_WINDOW)
    last_run_at: str | None
    last_failure: LastFailure | None
    trend: list[str] = field(default_factory=list)  # statuses of the last runs, oldest first
    trend_success_rate: float | None = None
    previous_success_rate: float | None = None  # the window before the trend window
    llm_calls: int = 0  # model calls made for this workflow (teach, improve, explain, ...)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # estimated; calls to models without a known price count as zero

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LlmUsage:
    """What the model calls made for one workflow add up to."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float  # the sum of the calls whose cost is known

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def llm_usage(conn: sqlite3.Connection, workflow_name: str | None = None) -> dict[str, LlmUsage]:
    """Model usage per workflow (one workflow, or all); calls not tied to a workflow are left out."""
    where, args = ("WHERE workflow_name = ?", [workflow_name]) if workflow_name is not None else ("", [])
    rows = conn.execute(
        "SELECT workflow_name, count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
        f"coalesce(sum(cost_usd), 0.0) FROM llm_calls {where} GROUP BY workflow_name",
        args,
    ).fetchall()
    return {
        name: LlmUsage(int(calls), int(tokens_in), int(tokens_out), float(cost))
        for name, calls, tokens_in, tokens_out, cost in rows
        if name is not None
    }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), int(fraction * len(ordered) + 0.999999)))
    return ordered[rank - 1]


def _rate(statuses: list[str]) -> float | None:
    finished = [s for s in statuses if s not in ("running", "refused")]
    return sum(s == SUCCESS for s in finished) / len(finished) if finished else None


def compute_stats(
    conn: sqlite3.Connection, workflow_name: str | None, *, trend_window: int
) -> list[WorkflowStats]:
    where, args = ("WHERE workflow_name = ?", [workflow_name]) if workflow_name is not None else ("", [])
    totals = conn.execute(
        f"SELECT workflow_name, status, runs, total_duration, timed_runs FROM run_totals {where}", args
    ).fetchall()
    usage = llm_usage(conn, workflow_name)
    per_name: dict[str, dict[str, tuple[int, float, int]]] = {}
    for name, status, count, total, timed in totals:
        if not count:
            continue
        per_name.setdefault(name, {})[status] = (int(count), float(total or 0.0), int(timed))
    result: list[WorkflowStats] = []
    for name in sorted(per_name):
        by_status = per_name[name]
        runs = sum(c for c, _, _ in by_status.values())
        timed_runs = sum(t for _, _, t in by_status.values())
        total_duration = sum(d for _, d, _ in by_status.values())

        def count(*statuses: str, _by: dict[str, tuple[int, float, int]] = by_status) -> int:
            return sum(_by.get(s, (0, 0.0, 0))[0] for s in statuses)

        successes, failures = count(SUCCESS), count(*FAILURES)
        finished = runs - count("running", "refused")
        recent = [
            row[0]
            for row in conn.execute(
                "SELECT status FROM executions WHERE workflow_name = ? ORDER BY id DESC LIMIT ?",
                (name, 2 * trend_window),
            )
        ]
        last = conn.execute(
            "SELECT id, started_at, status, failure_class, error_message FROM executions "
            "WHERE workflow_name = ? AND status IN (?, ?, ?) ORDER BY id DESC LIMIT 1",
            (name, *FAILURES),
        ).fetchone()
        last_run = conn.execute(
            "SELECT started_at FROM executions WHERE workflow_name = ? ORDER BY id DESC LIMIT 1", (name,)
        ).fetchone()
        trend = list(reversed(recent[:trend_window]))
        durations = sorted(
            row[0]
            for row in conn.execute(
                "SELECT duration FROM executions WHERE workflow_name = ? AND duration IS NOT NULL "
                "ORDER BY id DESC LIMIT ?",
                (name, DURATION_WINDOW),
            )
        )
        spent = usage.get(name, LlmUsage(0, 0, 0, 0.0))
        result.append(
            WorkflowStats(
                workflow_name=name,
                runs=runs,
                successes=successes,
                failures=failures,
                cancelled=count("cancelled"),
                refused=count("refused"),
                running=count("running"),
                success_rate=successes / finished if finished else None,
                mean_duration=total_duration / timed_runs if timed_runs else None,
                p50_duration=_percentile(durations, 0.50),
                p95_duration=_percentile(durations, 0.95),
                duration_window=len(durations),
                last_run_at=last_run[0] if last_run else None,
                last_failure=LastFailure(*last) if last else None,
                trend=trend,
                trend_success_rate=_rate(trend),
                previous_success_rate=_rate(recent[trend_window:]),
                llm_calls=spent.calls,
                input_tokens=spent.input_tokens,
                output_tokens=spent.output_tokens,
                cost_usd=spent.cost_usd,
            )
        )
    return result
