"""HistoryStore: every run of every workflow, in SQLite.

A run's row is written as 'running' before the process starts and finalised after it ends, so a
crash can never lose a run: a row still 'running' whose process is gone is marked 'interrupted'.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow_agent.core.errors import NotFoundError, StorageError
from workflow_agent.core.types import ExecutionRecord, FailureClass, FailurePattern, RunStatus, utcnow
from workflow_agent.storage import processes
from workflow_agent.storage.migrations import SCHEMA_VERSION, migrate
from workflow_agent.storage.stats import LlmUsage, WorkflowStats, compute_stats, llm_usage

if TYPE_CHECKING:
    # Only the type: storage sits below agents/ and must not import it at run time.
    from workflow_agent.agents.schemas import CallRecord

BUSY_TIMEOUT_S = 30.0
COLUMNS = (
    'id, workflow_name, workflow_version, status, "trigger", started_at, finished_at, duration, '
    "exit_code, stdout, stderr, error_message, failure_class, pid, log_path, sandbox"
)
FAILED_STATUSES = (RunStatus.FAILED.value, RunStatus.TIMEOUT.value, RunStatus.INTERRUPTED.value)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class HistoryStore:
    """Reads and writes history.db. One instance per process; not shared across threads."""

    def __init__(self, path: Path, *, on_interrupted: Callable[[str], object] | None = None) -> None:
        """``on_interrupted`` gets the run token of each run found dead, to clean up what it left running."""
        self.path = path
        self._on_interrupted = on_interrupted
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            started_at = migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"cannot open history database {path}: {exc}",
                hint="If the file is damaged, move it aside; a new one is created on the next run.",
            ) from None
        if started_at > SCHEMA_VERSION:
            raise StorageError(
                f"{path} was written by a newer version of workflow (schema {started_at})",
                hint="Upgrade workflow to read it.",
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------
    def start_execution(
        self,
        workflow_name: str,
        *,
        version: int | None,
        trigger: str = "manual",
        pid: int | None = None,
        run_token: str | None = None,
    ) -> int:
        """Insert the 'running' row for a run about to start; return its id."""
        with self._write() as conn:
            cursor = conn.execute(
                'INSERT INTO executions (workflow_name, workflow_version, status, "trigger", started_at, '
                "pid, run_token, stdout, stderr) VALUES (?, ?, ?, ?, ?, ?, ?, '', '')",
                (
                    workflow_name,
                    version,
                    RunStatus.RUNNING.value,
                    trigger,
                    _iso(utcnow()),
                    pid or os.getpid(),
                    run_token,
                ),
            )
            row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    def set_sandbox(self, execution_id: int, mode: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE executions SET sandbox = ? WHERE id = ?", (mode, execution_id))

    def finish_execution(
        self,
        execution_id: int,
        *,
        status: RunStatus,
        exit_code: int | None,
        duration: float | None,
        stdout: str,
        stderr: str,
        error_message: str | None = None,
        failure_class: FailureClass | None = None,
        log_path: str | None = None,
    ) -> ExecutionRecord:
        with self._write() as conn:
            conn.execute(
                "UPDATE executions SET status = ?, finished_at = ?, duration = ?, exit_code = ?, stdout = ?, "
                "stderr = ?, error_message = ?, failure_class = ?, log_path = ? WHERE id = ?",
                (
                    status.value,
                    _iso(utcnow()),
                    duration,
                    exit_code,
                    stdout,
                    stderr,
                    error_message,
                    failure_class.value if failure_class else None,
                    log_path,
                    execution_id,
                ),
            )
        return self.get(execution_id)

    def close_unstarted(
        self,
        execution_id: int,
        *,
        status: RunStatus,
        message: str,
        failure_class: FailureClass | None = None,
        stderr: str = "",
    ) -> ExecutionRecord:
        """Finish the row of a run whose process never started (refused, or its set-up failed)."""
        return self.finish_execution(
            execution_id,
            status=status,
            exit_code=None,
            duration=None,
            stdout="",
            stderr=stderr,
            error_message=message,
            failure_class=failure_class,
        )

    def record_refusal(
        self, workflow_name: str, *, version: int | None, reason: str, trigger: str = "manual"
    ) -> int:
        """A run the safety policy stopped before it started still leaves a row."""
        row_id = self.start_execution(workflow_name, version=version, trigger=trigger)
        self.close_unstarted(row_id, status=RunStatus.REFUSED, message=reason)
        return row_id

    def record_llm_call(
        self,
        workflow_name: str | None,
        record: CallRecord,
        *,
        cost_usd: float | None,
        execution_id: int | None = None,
    ) -> int:
        """Remember one model call (what it was for, tokens, estimated cost); return its row id."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO llm_calls (workflow_name, execution_id, purpose, model, input_tokens, "
                "output_tokens, cost_usd, duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    workflow_name,
                    execution_id,
                    record.purpose,
                    record.model,
                    record.input_tokens,
                    record.output_tokens,
                    cost_usd,
                    record.duration_s,
                    _iso(utcnow()),
                ),
            )
            row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    def reap_interrupted(self) -> int:
        """Mark rows left 'running' by a process that no longer exists as 'interrupted'."""
        rows = self.conn.execute(
            "SELECT id, pid, started_at, run_token FROM executions WHERE status = ?",
            (RunStatus.RUNNING.value,),
        ).fetchall()
        dead = [
            (row_id, token)
            for row_id, pid, started, token in rows
            if pid is None or not processes.is_running(int(pid), datetime.fromisoformat(started))
        ]
        if dead:
            with self._write() as conn:
                conn.executemany(
                    "UPDATE executions SET status = ?, error_message = COALESCE(error_message, ?) "
                    "WHERE id = ? AND status = ?",
                    [
                        (
                            RunStatus.INTERRUPTED.value,
                            "the workflow process ended without recording a result",
                            row_id,
                            RunStatus.RUNNING.value,
                        )
                        for row_id, _ in dead
                    ],
                )
            if self._on_interrupted is not None:
                for _, token in dead:
                    if token:
                        self._on_interrupted(token)
        return len(dead)

    # -- reading ----------------------------------------------------------------------------
    def get(self, execution_id: int) -> ExecutionRecord:
        row = self.conn.execute(f"SELECT {COLUMNS} FROM executions WHERE id = ?", (execution_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no execution with id {execution_id}")
        return _record(row)

    def query(
        self,
        workflow_name: str | None = None,
        *,
        status: RunStatus | None = None,
        since: datetime | None = None,
        grep: str | None = None,
        limit: int | None = 50,
    ) -> list[ExecutionRecord]:
        """Newest first. ``grep`` searches output and error text, case-insensitively, as a substring."""
        self.reap_interrupted()
        where: list[str] = []
        args: list[Any] = []
        source = "executions"
        if grep:
            if len(grep) >= 3:
                # Trigram index: a quoted phrase matches the text anywhere, like grep -F -i.
                where.append("id IN (SELECT rowid FROM executions_fts WHERE executions_fts MATCH ?)")
                args.append('"' + grep.replace('"', '""') + '"')
            else:
                where.append(
                    "(stdout LIKE ? ESCAPE '\\' OR stderr LIKE ? ESCAPE '\\' "
                    "OR error_message LIKE ? ESCAPE '\\')"
                )
                pattern = "%" + grep.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                args.extend([pattern] * 3)
        if workflow_name is not None:
            where.append("workflow_name = ?")
            args.append(workflow_name)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if since is not None:
            where.append("started_at >= ?")
            args.append(_iso(since))
        sql = f"SELECT {COLUMNS} FROM {source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_record(row) for row in self.conn.execute(sql, args)]

    def get_stats(self, workflow_name: str | None = None, *, trend_window: int = 20) -> list[WorkflowStats]:
        """Statistics per workflow (one workflow, or every workflow with history)."""
        self.reap_interrupted()
        return compute_stats(self.conn, workflow_name, trend_window=trend_window)

    def llm_usage(self, workflow_name: str | None = None) -> dict[str, LlmUsage]:
        """Model calls, tokens and estimated cost per workflow (one workflow, or every one)."""
        return llm_usage(self.conn, workflow_name)

    def get_failure_patterns(self, workflow_name: str, *, limit: int = 200) -> list[FailurePattern]:
        """Recent failures grouped by failure class, most frequent first."""
        self.reap_interrupted()
        rows = self.conn.execute(
            f"SELECT {COLUMNS} FROM executions WHERE workflow_name = ? AND status IN (?, ?, ?) "
            "ORDER BY id DESC LIMIT ?",
            (workflow_name, *FAILED_STATUSES, limit),
        ).fetchall()
        groups: dict[str, FailurePattern] = {}
        for record in map(_record, rows):
            key = (record.failure_class or FailureClass.OTHER).value
            message = (
                record.error_message
                or _last_line(record.stderr)
                or _last_line(record.stdout)
                or record.status
            )
            pattern = groups.get(key)
            if pattern is None:
                groups[key] = FailurePattern(
                    pattern_type=key, count=1, last_seen=record.started_at, error_messages=[message]
                )
            else:
                pattern.count += 1
                if message not in pattern.error_messages and len(pattern.error_messages) < 5:
                    pattern.error_messages.append(message)
        return sorted(groups.values(), key=lambda p: (-p.count, p.pattern_type))


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""


def _record(row: tuple[Any, ...]) -> ExecutionRecord:
    (
        row_id,
        name,
        version,
        status,
        trigger,
        started,
        finished,
        duration,
        exit_code,
        stdout,
        stderr,
        error,
        failure_class,
        pid,
        log_path,
        sandbox,
    ) = row
    return ExecutionRecord(
        id=row_id,
        workflow_name=name,
        workflow_version=version,
        status=RunStatus(status) if status in RunStatus._value2member_map_ else RunStatus.FAILED,
        trigger=trigger or "manual",
        started_at=datetime.fromisoformat(started),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        duration=duration,
        exit_code=exit_code,
        stdout=stdout or "",
        stderr=stderr or "",
        error_message=error,
        failure_class=FailureClass(failure_class)
        if failure_class in FailureClass._value2member_map_
        else None,
        pid=pid,
        log_path=log_path,
        sandbox=sandbox,
    )
