"""Pydantic models shared by every layer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def utcnow() -> datetime:
    """Timezone-aware now, second precision is not assumed anywhere."""
    return datetime.now(UTC)


class Language(StrEnum):
    BASH = "bash"
    PYTHON = "python"

    @property
    def extension(self) -> str:
        return ".sh" if self is Language.BASH else ".py"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # shown for rows left 'running' by a process that died
    REFUSED = "refused"  # the safety policy stopped the run before it started


class FailureClass(StrEnum):
    """Why a run failed: the labels of shared/cases/errors.jsonl."""

    RATE_LIMIT = "rate_limit"
    NETWORK = "network"
    AUTH = "auth"
    TIMEOUT = "timeout"
    PERMISSION = "permission"
    MISSING_DEPENDENCY = "missing_dependency"
    SYNTAX_ERROR = "syntax_error"
    OOM = "oom"
    DISK_FULL = "disk_full"
    API_ERROR = "api_error"
    OTHER = "other"


class Permissions(BaseModel):
    """The capability manifest a workflow declares and the user approves."""

    model_config = ConfigDict(extra="forbid")

    network: bool = False
    # Creating unix sockets, i.e. talking to local daemons (docker, D-Bus, databases) that act
    # outside the sandbox. Separate from network: either one alone is a much smaller grant.
    unix_sockets: bool = False
    write: list[str] = Field(default_factory=list)
    read: list[str] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)
    timeout: int | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    max_processes: int | None = Field(default=None, gt=0)

    @field_validator("secrets")
    @classmethod
    def _env_names(cls, value: list[str]) -> list[str]:
        for item in value:
            if not ENV_NAME_PATTERN.fullmatch(item):
                raise ValueError(f"secret {item!r} is not an environment variable name")
        return value


class Param(BaseModel):
    """A parameter the workflow accepts; it reaches the script as an environment variable."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    default: str | None = None
    required: bool = False

    @field_validator("name")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME_PATTERN.fullmatch(value):
            raise ValueError(f"parameter {value!r} is not a valid environment variable name")
        return value


class WorkflowConfig(BaseModel):
    """What config.yaml holds for one workflow (the code lives beside it)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
    description: str = ""
    language: Language = Language.BASH
    timeout: int = Field(default=300, gt=0)
    env_vars: dict[str, str] = Field(default_factory=dict)
    params: list[Param] = Field(default_factory=list)
    permissions: Permissions = Field(default_factory=Permissions)
    workdir: str | None = None
    version: int = Field(default=1, ge=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("env_vars")
    @classmethod
    def _env_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME_PATTERN.fullmatch(key):
                raise ValueError(f"environment variable name {key!r} is not valid")
        return value


class Workflow(BaseModel):
    """A workflow as loaded: its config and its current code."""

    config: WorkflowConfig
    code: str

    @property
    def name(self) -> str:
        return self.config.name


class ExecutionRecord(BaseModel):
    """One row of history."""

    id: int
    workflow_name: str
    workflow_version: int | None = None
    status: RunStatus
    trigger: str = "manual"
    started_at: datetime
    finished_at: datetime | None = None
    duration: float | None = None
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error_message: str | None = None
    failure_class: FailureClass | None = None
    pid: int | None = None
    log_path: str | None = None
    sandbox: str | None = None  # the isolation the run actually had


class FailurePattern(BaseModel):
    """A group of similar failures of one workflow."""

    pattern_type: str
    count: int
    last_seen: datetime
    error_messages: list[str] = Field(default_factory=list)
    suggested_fixes: list[str] = Field(default_factory=list)
