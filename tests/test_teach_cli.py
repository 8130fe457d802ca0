"""teach, improve and explain through the real CLI: the scripted `test` model, and the real Anthropic
client against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli, ScriptMaker
from fakes.anthropic_server import FakeAnthropic
from fakes.openai_server import FakeOpenAI
from workflow_agent.storage.history import HistoryStore

SUBMIT = "submit_workflow"


def stats(cli: Cli, name: str) -> dict[str, object]:
    return json.loads(cli("stats", name, "--json").stdout)  # type: ignore[no-any-return]


def test_teach_with_the_test_model_saves_runs_and_records_the_call(cli: Cli, workdir: Path) -> None:
    taught = cli("teach", "hello", "say hello to the team", "--model", "test", "--yes", "--json")
    assert taught.exit_code == 0, taught.stderr
    data = json.loads(taught.stdout)
    assert data["version"] == 1
    assert data["verdict"]["decision"] == "allow"
    ran = cli("run", "hello", "-q", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert "say hello to the team" in json.loads(ran.stdout)["stdout"]
    usage = stats(cli, "hello")
    assert usage["llm_calls"] >= 1  # type: ignore[operator]
    shown = json.loads(cli("show", "hello", "--json").stdout)
    assert "Taught from: say hello to the team" in shown["memory"]


def test_interactive_teach_regenerate_then_approve(cli: Cli, workdir: Path, workflow_home: Path) -> None:
    result = cli("teach", "greet", "greet the user", "--model", "test", input="r\nmake it shorter\na\n")
    assert result.exit_code == 0, result.stderr
    assert "What should change?" in result.stderr
    assert "safety check" in result.stderr
    assert json.loads(cli("show", "greet", "--json").stdout)["version"] == 1
    with HistoryStore(workflow_home / "history.db") as history:
        usage = history.llm_usage("greet")["greet"]
    assert usage.calls == 2, "the first draft and the regenerated one"


def test_interactive_teach_cancel_saves_nothing(cli: Cli, workdir: Path) -> None:
    result = cli("teach", "greet", "greet the user", "--model", "test", input="c\n")
    assert result.exit_code == 130
    assert json.loads(cli("list", "--json").stdout) == []


def test_teach_refuses_an_existing_name_before_calling_a_model(cli: Cli, script: ScriptMaker) -> None:
    assert cli("add", "taken", "--file", str(script("t.sh", "echo\n"))).exit_code == 0
    result = cli("teach", "taken", "anything", "--model", "test", "--yes")
    assert result.exit_code == 2
    assert "already exists" in result.stderr


def test_no_key_explains_how_to_set_one_up(cli: Cli) -> None:
    result = cli("teach", "x", "do a thing", "--yes")
    assert result.exit_code == 4
    assert "ANTHROPIC_API_KEY" in result.stderr
    assert "ollama" in result.stderr


@pytest.mark.usefixtures("allow_model_requests")
def test_teach_through_the_real_anthropic_client(
    cli: Cli, workdir: Path, fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str]
) -> None:
    fake_anthropic.overloaded()
    fake_anthropic.tool_use(
        SUBMIT,
        {
            "language": "bash",
            "code": 'set -euo pipefail\necho "files: $(ls | wc -l)"\n',
            "summary": "Counts the files in the working directory.",
            "permissions": {"network": False},
            "params": [],
        },
        input_tokens=900,
        output_tokens=120,
    )
    result = cli("teach", "count", "count the files here", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"].startswith("anthropic:")
    requests = fake_anthropic.requests_to("/v1/messages")
    assert len(requests) == 2, "the overloaded answer was retried"
    body = requests[-1].body
    assert "count the files here" in json.dumps(body["messages"])
    ran = cli("run", "count", "-q", "--json")
    assert json.loads(ran.stdout)["stdout"].startswith("files: ")
    usage = stats(cli, "count")
    assert usage["input_tokens"] == 900
    assert usage["output_tokens"] == 120


@pytest.mark.usefixtures("allow_model_requests")
def test_refused_key_exits_4_without_saving(
    cli: Cli, fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str]
) -> None:
    fake_anthropic.error(401, "authentication_error", "invalid x-api-key")
    result = cli("teach", "count", "count the files here", "--yes")
    assert result.exit_code == 4
    assert "refused" in result.stderr
    assert anthropic_env["ANTHROPIC_API_KEY"] not in result.stderr
    assert json.loads(cli("list", "--json").stdout) == []


def test_improve_from_failures_with_a_trial_then_rollback(
    cli: Cli, script: ScriptMaker, workdir: Path
) -> None:
    assert (
        cli(
            "add", "flaky", "--file", str(script("f.sh", "echo 'Connection refused' >&2; exit 7\n"))
        ).exit_code
        == 0
    )
    for _ in range(2):
        assert cli("run", "flaky", "-q").exit_code == 1
    result = cli("improve", "flaky", "--model", "test", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["saved_version"] == 2
    assert data["before"]["status"] == "failed"
    assert data["after"]["status"] == "success"
    assert "network" in data["reasons"]
    trials = json.loads(cli("history", "--json").stdout)
    assert any(r["trigger"] == "trial" for r in trials)
    assert cli("rollback", "flaky", "1").exit_code == 0
    assert "Connection refused" in json.loads(cli("show", "flaky", "--json").stdout)["code"]


def test_improve_without_failures_or_feedback_is_explained(cli: Cli, script: ScriptMaker) -> None:
    assert cli("add", "fine", "--file", str(script("ok.sh", "echo ok\n"))).exit_code == 0
    result = cli("improve", "fine", "--model", "test", "--no-input")
    assert result.exit_code == 2
    assert "no failed runs" in result.stderr
    with_feedback = cli("improve", "fine", "--model", "test", "--no-input", "--no-trial", "-f", "print more")
    assert with_feedback.exit_code == 0, with_feedback.stderr
    assert "Nothing was saved" in with_feedback.stdout


def test_explain(cli: Cli, script: ScriptMaker) -> None:
    assert cli("add", "fine", "--file", str(script("ok.sh", "echo ok\n"))).exit_code == 0
    result = cli("explain", "fine", "--model", "test", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["explanation"]


def test_interactive_teach_edit_in_editor_then_approve(cli: Cli, script: ScriptMaker, workdir: Path) -> None:
    editor = script("editor.sh", "#!/bin/sh\nprintf '# reviewed by a person\\n' >> \"$1\"\n")
    editor.chmod(0o755)
    result = cli(
        "teach", "greet", "greet the user", "--model", "test", input="e\na\n", env={"EDITOR": str(editor)}
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli("show", "greet", "--json").stdout)["code"].endswith("# reviewed by a person\n")


def test_a_failed_run_at_a_terminal_offers_a_fix(
    script: ScriptMaker, workdir: Path, workflow_home: Path
) -> None:
    import os
    import pty
    import subprocess
    import sys
    import time

    path = script("f.sh", "echo 'curl: (7) Failed to connect: Connection refused' >&2; exit 7\n")
    subprocess.run([sys.executable, "-m", "workflow_agent", "add", "flaky", "--file", str(path)], check=True)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflow_agent", "run", "flaky", "--model", "test"],
        stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    output = b""
    answered: set[bytes] = set()
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        output += chunk
        for question in (b"propose a fix?", b"Save the fix as a new version?"):
            if question in output and question not in answered:
                answered.add(question)
                os.write(master, b"y\n")
    proc.wait(timeout=30)
    os.close(master)
    text = output.decode(errors="replace")
    assert proc.returncode == 1, text
    assert "network" in text
    assert "Saved version 2" in text, text
    store_code = (workflow_home / "flaky" / "workflow.sh").read_text()
    assert "Connection refused" not in store_code
    assert "Run " in (workflow_home / "flaky" / "CLAUDE.md").read_text()


GOOD_ANSWER = {
    "language": "bash",
    "code": "set -euo pipefail\necho ready\n",
    "summary": "Says it is ready.",
    "permissions": {"network": False},
    "params": [],
}


@pytest.mark.usefixtures("allow_model_requests")
def test_malformed_answer_is_repaired_through_the_real_client(
    cli: Cli, workdir: Path, fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str]
) -> None:
    fake_anthropic.tool_use(SUBMIT, {"language": "bash", "summary": "no code at all"})
    fake_anthropic.tool_use(SUBMIT, GOOD_ANSWER)
    result = cli("teach", "ready", "say you are ready", "--yes")
    assert result.exit_code == 0, result.stderr
    assert len(fake_anthropic.requests_to("/v1/messages")) == 2
    assert json.loads(cli("show", "ready", "--json").stdout)["code"] == GOOD_ANSWER["code"]


@pytest.mark.usefixtures("allow_model_requests")
def test_teach_through_the_real_openai_client(
    cli: Cli, workdir: Path, fake_openai: FakeOpenAI, openai_env: dict[str, str], workflow_home: Path
) -> None:
    fake_openai.tool_call(SUBMIT, GOOD_ANSWER)
    result = cli("teach", "ready", "say you are ready", "--model", "openai:gpt-4o-mini", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "openai:gpt-4o-mini"
    [request] = fake_openai.requests_to("/v1/chat/completions")
    assert "say you are ready" in json.dumps(request.body["messages"])
    with HistoryStore(workflow_home / "history.db") as history:
        assert history.llm_usage("ready")["ready"].calls == 1


@pytest.mark.usefixtures("allow_model_requests")
def test_a_proposed_unix_socket_grant_is_shown_before_approval(
    cli: Cli, workdir: Path, fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], workflow_home: Path
) -> None:
    answer = {**GOOD_ANSWER, "permissions": {"unix_sockets": True}}
    fake_anthropic.tool_use(SUBMIT, answer)
    result = cli("teach", "prune", "prune unused docker images", input="c\n")
    assert result.exit_code == 130
    assert "unix sockets: yes" in result.stderr, "the grant is named before the person approves"
    fake_anthropic.tool_use(SUBMIT, answer)
    assert cli("teach", "prune", "prune unused docker images", "--yes").exit_code == 0
    assert "unix_sockets: true" in (workflow_home / "prune" / "config.yaml").read_text()
