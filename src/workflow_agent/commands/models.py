"""`workflow models`: which models are configured here, and whether they answer."""

from __future__ import annotations

from workflow_agent import render
from workflow_agent.commands.common import settings
from workflow_agent.core.errors import EXIT_MODEL, EXIT_OK
from workflow_agent.models import DEFAULT_MODEL, list_configured


def _yes_no(value: bool | None, yes: str, no: str) -> str:
    return "-" if value is None else yes if value else no


def models_command(check: bool, json_out: bool) -> int:
    """List the configured models; exit 4 when the one in use cannot be used (no key, no answer)."""
    statuses = list_configured(settings().home, check=check)
    active = next((s for s in statuses if s.active), None)
    code = EXIT_OK if active is not None and active.usable else EXIT_MODEL
    if json_out:
        render.print_json(
            {
                "active": active.name if active else None,
                "default": DEFAULT_MODEL,
                "checked": check,
                "models": [s.to_dict() for s in statuses],
            }
        )
        return code
    grid = render.table("", "MODEL", "FROM", "ENDPOINT", "KEY", "ANSWERS", "DETAIL")
    for s in statuses:
        grid.add_row(
            "*" if s.active else "",
            s.name,
            s.source,
            s.base_url or "-",
            _yes_no(s.key_present, "set", "missing"),
            _yes_no(s.reachable, "yes", "no"),
            s.detail,
        )
    render.out.print(grid)
    render.err.print(
        render.Text(
            "* is used when --model is not given; choose with --model, WORKFLOW_MODEL or "
            "`model:` in config.yaml.",
            style="dim",
        )
    )
    return code
