"""Where state lives and the few knobs read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = "~/workflows"

# Bytes of each stream kept in the database: the head and the tail of the output, with a marker
# between them. Anything larger also goes, whole, to a log file under WORKFLOW_HOME/logs.
DEFAULT_CAPTURE_HEAD = 32 * 1024
DEFAULT_CAPTURE_TAIL = 96 * 1024
# Log files keep the first this-many bytes of each stream, so a runaway script cannot fill the disk
# (and writing a huge log would halve the speed of a run); the tail is always in history.
DEFAULT_LOG_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one invocation; pass it in, never read globals elsewhere."""

    home: Path
    capture_head: int = DEFAULT_CAPTURE_HEAD
    capture_tail: int = DEFAULT_CAPTURE_TAIL
    log_limit: int = DEFAULT_LOG_LIMIT

    @property
    def history_path(self) -> Path:
        return self.home / "history.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def user_config_path(self) -> Path:
        return self.home / "config.yaml"


def _int_env(environ: dict[str, str] | os._Environ[str], key: str, default: int) -> int:
    raw = environ.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        from workflow_agent.core.errors import ConfigError

        raise ConfigError(f"{key}={raw!r} is not a whole number of bytes") from None
    return max(value, 0)


def load_settings(environ: dict[str, str] | os._Environ[str] | None = None) -> Settings:
    """Read WORKFLOW_HOME and the capture bounds from the environment."""
    env = os.environ if environ is None else environ
    home = Path(env.get("WORKFLOW_HOME") or DEFAULT_HOME).expanduser()
    return Settings(
        home=home.absolute(),
        capture_head=_int_env(env, "WORKFLOW_CAPTURE_HEAD", DEFAULT_CAPTURE_HEAD),
        capture_tail=_int_env(env, "WORKFLOW_CAPTURE_TAIL", DEFAULT_CAPTURE_TAIL),
        log_limit=_int_env(env, "WORKFLOW_LOG_LIMIT", DEFAULT_LOG_LIMIT),
    )
