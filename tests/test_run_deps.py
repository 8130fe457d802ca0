"""PEP 723 dependencies through `workflow run`: approval, a cached env, the sandbox, and failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_pyenv import make_wheel

WORKFLOW = [sys.executable, "-m", "workflow_agent"]


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    links = tmp_path / "no-links"
    links.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(links),
            "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        }
    )
    return env


def wf(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WORKFLOW, *args], capture_output=True, text=True, env=env, input=stdin, timeout=300, check=False
    )


def script(requirement: str) -> str:
    return (
        "# /// script\n"
        f'# dependencies = ["{requirement}"]\n'
        "# ///\n"
        "import wfdemo\n"
        "print('value', wfdemo.VALUE)\n"
    )


def test_declared_dependency_is_installed_once_on_approval(
    tmp_path: Path, workdir: Path, offline_env: dict[str, str]
) -> None:
    wheel = make_wheel(tmp_path, "wfdemo")
    path = tmp_path / "uses.py"
    path.write_text(script(f"wfdemo @ {wheel.as_uri()}"))
    assert wf(offline_env, "add", "uses", "--file", str(path)).returncode == 0
    refused = wf(offline_env, "run", "uses", "--no-input")
    assert refused.returncode == 2
    assert "needs these packages installed first" in refused.stderr
    assert "wfdemo" in refused.stderr
    declined = wf(offline_env, "run", "uses", stdin="n\n")
    assert declined.returncode == 130
    first = wf(offline_env, "run", "uses", "--yes")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "value 42\n"
    second = wf(offline_env, "run", "uses", "--no-input")
    assert second.returncode == 0, "a built environment is reused without asking"
    assert second.stdout == "value 42\n"
    rows = json.loads(wf(offline_env, "history", "--json").stdout)
    assert [r["status"] for r in rows][:2] == ["success", "success"]
    assert rows[0]["sandbox"] == "bwrap"


def test_missing_dependency_is_named_and_classified(
    tmp_path: Path, workdir: Path, offline_env: dict[str, str]
) -> None:
    path = tmp_path / "broken.py"
    path.write_text(script("definitely-not-a-real-package-xyz"))
    assert wf(offline_env, "add", "broken", "--file", str(path)).returncode == 0
    proc = wf(offline_env, "run", "broken", "--yes")
    assert proc.returncode == 1
    assert "definitely-not-a-real-package-xyz" in proc.stderr
    [row] = json.loads(wf(offline_env, "history", "--json").stdout)
    assert row["status"] == "failed"
    assert row["failure_class"] == "missing_dependency"
    assert "definitely-not-a-real-package-xyz" in row["error_message"]
