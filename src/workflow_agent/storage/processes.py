"""Is the process that wrote a 'running' row still alive? Guarded against pid reuse."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

# A process that started this long after the row was written cannot be the one that wrote it.
_START_SLACK_S = 2.0


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def is_running(pid: int, started_at: datetime) -> bool:
    """True when ``pid`` is alive, not a zombie, and started no later than ``started_at``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc (not Linux): the signal check is all there is
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None:
        return True
    start = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return start <= started_at.timestamp() + _START_SLACK_S
