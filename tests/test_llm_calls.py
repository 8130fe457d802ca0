"""Model calls in history: migration 6, recording, per-workflow usage, and tokens/cost in `workflow stats`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import Cli, ScriptMaker
from workflow_agent.agents.schemas import CallRecord
from workflow_agent.core.types import RunStatus
from workflow_agent.models import estimate_cost
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.migrations import MIGRATIONS, SCHEMA_VERSION, _statements
from workflow_agent.storage.stats import LlmUsage


def call(
    purpose: str = "generate", model: str = "claude-sonnet-5-5", tokens: tuple[int, int] = (1000, 200)
) -> CallRecord:
    return CallRecord(
        purpose=purpose, model=model, input_tokens=tokens[0], output_tokens=tokens[1], duration_s=1.5
    )


def test_version_5_database_gains_llm_calls(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:5]:
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    conn.execute(
        "INSERT INTO executions (workflow_name, status, started_at) VALUES ('old', 'success', '2025-01-01')"
    )
    conn.close()
    with HistoryStore(path) as db:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        columns = [row[1] for row in db.conn.execute("PRAGMA table_info(llm_calls)")]
        assert columns == [
            "id",
            "workflow_name",
            "execution_id",
            "purpose",
            "model",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "duration",
            "created_at",
        ]
        indexes = [row[1] for row in db.conn.execute("PRAGMA index_list(llm_calls)")]
        assert "idx_llm_calls_workflow" in indexes
        assert [r.workflow_name for r in db.query()] == ["old"]
        assert db.llm_usage() == {}


def test_record_and_sum_llm_calls(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "history.db") as db:
        run = db.start_execution("backup", version=1)
        first = db.record_llm_call("backup", call(), cost_usd=0.004)
        db.record_llm_call(
            "backup", call("analyze_failure", tokens=(500, 50)), cost_usd=0.001, execution_id=run
        )
        db.record_llm_call("backup", call("explain", model="llama3.2", tokens=(10, 5)), cost_usd=None)
        db.record_llm_call("report", call(tokens=(7, 3)), cost_usd=0.5)
        db.record_llm_call(None, call(tokens=(1, 1)), cost_usd=9.0)
        row = db.conn.execute(
            "SELECT workflow_name, execution_id, purpose, model, input_tokens, output_tokens, cost_usd, duration, "
            "created_at FROM llm_calls WHERE id = ?",
            (first,),
        ).fetchone()
        assert row[:8] == ("backup", None, "generate", "claude-sonnet-5-5", 1000, 200, 0.004, 1.5)
        assert row[8].startswith("20")
        linked = db.conn.execute(
            "SELECT execution_id FROM llm_calls WHERE purpose = 'analyze_failure'"
        ).fetchone()
        assert linked == (run,)
        usage = db.llm_usage()
        assert set(usage) == {"backup", "report"}, "calls without a workflow are left out"
        backup = usage["backup"]
        assert (backup.calls, backup.input_tokens, backup.output_tokens) == (3, 1510, 255)
        assert backup.cost_usd == pytest.approx(0.005), "unpriced calls count as zero"
        assert usage["report"] == LlmUsage(calls=1, input_tokens=7, output_tokens=3, cost_usd=0.5)
        assert list(db.llm_usage("report")) == ["report"]
        assert db.llm_usage("nobody") == {}
        assert usage["report"].to_dict()["calls"] == 1


def test_stats_carry_tokens_and_cost(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "history.db") as db:
        for name in ("a", "b"):
            row = db.start_execution(name, version=1)
            db.finish_execution(
                row, status=RunStatus.SUCCESS, exit_code=0, duration=0.1, stdout="", stderr=""
            )
        cost = estimate_cost("anthropic:claude-sonnet-5-5", 1000, 200)
        db.record_llm_call("a", call(), cost_usd=cost)
        db.record_llm_call("ghost", call(), cost_usd=1.0)  # taught, never run: not a stats row
        stats = {s.workflow_name: s for s in db.get_stats()}
        assert set(stats) == {"a", "b"}
        a, b = stats["a"], stats["b"]
        assert (a.llm_calls, a.input_tokens, a.output_tokens) == (1, 1000, 200)
        assert a.cost_usd == pytest.approx(0.004)
        assert (b.llm_calls, b.input_tokens, b.output_tokens, b.cost_usd) == (0, 0, 0, 0.0)
        assert a.to_dict()["cost_usd"] == pytest.approx(0.004)
        [only] = db.get_stats("a")
        assert only.llm_calls == 1


def test_workflow_stats_shows_tokens_and_cost(
    cli: Cli, script: ScriptMaker, workflow_home: Path, workdir: Path
) -> None:
    for name in ("cheap", "free"):
        assert cli("add", name, "--file", str(script(f"{name}.sh", "echo hi\n"))).exit_code == 0
        assert cli("run", name, "--quiet", "--sandbox", "none").exit_code == 0
    with HistoryStore(workflow_home / "history.db") as db:
        db.record_llm_call("cheap", call(tokens=(12_000, 3_400)), cost_usd=0.075)
    table = cli("stats")
    assert table.exit_code == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert "TOKENS" in header and "COST" in header
    [cheap] = [r for r in rows if r.startswith("cheap")]
    [free] = [r for r in rows if r.startswith("free")]
    assert "15.4k" in cheap and "$0.075" in cheap
    assert free.split()[-2:] == ["-", "-"]
    data = json.loads(cli("stats", "cheap", "--json").stdout)
    assert (data["llm_calls"], data["input_tokens"], data["output_tokens"]) == (1, 12_000, 3_400)
    assert data["cost_usd"] == pytest.approx(0.075)


def test_token_counts_read_well() -> None:
    from workflow_agent.commands.runs import _tokens

    assert [_tokens(n) for n in (0, 999, 1000, 15_400, 2_500_000)] == ["0", "999", "1.0k", "15.4k", "2.5M"]
