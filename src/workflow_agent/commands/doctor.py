"""`workflow doctor`: what this machine offers the tool, and which isolation runs get."""

from __future__ import annotations

import platform
import shutil
import sqlite3
import subprocess
import sys
from typing import Any

from workflow_agent import __version__, render
from workflow_agent.commands.common import settings
from workflow_agent.execution import sandbox


def _version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if text else None


def _checks() -> dict[str, Any]:
    found = sandbox.probe()
    home = settings().home
    limits: dict[str, Any] = {}
    try:
        from workflow_agent.execution.limits import cgroup_support

        support = cgroup_support()
        limits = {"cgroup_version": support.version, "cgroup_note": support.reason}
    except ImportError:  # pragma: no cover - ships with the package
        limits = {"cgroup_version": None, "cgroup_note": "limits module missing"}
    bwrap = shutil.which("bwrap")
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "workflow_home": str(home),
        "isolation": found.mode.value,
        "unavailable": found.reasons,
        "bwrap": _version([bwrap, "--version"]) if bwrap else None,
        "shellcheck": _version(["shellcheck", "--version"]) and shutil.which("shellcheck"),
        "sqlite": sqlite3.sqlite_version,
        **limits,
    }


def doctor(json_out: bool) -> int:
    report = _checks()
    if json_out:
        render.print_json(report)
        return 0
    grid = render.table("", "")
    grid.add_row("workflow", f"{report['version']} (Python {report['python']}, SQLite {report['sqlite']})")
    grid.add_row("state", report["workflow_home"])
    mode = report["isolation"]
    style = "green" if mode == "bwrap" else "yellow" if mode == "landlock" else "bold red"
    grid.add_row("isolation", render.Text(mode, style=style))
    for name, why in report["unavailable"].items():
        grid.add_row(f"  no {name}", why)
    grid.add_row("bubblewrap", report["bwrap"] or "not installed")
    grid.add_row("cgroups", f"v{report['cgroup_version']}" if report["cgroup_version"] else "unusable")
    if report.get("cgroup_note"):
        grid.add_row("", str(report["cgroup_note"]))
    grid.add_row("shellcheck", report["shellcheck"] or "not installed (optional)")
    render.out.print(grid)
    if mode == "rlimits":
        render.err.print(
            render.Text(
                "warning: runs get resource limits only: no filesystem or network isolation.",
                style="bold red",
            )
        )
    return 0
