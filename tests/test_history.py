from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workflow_agent.core.errors import NotFoundError, StorageError
from workflow_agent.core.types import FailureClass, RunStatus
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.migrations import SCHEMA_VERSION, _statements
from workflow_agent.storage.processes import is_running

SEED_SCHEMA = """
CREATE TABLE executions (
    id INTEGER PRIMARY KEY, workflow_name TEXT, status TEXT, started_at TEXT, finished_at TEXT,
    duration REAL, exit_code INTEGER, stdout TEXT, stderr TEXT, error_message TEXT
)
"""


@pytest.fixture
def db(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "history.db")


def finish(
    db: HistoryStore,
    name: str,
    status: RunStatus,
    duration: float,
    *,
    stderr: str = "",
    stdout: str = "",
    failure: FailureClass | None = None,
) -> int:
    row = db.start_execution(name, version=1)
    db.finish_execution(
        row,
        status=status,
        exit_code=0 if status is RunStatus.SUCCESS else 1,
        duration=duration,
        stdout=stdout,
        stderr=stderr,
        failure_class=failure,
        error_message=None if status is RunStatus.SUCCESS else "exited with code 1",
    )
    return row


def test_seed_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute(SEED_SCHEMA)
    conn.execute(
        "INSERT INTO executions (workflow_name, status, started_at, finished_at, duration, exit_code, stdout, stderr,"
        " error_message) VALUES ('old', 'failed', '2025-01-02T03:04:05', '2025-01-02T03:04:06', 1.0, 1, 'out',"
        " 'connection refused by upstream', 'boom')"
    )
    conn.commit()
    conn.close()
    with HistoryStore(path) as db:
        version = db.conn.execute("PRAGMA user_version").fetchone()[0]
        assert version == SCHEMA_VERSION
        [old] = db.query("old")
        assert old.status is RunStatus.FAILED and old.stderr == "connection refused by upstream"
        assert old.trigger == "manual" and old.workflow_version is None
        assert [r.id for r in db.query(grep="REFUSED")] == [old.id], (
            "old rows are searchable after the upgrade"
        )
        mode = db.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    # Opening again is a no-op.
    with HistoryStore(path) as db:
        assert len(db.query()) == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    HistoryStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StorageError, match="newer version"):
        HistoryStore(path)


def test_garbage_file_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open history database"):
        HistoryStore(path)


def test_statement_splitter_keeps_trigger_bodies() -> None:
    parts = _statements(
        "CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n SELECT 1;\n SELECT 2;\nEND;\nSELECT 3"
    )
    assert len(parts) == 3
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")


def test_running_row_then_finished(db: HistoryStore) -> None:
    row = db.start_execution("w", version=3, trigger="schedule")
    running = db.get(row)
    assert (
        running.status is RunStatus.RUNNING
        and running.trigger == "schedule"
        and running.workflow_version == 3
    )
    done = db.finish_execution(
        row,
        status=RunStatus.FAILED,
        exit_code=2,
        duration=0.5,
        stdout="o",
        stderr="e",
        error_message="exited with code 2",
        failure_class=FailureClass.NETWORK,
    )
    assert (
        done.failure_class is FailureClass.NETWORK and done.finished_at is not None and done.duration == 0.5
    )
    with pytest.raises(NotFoundError):
        db.get(row + 100)


def test_dead_running_row_becomes_interrupted(db: HistoryStore) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    row = db.start_execution("w", version=1, pid=proc.pid)
    alive = db.start_execution("w", version=1)  # this process: still alive
    assert db.reap_interrupted() == 1
    assert db.get(row).status is RunStatus.INTERRUPTED
    assert "without recording a result" in (db.get(row).error_message or "")
    assert db.get(alive).status is RunStatus.RUNNING


def test_pid_reuse_is_not_mistaken_for_the_run() -> None:
    long_ago = datetime.now(UTC) - timedelta(days=1)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not is_running(proc.pid, long_ago), "a process younger than the row cannot have written it"
        assert is_running(proc.pid, datetime.now(UTC))
    finally:
        proc.kill()
        proc.wait()


def test_query_filters(db: HistoryStore) -> None:
    a = finish(db, "alpha", RunStatus.SUCCESS, 1.0, stdout="all good")
    b = finish(db, "alpha", RunStatus.FAILED, 2.0, stderr="curl: (7) Failed to connect: Connection refused")
    c = finish(db, "beta", RunStatus.TIMEOUT, 3.0, stderr="still waiting")
    assert [r.id for r in db.query()] == [c, b, a]
    assert [r.id for r in db.query("alpha")] == [b, a]
    assert [r.id for r in db.query(status=RunStatus.TIMEOUT)] == [c]
    assert [r.id for r in db.query(limit=1)] == [c]
    assert [r.id for r in db.query(grep="connection REFUSED")] == [b]
    assert [r.id for r in db.query(grep="ood")] == [a], "trigram search matches inside words"
    assert [r.id for r in db.query(grep="(7")] == [b], "two-character searches still work"
    assert db.query(grep='quote"d') == []
    assert [r.id for r in db.query(grep="%")] == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert db.query(since=future) == []
    assert len(db.query(since=datetime.now(UTC) - timedelta(hours=1))) == 3


