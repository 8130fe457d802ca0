"""Accuracy of the failure classifier on shared/cases/errors.jsonl, and its cost on 10 MB of output.

Run: .venv/bin/python bench/bench_classify.py   (WORKFLOW_CASES_DIR overrides the corpus directory)
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from workflow_agent.cases import CasesMissing, read_cases
from workflow_agent.execution.classify import classify_failure

TEN_MB = 10 * 1024 * 1024
REPEATS = 15


def load_cases() -> list[dict[str, Any]]:
    try:
        return read_cases("errors")
    except CasesMissing as exc:
        sys.exit(f"error corpus not found: {exc}")


def accuracy(cases: list[dict[str, Any]]) -> None:
    rows: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    misses: list[str] = []
    started = time.perf_counter()
    for case in cases:
        diagnosis = classify_failure(case["text"], exit_code=case["exit_code"])
        rows[case["label"]] += 1
        if diagnosis.failure_class.value == case["label"]:
            correct[case["label"]] += 1
        else:
            text = case["text"].replace("\n", "\\n")[:90]
            misses.append(
                f"  {case['label']} -> {diagnosis.failure_class.value}  exit={case['exit_code']}  {text!r}"
                f"\n      evidence: {diagnosis.evidence!r}"
            )
    per_call = (time.perf_counter() - started) / len(cases)
    print(f"{'class':20} {'rows':>5} {'correct':>8} {'accuracy':>9}")
    for label in sorted(rows, key=lambda name: (-rows[name], name)):
        print(f"{label:20} {rows[label]:5} {correct[label]:8} {correct[label] / rows[label]:9.1%}")
    total = sum(rows.values())
    print(f"{'overall':20} {total:5} {sum(correct.values()):8} {sum(correct.values()) / total:9.1%}")
    print(f"\nmisses ({len(misses)}):")
    print("\n".join(misses) if misses else "  none")
    print(f"\nmean time per corpus row: {per_call * 1e6:.0f} µs")


def median_time(func: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def log_noise(size: int) -> str:
    rng = random.Random(7)
    words = ["copied", "file", "step", "batch", "item", "done", "value", "result", "reading", "sync", "ok"]
    lines: list[str] = []
    length = 0
    while length < size:
        line = (
            f"2024-05-01 02:00:{len(lines) % 60:02d} INFO {' '.join(rng.choices(words, k=12))} n={len(lines)}"
        )
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines)[:size]


def timing() -> None:
    noise = log_noise(TEN_MB)
    scenarios = {
        "error on the last line": noise + "\nOSError: [Errno 28] No space left on device\n",
        "no decisive line (worst case)": noise,
        "one 10 MB line, no newline": "x" * TEN_MB,
    }
    print(
        f"\ntiming on 10 MB of stderr (median of {REPEATS}); baseline = one str.splitlines() of the same text"
    )
    print(f"{'scenario':32} {'classify':>10} {'baseline':>10} {'ratio':>7}  result")
    for name, text in scenarios.items():
        diagnosis = classify_failure(text, exit_code=1)
        classify_s = median_time(partial(classify_failure, text, exit_code=1))
        baseline_s = median_time(text.splitlines)
        print(
            f"{name:32} {classify_s * 1e3:8.2f}ms {baseline_s * 1e3:8.2f}ms {classify_s / baseline_s:7.3f}"
            f"  {diagnosis.failure_class.value}"
        )


def main() -> None:
    accuracy(load_cases())
    timing()


if __name__ == "__main__":
    main()
