"""Numbered schema migrations for history.db, tracked with PRAGMA user_version.

Migration 1 is the seed's original ``executions`` table, so a database written by the seed
upgrades in place. Never edit a published migration: add the next one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: the seed's table.
    """
    CREATE TABLE IF NOT EXISTS executions (
        id INTEGER PRIMARY KEY,
        workflow_name TEXT,
        status TEXT,
        started_at TEXT,
        finished_at TEXT,
        duration REAL,
        exit_code INTEGER,
        stdout TEXT,
        stderr TEXT,
        error_message TEXT
    );
    """,
    # 2: what a run needs to be explained later, and indexes for history and stats.
    """
    ALTER TABLE executions ADD COLUMN workflow_version INTEGER;
    ALTER TABLE executions ADD COLUMN "trigger" TEXT NOT NULL DEFAULT 'manual';
    ALTER TABLE executions ADD COLUMN failure_class TEXT;
    ALTER TABLE executions ADD COLUMN pid INTEGER;
    ALTER TABLE executions ADD COLUMN log_path TEXT;
    ALTER TABLE executions ADD COLUMN run_token TEXT;
    CREATE INDEX IF NOT EXISTS idx_executions_workflow_id ON executions (workflow_name, id);
    CREATE INDEX IF NOT EXISTS idx_executions_status ON executions (status);
    CREATE INDEX IF NOT EXISTS idx_executions_started ON executions (started_at);
    """,
    # 3: full-text search over output and errors. Trigram tokens make --grep match substrings,
    # as grep does, and case-insensitively.
    """
    CREATE VIRTUAL TABLE executions_fts USING fts5(
        stdout, stderr, error_message,
        content='executions', content_rowid='id', tokenize='trigram'
    );
    INSERT INTO executions_fts (rowid, stdout, stderr, error_message)
        SELECT id, stdout, stderr, error_message FROM executions;
    CREATE TRIGGER executions_fts_insert AFTER INSERT ON executions BEGIN
        INSERT INTO executions_fts (rowid, stdout, stderr, error_message)
        VALUES (new.id, new.stdout, new.stderr, new.error_message);
    END;
    CREATE TRIGGER executions_fts_delete AFTER DELETE ON executions BEGIN
        INSERT INTO executions_fts (executions_fts, rowid, stdout, stderr, error_message)
        VALUES ('delete', old.id, old.stdout, old.stderr, old.error_message);
    END;
    CREATE TRIGGER executions_fts_update AFTER UPDATE OF stdout, stderr, error_message ON executions BEGIN
        INSERT INTO executions_fts (executions_fts, rowid, stdout, stderr, error_message)
        VALUES ('delete', old.id, old.stdout, old.stderr, old.error_message);
        INSERT INTO executions_fts (rowid, stdout, stderr, error_message)
        VALUES (new.id, new.stdout, new.stderr, new.error_message);
    END;
    """,
    # 4: running totals per workflow and status, kept by triggers, so `stats` over every workflow
    # reads a few rows instead of scanning millions.
    """
    CREATE TABLE run_totals (
        workflow_name TEXT NOT NULL,
        status TEXT NOT NULL,
        runs INTEGER NOT NULL,
        total_duration REAL NOT NULL,
        timed_runs INTEGER NOT NULL,
        PRIMARY KEY (workflow_name, status)
    ) WITHOUT ROWID;
    INSERT INTO run_totals (workflow_name, status, runs, total_duration, timed_runs)
        SELECT workflow_name, status, count(*), coalesce(sum(duration), 0), count(duration)
        FROM executions WHERE workflow_name IS NOT NULL AND status IS NOT NULL
        GROUP BY workflow_name, status;
    CREATE TRIGGER run_totals_insert AFTER INSERT ON executions BEGIN
        INSERT INTO run_totals (workflow_name, status, runs, total_duration, timed_runs)
        VALUES (new.workflow_name, new.status, 1, coalesce(new.duration, 0), new.duration IS NOT NULL)
        ON CONFLICT (workflow_name, status) DO UPDATE SET
            runs = runs + 1,
            total_duration = total_duration + excluded.total_duration,
            timed_runs = timed_runs + excluded.timed_runs;
    END;
    CREATE TRIGGER run_totals_delete AFTER DELETE ON executions BEGIN
        UPDATE run_totals SET
            runs = runs - 1,
            total_duration = total_duration - coalesce(old.duration, 0),
            timed_runs = timed_runs - (old.duration IS NOT NULL)
        WHERE workflow_name = old.workflow_name AND status = old.status;
    END;
    CREATE TRIGGER run_totals_update AFTER UPDATE OF workflow_name, status, duration ON executions BEGIN
        UPDATE run_totals SET
            runs = runs - 1,
            total_duration = total_duration - coalesce(old.duration, 0),
            timed_runs = timed_runs - (old.duration IS NOT NULL)
        WHERE workflow_name = old.workflow_name AND status = old.status;
        INSERT INTO run_totals (workflow_name, status, runs, total_duration, timed_runs)
        VALUES (new.workflow_name, new.status, 1, coalesce(new.duration, 0), new.duration IS NOT NULL)
        ON CONFLICT (workflow_name, status) DO UPDATE SET
            runs = runs + 1,
            total_duration = total_duration + excluded.total_duration,
            timed_runs = timed_runs + excluded.timed_runs;
    END;
    """,
    # 5: which isolation a run actually had, so history says honestly what protected it.
    """
    ALTER TABLE executions ADD COLUMN sandbox TEXT;
    """,
    # 6: every model call (teach, improve, explain, ...), so stats can say what a workflow cost.
    """
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        workflow_name TEXT,
        execution_id INTEGER,
        purpose TEXT,
        model TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cost_usd REAL,
        duration REAL,
        created_at TEXT
    );
    CREATE INDEX idx_llm_calls_workflow ON llm_calls (workflow_name);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a migration into statements; sqlite3.complete_statement keeps trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; return the version it started at.

    Runs under BEGIN IMMEDIATE so two processes opening a new database at once cannot both
    apply the same migration.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if start > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            return start
        for number in range(start + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return start
