"""Scores and their presentation: pass@1, pass@k, totals; a rich table or one JSON document."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from math import comb
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workflow_agent.eval.harness import AttemptResult, Validation

__all__ = [
    "attempt_line",
    "pass_at_k",
    "print_report",
    "print_validation",
    "summarize",
    "validation_document",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task: n attempts, c of them passing (Chen et al., 2021)."""
    if not 0 <= c <= n or not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 0 < k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _by_task(results: Sequence[AttemptResult]) -> dict[str, list[AttemptResult]]:
    tasks: dict[str, list[AttemptResult]] = {}
    for result in sorted(results, key=lambda r: r.attempt):
        tasks.setdefault(result.task_id, []).append(result)
    return tasks


def summarize(results: Sequence[AttemptResult], repeat: int, wall_seconds: float) -> dict[str, Any]:
    """pass@1 (first attempts), pass@k for k = 1..repeat (unbiased), totals and failure classes."""
    tasks = _by_task(results)
    count = len(tasks) or 1
    summary: dict[str, Any] = {
        "tasks": len(tasks),
        "attempts": len(results),
        "passed_attempts": sum(r.passed for r in results),
        "pass@1": sum(attempts[0].passed for attempts in tasks.values()) / count,
    }
    if repeat > 1:
        summary["pass@k"] = {
            str(k): sum(pass_at_k(len(a), sum(r.passed for r in a), k) for a in tasks.values()) / count
            for k in range(1, repeat + 1)
            if all(len(a) >= k for a in tasks.values())
        }
    costs = [r.cost_usd for r in results]
    seconds = sum(r.seconds for r in results)
    summary.update(
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        cost_usd=None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 6),
        seconds=round(seconds, 3),
        seconds_per_attempt=round(seconds / (len(results) or 1), 3),
        wall_seconds=round(wall_seconds, 3),
        failure_classes=dict(Counter(r.failure_class for r in results if r.failure_class).most_common()),
    )
    return summary


def document(
    results: Sequence[AttemptResult], *, meta: dict[str, Any], repeat: int, wall_seconds: float
) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: (r.task_id, r.attempt))
    return {
        **meta,
        "summary": summarize(results, repeat, wall_seconds),
        "results": [
            asdict(r)
            | {
                "seconds": round(r.seconds, 3),
                "teach_seconds": round(r.teach_seconds, 3),
                "run_seconds": round(r.run_seconds, 3),
            }
            for r in ordered
        ],
    }


def attempt_line(result: AttemptResult, done: int, total: int) -> Text:
    """One progress line for a finished attempt."""
    mark = Text("pass", style="green") if result.passed else Text(result.failure_class or "fail", style="red")
    line = Text(f"[{done}/{total}] {result.task_id} #{result.attempt} ")
    line.append(mark)
    line.append(f" {result.seconds:.1f}s", style="dim")
    if result.language:
        line.append(f" {result.language}/{result.safety}", style="dim")
    return line


def _cost(value: float | None) -> str:
    return "?" if value is None else f"${value:.4f}"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_report(doc: dict[str, Any], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    console = Console(file=out, highlight=False, soft_wrap=False)
    table = Table(title=f"teach evaluation: {doc['model']}", title_justify="left")
    for column in ("task", "#", "result", "lang", "safety", "tokens in/out", "cost", "s", "error"):
        table.add_column(
            column,
            no_wrap=column == "task",
            overflow="fold",
            justify="right" if column in ("#", "s") else "left",
        )
    for row in doc["results"]:
        result = Text("pass", style="green") if row["passed"] else Text(row["failure_class"], style="red")
        table.add_row(
            row["task_id"],
            str(row["attempt"]),
            result,
            row["language"] or "-",
            row["safety"] or "-",
            f"{row['input_tokens']}/{row['output_tokens']}",
            _cost(row["cost_usd"]),
            f"{row['seconds']:.1f}",
            (row["error"] or "").splitlines()[0][:80] if row["error"] else "",
        )
    console.print(table)
    summary = doc["summary"]
    parts = [f"pass@1 {_percent(summary['pass@1'])} ({summary['tasks']} tasks)"]
    parts += [f"pass@{k} {_percent(v)}" for k, v in summary.get("pass@k", {}).items() if k != "1"]
    parts += [
        f"tokens {summary['input_tokens']:,} in / {summary['output_tokens']:,} out",
        f"cost {_cost(summary['cost_usd'])}",
        f"{summary['seconds']:.1f}s of attempts ({summary['seconds_per_attempt']:.1f}s each), "
        f"{summary['wall_seconds']:.1f}s wall",
    ]
    console.print("; ".join(parts))
    if summary["failure_classes"]:
        console.print("failures: " + ", ".join(f"{k} {v}" for k, v in summary["failure_classes"].items()))
    if doc.get("self_test"):
        console.print(Text(doc["self_test"], style="yellow"))


def validation_document(results: Sequence[Validation], path: str, wall_seconds: float) -> dict[str, Any]:
    invalid = sorted((r for r in results if not r.valid), key=lambda r: r.task_id)
    return {
        "tasks_file": path,
        "summary": {
            "tasks": len(results),
            "valid": len(results) - len(invalid),
            "invalid": [r.task_id for r in invalid],
            "wall_seconds": round(wall_seconds, 3),
        },
        "results": [
            {
                "task_id": r.task_id,
                "valid": r.valid,
                "problems": list(r.problems),
                "seconds": round(r.seconds, 3),
            }
            for r in sorted(results, key=lambda r: r.task_id)
        ],
    }


def print_validation(doc: dict[str, Any], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    console = Console(file=out, highlight=False, soft_wrap=True)
    for row in doc["results"]:
        if row["valid"]:
            console.print(Text(f"valid    {row['task_id']}", style="green"))
        else:
            console.print(Text(f"INVALID  {row['task_id']}: {'; '.join(row['problems'])}", style="red"))
    summary = doc["summary"]
    valid = f"{summary['valid']}/{summary['tasks']} tasks valid"
    console.print(f"{valid} in {summary['wall_seconds']:.1f}s ({doc['tasks_file']})")
