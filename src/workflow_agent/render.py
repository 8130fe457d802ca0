"""Terminal rendering with rich, and JSON for --json. Imported only by commands that print data."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.syntax import Syntax

__all__ = [
    "Text",
    "ago",
    "code",
    "diff",
    "err",
    "out",
    "percent",
    "print_json",
    "seconds",
    "status_text",
    "table",
    "trend",
]

STATUS_STYLE = {
    "success": "green",
    "failed": "red",
    "timeout": "red",
    "interrupted": "yellow",
    "cancelled": "yellow",
    "refused": "magenta",
    "running": "cyan",
}
TREND_MARK = {
    "success": "✓",
    "failed": "✗",
    "timeout": "⏱",
    "interrupted": "!",
    "cancelled": "-",
    "refused": "⊘",
    "running": "…",
}

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def ago(moment: datetime | str | None) -> str:
    if moment is None:
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - moment).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{max(int(seconds), 0)}s ago"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 120:
        return f"{value:.2f}s"
    return f"{value / 60:.1f}m"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def code(source: str, language: str) -> Syntax:
    # Pygments is heavy; only `show` and friends need it.
    from rich.syntax import Syntax

    return Syntax(source, "bash" if language == "bash" else "python", line_numbers=True, word_wrap=True)


def table(*columns: str) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    return grid


def diff(lines: list[str], console: Console) -> None:
    """A unified diff, added lines green, removed red, hunk headers cyan."""
    for line in lines:
        style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
        console.print(Text(line.rstrip("\n"), style=style))


def trend(statuses: list[str]) -> str:
    return "".join(TREND_MARK.get(s, "?") for s in statuses)
