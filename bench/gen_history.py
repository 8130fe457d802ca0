"""Generate a history.db with N executions (default 1,000,000) for the history benchmarks.

Usage: python bench/gen_history.py PATH [--rows N] [--workflows K] [--seed S]
Rows look like real runs: 20 workflows, ~85 % successes, varied durations, short outputs with
real error lines, so stats and full-text search do realistic work.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workflow_agent.storage.history import HistoryStore

ERRORS = [
    ("network", "curl: (7) Failed to connect to api.internal port 443: Connection refused"),
    ("network", "ssh: Could not resolve hostname backup-host: Name or service not known"),
    ("permission", 'rsync: opendir "/var/lib/private" failed: Permission denied (13)'),
    ("disk_full", "tar: /mnt/backup/notes.tar: Cannot write: No space left on device"),
    ("rate_limit", "HTTP 429 Too Many Requests: retry after 30 seconds"),
    ("missing_dependency", "ModuleNotFoundError: No module named 'boto3'"),
    ("timeout", ""),
    ("auth", "fatal: Authentication failed for 'https://git.example.org/team/repo.git/'"),
]
OUTPUT_WORDS = [
    "backup",
    "sync",
    "report",
    "disk",
    "usage",
    "rotated",
    "archive",
    "uploaded",
    "checked",
    "files",
    "bytes",
    "done",
    "ok",
]


def generate(path: Path, rows: int, workflows: int, seed: int) -> None:
    rng = random.Random(seed)
    HistoryStore(path).close()  # creates the schema through the real migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    names = [f"job-{i:02d}" for i in range(workflows)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch: list[tuple[object, ...]] = []
    conn.execute("BEGIN")
    for i in range(rows):
        name = names[rng.randrange(workflows)]
        moment = start + timedelta(seconds=i * 30)
        if rng.random() < 0.85:
            status, failure, exit_code, stderr = "success", None, 0, ""
        else:
            failure, stderr = ERRORS[rng.randrange(len(ERRORS))]
            status = "timeout" if failure == "timeout" else "failed"
            exit_code = 137 if status == "timeout" else rng.choice([1, 2, 7, 23, 128])
        duration = rng.lognormvariate(0, 1.2)
        stdout = " ".join(rng.choice(OUTPUT_WORDS) for _ in range(12)) + f" run {i}\n"
        batch.append(
            (
                name,
                rng.randint(1, 5),
                status,
                "manual",
                moment.isoformat(),
                (moment + timedelta(seconds=duration)).isoformat(),
                duration,
                exit_code,
                stdout,
                stderr,
                None if status == "success" else f"exited with code {exit_code}",
                failure,
                1000 + i % 30000,
            )
        )
        if len(batch) == 20_000:
            _flush(conn, batch)
    _flush(conn, batch)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _flush(conn: sqlite3.Connection, batch: list[tuple[object, ...]]) -> None:
    conn.executemany(
        'INSERT INTO executions (workflow_name, workflow_version, status, "trigger", started_at, '
        "finished_at, duration, exit_code, stdout, stderr, error_message, failure_class, pid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    batch.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.path.exists():
        print(f"{args.path} exists; remove it first", file=sys.stderr)
        return 2
    began = time.perf_counter()
    generate(args.path, args.rows, args.workflows, args.seed)
    print(f"wrote {args.rows:,} executions to {args.path} in {time.perf_counter() - began:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
