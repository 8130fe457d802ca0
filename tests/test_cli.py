"""The real CLI, in-process through main(argv), against a temporary WORKFLOW_HOME."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from conftest import Cli, ScriptMaker


def add(cli: Cli, script: ScriptMaker, name: str, text: str, *extra: str, filename: str = "s.sh") -> None:
    result = cli("add", name, "--file", str(script(filename, text)), *extra)
    assert result.exit_code == 0, result.stderr


def test_help_lists_every_command(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    commands = (
        "add teach improve explain models list show edit delete run test check history stats versions diff"
    )
    for command in [*commands.split(), "rollback", "doctor"]:
        assert f"  {command} " in result.stdout, command


def test_version_flag(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("workflow 0.")


def test_add_list_show(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    add(cli, script, "greet", "echo hi\n", "-d", "say hi", "--timeout", "12", "--env", "WHO=world")
    add(cli, script, "pyjob", "print('x')\n", filename="job.py")
    listed = cli("list")
    assert "greet" in listed.stdout
    assert "say hi" in listed.stdout
    assert "never" in listed.stdout
    data = json.loads(cli("list", "--json").stdout)
    assert [(w["name"], w["language"]) for w in data] == [("greet", "bash"), ("pyjob", "python")]
    shown = json.loads(cli("show", "greet", "--json").stdout)
    assert shown["timeout"] == 12
    assert shown["env_vars"] == {"WHO": "world"}
    assert shown["code"] == "echo hi\n"
    assert "say hi" in shown["memory"]
    text = cli("show", "greet").stdout
    assert "echo hi" in text
    assert "12s" in text
    mode = (workflow_home / "greet" / "workflow.sh").stat().st_mode
    assert mode & stat.S_IXUSR


def test_add_from_stdin_and_language_flag(cli: Cli) -> None:
    result = cli("add", "piped", "-", "--language", "python", input="print('from stdin')\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli("show", "piped", "--json").stdout)["language"] == "python"
    result = cli("add", "piped2", "--file", "-", input="echo yes\n")
    assert result.exit_code == 0, result.stderr


def test_add_errors_exit_2_with_clear_messages(cli: Cli, script: ScriptMaker) -> None:
    cases = [
        (("add", "Bad/Name", "--file", str(script("a.sh", "echo\n"))), "invalid workflow name"),
        (("add", "x", "--file", "/no/such/file.sh"), "no such file"),
        (("add", "x"), "no script given"),
        (("add", "x", "--file", str(script("e.sh", "  \n"))), "empty"),
        (("add", "x", "--file", str(script("b.sh", "if then fi\n"))), "bash syntax error"),
        (("add", "x", "--file", str(script("c.py", "def (:\n"))), "python syntax error: line 1"),
        (("add", "x", "--file", str(script("d.sh", "echo\n")), "--language", "ruby"), "unknown language"),
        (("add", "x", "--file", str(script("f.sh", "echo\n")), "--env", "NOEQUALS"), "not KEY=VALUE"),
        (("add", "x", "nonsense"), "unexpected argument"),
        (("add", "x", "-", "--file", str(script("g.sh", "echo\n"))), "either --file or '-'"),
        (("add", "x", "--file", str(script.folder)), "is a directory"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert json.loads(cli("list", "--json").stdout) == []
    add(cli, script, "x", "echo\n")
    result = cli("add", "x", "--file", str(script("h.sh", "echo\n")))
    assert result.exit_code == 2
    assert "already exists" in result.stderr


def test_not_utf8_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bin.sh"
    path.write_bytes(b"\xff\xfe\x00garbage")
    result = cli("add", "x", "--file", str(path))
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr


def test_unknown_workflow_and_bad_flags(cli: Cli) -> None:
    for args in (("show", "ghost"), ("run", "ghost"), ("versions", "ghost"), ("delete", "ghost", "--yes")):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "no workflow named 'ghost'" in result.stderr
    result = cli("history", "--limit", "0")
    assert result.exit_code == 2
    result = cli("frobnicate")
    assert result.exit_code == 2


def test_edit_with_file_makes_versions_then_diff_and_rollback(cli: Cli, script: ScriptMaker) -> None:
    add(cli, script, "w", "echo one\n")
    assert cli("edit", "w", "--file", str(script("n.sh", "echo two\n"))).exit_code == 0
    same = cli("edit", "w", "--file", str(script("n2.sh", "echo two\n")))
    assert same.exit_code == 0
    assert "No changes" in same.stderr
    bad = cli("edit", "w", "--file", str(script("n3.sh", "fi fi\n")))
    assert bad.exit_code == 2
    versions = json.loads(cli("versions", "w", "--json").stdout)
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    diff = json.loads(cli("diff", "w", "--json").stdout)
    assert (diff["from"], diff["to"]) == (1, 2)
    assert "-echo one" in diff["diff"]
    assert "+echo two" in diff["diff"]
    assert "+echo two" in cli("diff", "w", "1", "2").stdout
    assert "same code" in cli("diff", "w", "2", "2").stdout
    rolled = cli("rollback", "w", "1")
    assert rolled.exit_code == 0
    assert "saved as version 3" in rolled.stdout
    assert json.loads(cli("show", "w", "--json").stdout)["code"] == "echo one\n"
    assert cli("rollback", "w", "9").exit_code == 2
    versions_text = cli("versions", "w").stdout
    assert "current" in versions_text


def test_diff_with_single_version_is_explained(cli: Cli, script: ScriptMaker) -> None:
    add(cli, script, "w", "echo one\n")
    result = cli("diff", "w")
    assert result.exit_code == 2
    assert "nothing to compare" in result.stderr


def test_edit_in_editor(cli: Cli, script: ScriptMaker, tmp_path: Path) -> None:
    add(cli, script, "w", "echo one\n")
    editor = script("editor.sh", "#!/bin/sh\nsed -i 's/one/edited/' \"$1\"\n")
    editor.chmod(0o755)
    result = cli("edit", "w", env={"EDITOR": str(editor), "VISUAL": ""})
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli("show", "w", "--json").stdout)["code"] == "echo edited\n"


def test_edit_in_editor_keeps_text_on_syntax_error(cli: Cli, script: ScriptMaker) -> None:
    add(cli, script, "w", "echo one\n")
    editor = script("breaker.sh", "#!/bin/sh\necho 'if then' >> \"$1\"\n")
    editor.chmod(0o755)
    result = cli("edit", "w", "--no-input", env={"EDITOR": str(editor), "VISUAL": ""})
    assert result.exit_code == 2
    assert "syntax error" in result.stderr
    kept = result.stderr.split("Your text: ")[1].strip()
    assert "if then" in Path(kept).read_text(), "the user's edit must not be lost"
    assert json.loads(cli("show", "w", "--json").stdout)["version"] == 1
    missing = cli("edit", "w", env={"EDITOR": "/no/such/editor", "VISUAL": ""})
    assert missing.exit_code == 2
    assert "not found" in missing.stderr
    failing = cli("edit", "w", env={"EDITOR": "false", "VISUAL": ""})
    assert failing.exit_code == 2
    assert "exited with code 1" in failing.stderr


def test_delete_asks(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    add(cli, script, "w", "echo\n")
    declined = cli("delete", "w", input="n\n")
    assert declined.exit_code == 130
    assert (workflow_home / "w").is_dir()
    no_answer = cli("delete", "w", input="")
    assert no_answer.exit_code == 2
    assert "--yes" in no_answer.stderr
    accepted = cli("delete", "w", input="y\n")
    assert accepted.exit_code == 0
    assert not (workflow_home / "w").exists()
    add(cli, script, "w", "echo\n")
    assert json.loads(cli("delete", "w", "--yes", "--json").stdout) == {"deleted": "w"}


def test_broken_config_is_listed_not_fatal(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    add(cli, script, "good", "echo\n")
    add(cli, script, "bad", "echo\n")
    (workflow_home / "bad" / "config.yaml").write_text("name: bad\ntimeout: [\n")
    listed = cli("list")
    assert listed.exit_code == 0
    assert "broken" in listed.stdout
    assert "good" in listed.stdout
    shown = cli("show", "bad")
    assert shown.exit_code == 2
    assert "config.yaml:" in shown.stderr


def test_history_and_stats_when_empty(cli: Cli) -> None:
    assert "No runs yet" in cli("history").stdout
    assert "No runs yet" in cli("stats").stdout
    assert json.loads(cli("history", "--json").stdout) == []
    assert json.loads(cli("stats", "--json").stdout) == []
    assert "No workflows yet" in cli("list").stdout
    bad = cli("history", "--status", "weird")
    assert bad.exit_code == 2
    assert "unknown status" in bad.stderr
    bad_since = cli("history", "--since", "yesterday-ish")
    assert bad_since.exit_code == 2
    assert "neither a date nor an age" in bad_since.stderr
    assert cli("history", "--id", "99").exit_code == 2


def test_doctor_reports_isolation(cli: Cli) -> None:
    data = json.loads(cli("doctor", "--json").stdout)
    assert data["isolation"] in ("bwrap", "landlock", "rlimits")
    assert data["workflow_home"].endswith("home")
    text = cli("doctor")
    assert text.exit_code == 0
    assert "isolation" in text.stdout
    assert data["isolation"] in text.stdout
