"""Every test gets its own WORKFLOW_HOME; nothing touches the real home directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pydantic_ai.models
import pytest
from typer.testing import CliRunner

from workflow_agent.cli import main

pytest_plugins = ["fakes.fixtures"]  # fake model servers on 127.0.0.1 (tests/fakes)

# No test may reach a real model; tests of the real provider clients opt in, against fake servers on 127.0.0.1.
pydantic_ai.models.ALLOW_MODEL_REQUESTS = False


@pytest.fixture(autouse=True)
def workflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("WORKFLOW_HOME", str(home))
    monkeypatch.delenv("WORKFLOW_CAPTURE_HEAD", raising=False)
    monkeypatch.delenv("WORKFLOW_CAPTURE_TAIL", raising=False)
    monkeypatch.delenv("WORKFLOW_LOG_LIMIT", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKFLOW_MODEL"):
        monkeypatch.delenv(key, raising=False)
    return home


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Cli:
    """Drives the real CLI in-process through main(argv), as the console script does."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        holder: dict[str, int] = {}

        def entry() -> None:
            holder["code"] = main(list(args))

        # CliRunner swaps stdin/stdout/stderr; invoke a tiny click command wrapping main().
        import typer

        shim = typer.Typer()
        shim.command()(entry)
        outcome = self.runner.invoke(shim, [], input=input, env=env, catch_exceptions=False)
        return Result(holder.get("code", outcome.exit_code), outcome.stdout, outcome.stderr)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def script(tmp_path: Path) -> ScriptMaker:
    return ScriptMaker(tmp_path / "scripts")


class ScriptMaker:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(text)
        return path


def env_without_workflow_vars() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