def test_grep_sees_finished_output_not_stale_text(db: HistoryStore) -> None:
    row = db.start_execution("w", version=1)
    db.finish_execution(
        row, status=RunStatus.SUCCESS, exit_code=0, duration=1, stdout="needle here", stderr=""
    )
    assert [r.id for r in db.query(grep="needle")] == [row]
    db.conn.execute("UPDATE executions SET stdout = 'replaced' WHERE id = ?", (row,))
    assert db.query(grep="needle") == []
    db.conn.execute("DELETE FROM executions WHERE id = ?", (row,))
    assert db.query(grep="replaced") == []


def test_stats(db: HistoryStore) -> None:
    durations = [1.0, 2.0, 3.0, 4.0, 100.0]
    for d in durations[:-1]:
        finish(db, "w", RunStatus.SUCCESS, d)
    failed = finish(db, "w", RunStatus.FAILED, durations[-1], failure=FailureClass.NETWORK)
    db.record_refusal("w", version=1, reason="deny: rm -rf /")
    [stats] = db.get_stats("w", trend_window=3)
    assert stats.runs == 6 and stats.successes == 4 and stats.failures == 1 and stats.refused == 1
    assert stats.success_rate == pytest.approx(4 / 5)
    assert stats.mean_duration == pytest.approx(sum(durations) / 5), "a refusal never ran: no duration"
    assert stats.p50_duration == 3.0
    assert stats.p95_duration == 100.0
    assert stats.last_failure is not None and stats.last_failure.id == failed
    assert stats.last_failure.failure_class == "network"
    assert stats.trend == ["success", "failed", "refused"]
    assert stats.trend_success_rate == pytest.approx(1 / 2)
    assert stats.previous_success_rate == 1.0
    assert db.get_stats("nothing") == []
    finish(db, "other", RunStatus.SUCCESS, 1.0)
    assert [s.workflow_name for s in db.get_stats()] == ["other", "w"]


def test_failure_patterns_group_by_class(db: HistoryStore) -> None:
    for _ in range(3):
        finish(
            db,
            "w",
            RunStatus.FAILED,
            1,
            stderr="curl: (6) Could not resolve host: example.invalid",
            failure=FailureClass.NETWORK,
        )
    finish(db, "w", RunStatus.FAILED, 1, stderr="Permission denied", failure=FailureClass.PERMISSION)
    finish(db, "w", RunStatus.SUCCESS, 1)
    patterns = db.get_failure_patterns("w")
    assert [(p.pattern_type, p.count) for p in patterns] == [("network", 3), ("permission", 1)]
    assert patterns[0].error_messages == ["exited with code 1"]


def test_run_totals_follow_every_change(db: HistoryStore) -> None:
    rows = [
        finish(db, f"w{i % 3}", RunStatus.SUCCESS if i % 4 else RunStatus.FAILED, float(i)) for i in range(12)
    ]
    running = db.start_execution("w1", version=1)
    db.conn.execute("UPDATE executions SET workflow_name = 'w2', duration = 99 WHERE id = ?", (rows[0],))
    db.conn.execute("DELETE FROM executions WHERE id IN (?, ?)", (rows[1], rows[5]))
    expected = db.conn.execute(
        "SELECT workflow_name, status, count(*), coalesce(sum(duration), 0), count(duration) FROM executions "
        "GROUP BY workflow_name, status ORDER BY 1, 2"
    ).fetchall()
    totals = db.conn.execute(
        "SELECT workflow_name, status, runs, total_duration, timed_runs FROM run_totals WHERE runs > 0 ORDER BY 1, 2"
    ).fetchall()
    assert totals == expected
    assert any(r[1] == "running" for r in totals), running


def test_seed_rows_are_counted_after_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute(SEED_SCHEMA)
    conn.executemany(
        "INSERT INTO executions (workflow_name, status, started_at, duration) VALUES (?, ?, '2025-01-01T00:00:00', ?)",
        [("old", "success", 1.0), ("old", "success", 3.0), ("old", "failed", 2.0)],
    )
    conn.commit()
    conn.close()
    with HistoryStore(path) as db:
        [stats] = db.get_stats("old")
    assert (stats.runs, stats.successes, stats.failures) == (3, 2, 1)
    assert stats.mean_duration == pytest.approx(2.0)
    assert stats.p50_duration == 2.0
    assert stats.duration_window == 3
