"""Per-workflow tests (`workflow test`): real CLI, real sandbox, real SQLite; teach and improve hooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli, ScriptMaker
from test_flows import GOOD, ScriptedCoder, ScriptedReviewer, ScriptedUI
from workflow_agent.agents.schemas import GeneratedWorkflow, WorkflowTest
from workflow_agent.app.improve import check_proposal_tests, propose_improvement
from workflow_agent.app.teach import Choice, teach
from workflow_agent.app.wftests import PROPOSED_FILE, CaseSpec, parse_case, run_suite, write_test
from workflow_agent.core.errors import ConfigError
from workflow_agent.core.settings import load_settings
from workflow_agent.core.types import Language
from workflow_agent.execution.sandbox import Isolation, probe, resolve
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore

COUNTER = 'n=$(ls | wc -l)\necho "files: $n"\n'
THREE = """# three files, counted
setup: |
  touch a b c
expect_output: '^files: 3$'
check: |
  grep -q 'files: 3' "$WORKFLOW_STDOUT"
  test -f a
"""


def add(cli: Cli, script: ScriptMaker, name: str, code: str) -> None:
    result = cli("add", name, "--file", str(script(f"{name}.sh", code)))
    assert result.exit_code == 0, result.stderr


def put(home: Path, name: str, filename: str, text: str) -> Path:
    path = home / name / "tests" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def results(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    ran = cli("test", *args, "--json")
    data = json.loads(ran.stdout)
    return ran.exit_code, {t["name"]: t for w in data["workflows"] for t in w["tests"]}


def test_a_passing_test_counts_the_files_setup_made(
    cli: Cli, script: ScriptMaker, workflow_home: Path
) -> None:
    add(cli, script, "counter", COUNTER)
    put(workflow_home, "counter", "three.yaml", THREE)
    ran = cli("test", "counter")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "✓ three" in ran.stdout
    assert "1 passed, 0 failed, 0 error(s)" in ran.stdout
    history = json.loads(cli("history", "counter", "--json").stdout)
    assert [r["trigger"] for r in history] == ["test"]
    assert history[0]["sandbox"] == resolve(Isolation.AUTO, probe()).value


def test_failures_and_a_broken_file_are_each_reported_and_the_rest_still_run(
    cli: Cli, script: ScriptMaker, workflow_home: Path
) -> None:
    add(cli, script, "counter", COUNTER)
    put(workflow_home, "counter", "a_broken.yaml", "expect_exit: 0\nexpect_output: [1\n")
    put(workflow_home, "counter", "b_badfield.yaml", "setup: touch a\nexpect_exit: many\n")
    put(workflow_home, "counter", "exit.yaml", "name: wants exit 3\nexpect_exit: 3\n")
    put(workflow_home, "counter", "regex.yaml", "expect_output: 'files: [1-9]'\n")
    put(
        workflow_home,
        "counter",
        "check.yml",
        "setup: touch x\ncheck: |\n  test -f y || { echo no y >&2; exit 4; }\n",
    )
    put(workflow_home, "counter", "three.yaml", THREE)
    put(workflow_home, "counter", "notes.txt", "not a test")
    code, by_name = results(cli, "counter")
    assert code == 1
    assert set(by_name) == {"a_broken", "b_badfield", "wants exit 3", "regex", "check", "three"}
    broken = by_name["a_broken"]
    assert broken["status"] == "error"
    assert broken["reason"].startswith(f"{workflow_home / 'counter/tests/a_broken.yaml'}:")
    assert "b_badfield.yaml:2: expect_exit:" in by_name["b_badfield"]["reason"]
    assert by_name["wants exit 3"]["status"] == "fail"
    assert by_name["wants exit 3"]["reason"] == "exit code 0, expected 3"
    assert by_name["regex"]["status"] == "fail"
    assert "does not match /files: [1-9]/" in by_name["regex"]["reason"]
    assert "files: 0" in by_name["regex"]["reason"]
    assert by_name["check"]["status"] == "fail"
    assert by_name["check"]["reason"] == "check failed (exit 4): no y"
    assert by_name["three"]["status"] == "pass"
    text = cli("test", "counter")
    assert "1 passed, 3 failed, 2 error(s)" in text.stdout


def test_setup_problems_timeouts_and_params(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    add(cli, script, "greet", 'echo "hello $WHO x$COUNT"\nsleep "${NAP:-0}"\n')
    put(
        workflow_home,
        "greet",
        "params.yaml",
        "params: {WHO: ann, COUNT: 3, NAP: 0}\nexpect_output: hello ann x3\n",
    )
    put(workflow_home, "greet", "setup_fails.yaml", "setup: 'echo cannot >&2; exit 9'\n")
    put(workflow_home, "greet", "setup_denied.yaml", 'setup: rm -rf "$HOME"/*\n')
    put(workflow_home, "greet", "slow.yaml", "params: {NAP: '5'}\ntimeout: 0.5\n")
    put(workflow_home, "greet", "check_sees_params.yaml", 'params: {WHO: bo}\ncheck: test "$WHO" = bo\n')
    code, by_name = results(cli, "greet")
    assert code == 1
    assert by_name["params"]["status"] == "pass", by_name["params"]
    assert by_name["check_sees_params"]["status"] == "pass", by_name["check_sees_params"]
    assert by_name["setup_fails"] | {"duration": 0} == by_name["setup_fails"] | {
        "status": "error",
        "reason": "setup failed (exit 9): cannot",
        "duration": 0,
    }
    assert by_name["setup_denied"]["status"] == "error"
    assert by_name["setup_denied"]["reason"].startswith("refused: the test's setup script is denied")
    assert by_name["slow"]["status"] == "fail"
    assert by_name["slow"]["reason"].startswith("timed out")


def test_setup_runs_in_the_sandbox(
    cli: Cli, script: ScriptMaker, workflow_home: Path, tmp_path: Path
) -> None:
    if resolve(Isolation.AUTO, probe()) is not Isolation.BWRAP:
        pytest.skip("needs bubblewrap")
    outside = tmp_path / "outside.txt"
    add(cli, script, "counter", COUNTER)
    put(workflow_home, "counter", "escape.yaml", f"setup: echo x > {outside} || true\n")
    code, by_name = results(cli, "counter")
    assert code == 0, by_name
    assert not outside.exists()


def test_the_safety_gate_applies(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    add(cli, script, "asks", "a=ec; b=ho; $a$b hi\n")
    put(workflow_home, "asks", "hi.yaml", "expect_output: hi\n")
    code, by_name = results(cli, "asks")
    assert code == 1
    assert by_name["hi"]["status"] == "error"
    assert by_name["hi"]["reason"].startswith("refused: asks needs your approval")
    code, by_name = results(cli, "asks", "--yes")
    assert code == 0, by_name
    code, by_name = results(cli, "asks")  # the approval is remembered for this code
    assert code == 0, by_name


def test_all_lists_workflows_without_tests(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    assert "No workflows yet." in cli("test", "--all").stdout
    add(cli, script, "counter", COUNTER)
    add(cli, script, "plain", "echo plain\n")
    put(workflow_home, "counter", "three.yaml", THREE)
    ran = cli("test", "--all")
    assert ran.exit_code == 0, ran.stdout
    assert "plain: no tests" in ran.stdout
    data = json.loads(cli("test", "--all", "--json").stdout)
    assert data == {
        "ok": True,
        "workflows": [
            {
                "name": "counter",
                "status": "pass",
                "passed": 1,
                "failed": 0,
                "errors": 0,
                "tests": [
                    {
                        "name": "three",
                        "file": str(workflow_home / "counter/tests/three.yaml"),
                        "status": "pass",
                        "reason": None,
                        "duration": data["workflows"][0]["tests"][0]["duration"],
                        "run_id": data["workflows"][0]["tests"][0]["run_id"],
                        "exit_code": 0,
                    }
                ],
            },
            {"name": "plain", "status": "no tests", "passed": 0, "failed": 0, "errors": 0, "tests": []},
        ],
    }
    assert isinstance(data["workflows"][0]["tests"][0]["run_id"], int)
    put(workflow_home, "plain", "wrong.yaml", "expect_output: nope\n")
    failing = json.loads(cli("test", "--all", "--json").stdout)
    assert failing["ok"] is False
    assert failing["workflows"][1]["status"] == "fail"


def test_usage_errors_exit_2(cli: Cli, script: ScriptMaker) -> None:
    add(cli, script, "counter", COUNTER)
    assert cli("test").exit_code == 2
    assert cli("test", "counter", "--all").exit_code == 2
    missing = cli("test", "nope")
    assert missing.exit_code == 2
    assert "no workflow named 'nope'" in missing.stderr
    assert cli("test", "counter", "--sandbox", "weird").exit_code == 2


def test_add_validates_then_copies(cli: Cli, script: ScriptMaker, workflow_home: Path) -> None:
    add(cli, script, "counter", COUNTER)
    bad = script("bad.yaml", "expect_output: ok\nexpected_exit: 1\n")
    refused = cli("test", "counter", "--add", str(bad))
    assert refused.exit_code == 2
    assert f"{bad}:2: expected_exit: Extra inputs are not permitted" in refused.stderr
    assert not (workflow_home / "counter/tests").exists()
    regex = script("regex.yaml", "expect_output: '(unclosed'\n")
    assert "not a valid regular expression" in cli("test", "counter", "--add", str(regex)).stderr
    assert cli("test", "counter", "--add", str(script("none.yaml", "[]\n"))).exit_code == 2
    assert cli("test", "counter", "--add", str(workflow_home / "absent.yaml")).exit_code == 2
    good = script("three.txt", THREE)
    added = cli("test", "counter", "--add", str(good))
    assert added.exit_code == 0, added.stderr
    assert (workflow_home / "counter/tests/three.yaml").read_text() == THREE  # comments kept
    again = cli("test", "counter", "--add", str(good), "--json")
    assert again.exit_code == 2
    assert "already has a test file three.yaml" in again.stderr
    other = script("other.yaml", "expect_exit: 0\n")
    assert json.loads(cli("test", "counter", "--add", str(other), "--json").stdout)["added"].endswith(
        "counter/tests/other.yaml"
    )
    assert cli("test", "nope", "--add", str(good)).exit_code == 2
    assert cli("test", "counter").exit_code == 0


def test_parse_case_and_write_test_round_trip(tmp_path: Path) -> None:
    spec = CaseSpec(setup="mkdir d\ntouch d/f", params={"A": "1"}, expect_output="f", check="test -d d")
    path = write_test(tmp_path, spec, "t.yaml")
    text = path.read_text()
    assert "setup: |\n  mkdir d\n  touch d/f\n" in text
    assert parse_case(path) == spec.model_copy(update={"setup": "mkdir d\ntouch d/f\n"})
    assert CaseSpec.model_validate({"params": {"N": 2, "F": True, "G": False, "X": 1.5}}).params == {
        "N": "2",
        "F": "true",
        "G": "false",
        "X": "1.5",
    }
    with pytest.raises(ConfigError, match=r"t2.yaml:1: timeout"):
        parse_case(_write(tmp_path / "t2.yaml", "timeout: 0\n"))
    with pytest.raises(ConfigError, match=r"t3.yaml:1: params"):
        parse_case(_write(tmp_path / "t3.yaml", "params: [1]\n"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- teach saves a proposed test -------------------------------------------------------------------


def test_teach_saves_the_proposed_test_and_it_runs(cli: Cli, workflow_home: Path) -> None:
    store = WorkflowStore(workflow_home)
    proposed = GeneratedWorkflow(
        language=Language.BASH,
        code=COUNTER,
        summary="Counts files.",
        test=WorkflowTest(setup="touch a\ntouch b\n", expect_output="files: 2"),
    )
    teach(store, "counter", "count files", coder=ScriptedCoder([proposed]), ui=ScriptedUI([Choice.APPROVE]))
    path = workflow_home / "counter" / "tests" / PROPOSED_FILE
    assert parse_case(path) == CaseSpec(setup="touch a\ntouch b\n", expect_output="files: 2")
    code, by_name = results(cli, "counter")
    assert code == 0, by_name
    assert by_name["proposed"]["status"] == "pass"
    teach(store, "hello", "say hello", coder=ScriptedCoder([GOOD]), ui=ScriptedUI([Choice.APPROVE]))
    assert not (workflow_home / "hello" / "tests").exists()


def test_teach_with_the_test_model_still_works(cli: Cli, workflow_home: Path) -> None:
    taught = cli("teach", "hello", "say hello", "--model", "test", "--yes")
    assert taught.exit_code == 0, taught.stderr
    # The scripted model fills only required fields, so it proposes no test.
    assert cli("test", "hello", "--json").exit_code == 0


# -- improve runs the tests before and after --------------------------------------------------------


def test_check_proposal_tests_names_what_a_change_breaks(
    cli: Cli, script: ScriptMaker, workflow_home: Path
) -> None:
    add(cli, script, "counter", COUNTER)
    put(workflow_home, "counter", "three.yaml", THREE)
    put(workflow_home, "counter", "exits.yaml", "expect_exit: 0\n")
    put(workflow_home, "counter", "never.yaml", "expect_output: never\n")
    store = WorkflowStore(workflow_home)
    settings = load_settings()
    breaking = GeneratedWorkflow(language=Language.BASH, code="echo counted\n", summary="Shorter.")
    keeping = GeneratedWorkflow(language=Language.BASH, code=COUNTER + "echo done\n", summary="More.")
    with HistoryStore(settings.history_path) as history:
        coder = ScriptedCoder([breaking, keeping])
        reviewer = ScriptedReviewer()
        proposal = propose_improvement(
            store, history, "counter", coder=coder, reviewer=reviewer, feedback="x"
        )
        evidence = check_proposal_tests(proposal, store, history, settings)
        assert evidence is not None
        assert evidence.before.passed == {"three", "exits"}
        assert evidence.after.passed == {"exits"}
        assert evidence.broken == ["three"]
        assert evidence.to_dict()["broken"] == ["three"]
        proposal = propose_improvement(
            store, history, "counter", coder=coder, reviewer=reviewer, feedback="x"
        )
        evidence = check_proposal_tests(proposal, store, history, settings)
        assert evidence is not None and evidence.broken == []
        assert not (workflow_home / ".trials").exists() or not any((workflow_home / ".trials").iterdir())
        assert store.load("counter").code == COUNTER, "nothing is saved by checking"
        # A workflow without tests has no evidence; the suite of a scratch copy reads the original tests.
        assert run_suite(store, history, settings, "counter", sandbox=Isolation.AUTO).passed == {
            "three",
            "exits",
        }
        (workflow_home / "counter" / "tests").rename(workflow_home / "counter" / "old-tests")
        assert check_proposal_tests(proposal, store, history, settings) is None


def test_improve_refuses_a_change_that_breaks_a_passing_test(
    cli: Cli, script: ScriptMaker, workflow_home: Path, workdir: Path
) -> None:
    add(cli, script, "counter", COUNTER)
    put(workflow_home, "counter", "three.yaml", THREE)
    result = cli("improve", "counter", "--model", "test", "--feedback", "say it nicer", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["saved_version"] is None
    assert data["tests"]["broken"] == ["three"]
    assert data["tests"]["before"]["status"] == "pass"
    assert data["tests"]["after"]["status"] == "fail"
    assert "it breaks three, which passed before" in result.stderr
    assert "tests before the change:" in result.stderr
    assert json.loads(cli("show", "counter", "--json").stdout)["version"] == 1
    human = cli("improve", "counter", "--model", "test", "--feedback", "say it nicer", "--yes")
    assert "Nothing was saved." in human.stdout


def test_improve_offers_a_change_that_keeps_the_tests_passing(
    cli: Cli, script: ScriptMaker, workflow_home: Path, workdir: Path
) -> None:
    add(cli, script, "counter", COUNTER)
    put(workflow_home, "counter", "exits.yaml", "expect_exit: 0\n")
    result = cli("improve", "counter", "--model", "test", "--feedback", "say it nicer", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tests"]["broken"] == []
    assert data["tests"]["after"]["status"] == "pass"
    assert data["saved_version"] == 2
