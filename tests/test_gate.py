"""The safety gate through the real CLI: deny refuses (exit 3), ask needs a yes, approvals stick."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, ScriptMaker

DENIED = 'echo cleaning\nrm -rf "$HOME"/*\n'


def add(cli: Cli, script: ScriptMaker, name: str, code: str) -> None:
    result = cli("add", name, "--file", str(script(f"{name}.sh", code)))
    assert result.exit_code == 0, result.stderr


def history(cli: Cli) -> list[dict[str, object]]:
    return json.loads(cli("history", "--json").stdout)  # type: ignore[no-any-return]


def test_check_reports_findings_and_exit_codes(cli: Cli, script: ScriptMaker) -> None:
    add(cli, script, "bad", DENIED)
    add(cli, script, "fine", "echo hello\n")
    denied = cli("check", "bad")
    assert denied.exit_code == 3
    assert "DENY" in denied.stdout
    assert "2:8" in denied.stdout
    data = json.loads(cli("check", "bad", "--json").stdout)
    assert data["decision"] == "deny"
    assert data["findings"][0]["line"] == 2
    allowed = cli("check", "fine")
    assert allowed.exit_code == 0
    assert "ALLOW" in allowed.stdout
    by_file = cli("check", "--file", str(script("x.py", "import shutil\nshutil.rmtree('/')\n")))
    assert by_file.exit_code == 3
    assert cli("check").exit_code == 2
    assert cli("check", "bad", "--file", "x").exit_code == 2


def test_denied_run_is_refused_and_recorded(cli: Cli, script: ScriptMaker, workdir: Path) -> None:
    add(cli, script, "bad", DENIED)
    result = cli("run", "bad")
    assert result.exit_code == 3
    assert "refused to run bad" in result.stderr
    assert "line 2" in result.stderr
    [row] = history(cli)
    assert row["status"] == "refused"
    assert "denies it" in str(row["error_message"])
    no_input = cli("run", "bad", "--force", "--no-input")
    assert no_input.exit_code == 3
    assert "typed confirmation" in no_input.stderr
    wrong = cli("run", "bad", "--force", input="nope\n")
    assert wrong.exit_code == 3
    assert "did not match" in wrong.stderr
    assert len(history(cli)) == 3


def test_forced_run_with_typed_name_runs(
    cli: Cli, script: ScriptMaker, workdir: Path, tmp_path: Path
) -> None:
    fake_home = tmp_path / "fakehome"
    fake_home.mkdir()
    add(cli, script, "bad", DENIED)
    result = cli("run", "bad", "--force", "-q", input="bad\n", env={"HOME": str(fake_home)})
    assert result.exit_code == 0, result.stderr
    assert history(cli)[0]["status"] == "success"


def test_ask_needs_approval_once(cli: Cli, script: ScriptMaker, workdir: Path) -> None:
    # A command name assembled from variables cannot be shown safe: the gate asks.
    add(cli, script, "ask", "a=ec; b=ho; $a$b hi\n")
    verdict = json.loads(cli("check", "ask", "--json").stdout)
    assert verdict["decision"] == "ask", verdict
    refused = cli("run", "ask", "--no-input")
    assert refused.exit_code == 3
    assert "needs your approval" in refused.stderr
    declined = cli("run", "ask", input="n\n")
    assert declined.exit_code == 3
    assert "not approved" in declined.stderr
    approved = cli("run", "ask", "-q", input="y\n")
    assert approved.exit_code == 0, approved.stderr
    again = cli("run", "ask", "-q", "--no-input")
    assert again.exit_code == 0, "an approved version does not ask again"
    assert cli("edit", "ask", "--file", str(script("v2.sh", "a=ec; b=ho; $a$b bye\n"))).exit_code == 0
    changed = cli("run", "ask", "--no-input")
    assert changed.exit_code == 3, "new code needs a new approval"
    yes = cli("run", "ask", "-q", "--yes")
    assert yes.exit_code == 0
    statuses = [r["status"] for r in history(cli)]
    assert statuses.count("refused") == 3
    assert statuses.count("success") == 3


def test_verdict_is_cached_per_code_and_reused_without_the_engine(
    cli: Cli, script: ScriptMaker, workdir: Path, workflow_home: Path
) -> None:
    import subprocess
    import sys

    add(cli, script, "fine", "echo hello\n")
    assert cli("run", "fine", "-q").exit_code == 0
    cache = json.loads((workflow_home / "fine" / ".verdict.json").read_text())
    assert cache["verdict"]["decision"] == "allow"
    code = (
        "import sys\nfrom workflow_agent.cli import main\n"
        "code = main(['run', 'fine', '-q'])\n"
        "print('ENGINE', 'workflow_agent.execution.safety.engine' in sys.modules, code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "ENGINE False 0" in proc.stdout, proc.stdout + proc.stderr
    # New code means a new verdict: the cached one is not reused.
    assert cli("edit", "fine", "--file", str(script("bad.sh", DENIED))).exit_code == 0
    assert cli("run", "fine").exit_code == 3
    assert json.loads((workflow_home / "fine" / ".verdict.json").read_text())["verdict"]["decision"] == "deny"
    (workflow_home / "fine" / ".verdict.json").write_text("{not json")
    assert cli("run", "fine").exit_code == 3, "a damaged cache is ignored"
