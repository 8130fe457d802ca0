"""WorkflowStore: one folder per workflow, plain files a person can read, edit and diff.

Layout under WORKFLOW_HOME/<name>/: config.yaml, workflow.sh|workflow.py, CLAUDE.md and versions/NNN.sh|py
holding every version, the current one included, so diff and rollback never depend on history.db.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from ruamel.yaml.comments import CommentedMap

from workflow_agent.core.errors import AlreadyExistsError, ConfigError, NotFoundError, ValidationError
from workflow_agent.core.types import NAME_PATTERN, Language, Workflow, WorkflowConfig, utcnow
from workflow_agent.storage import yamldoc
from workflow_agent.storage.files import atomic_write_text

CONFIG_FILE = "config.yaml"
MEMORY_FILE = "CLAUDE.md"
VERSIONS_DIR = "versions"
MEMORY_LIMIT = 64 * 1024  # bytes of learned notes kept; the oldest go first


def validate_name(name: str) -> str:
    """Refuse any name that is not a plain lowercase slug, before it can touch a path."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValidationError(
            f"invalid workflow name {name!r}",
            hint="Use 1-64 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit.",
        )
    return name


@dataclass(frozen=True)
class VersionInfo:
    version: int
    language: Language
    saved_at: datetime
    path: Path
    current: bool


@dataclass(frozen=True)
class Listing:
    """One row of `workflow list`: a loaded workflow, or the error that kept it from loading."""

    name: str
    workflow: Workflow | None
    error: str | None


class WorkflowStore:
    """Reads and writes workflows under one home directory."""

    def __init__(self, home: Path) -> None:
        self.home = home

    # -- paths ------------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        return self.home / validate_name(name)

    def code_path(self, config: WorkflowConfig) -> Path:
        return self.folder(config.name) / f"workflow{config.language.extension}"

    def memory_path(self, name: str) -> Path:
        return self.folder(name) / MEMORY_FILE

    def exists(self, name: str) -> bool:
        return (self.folder(name) / CONFIG_FILE).is_file()

    # -- reading ----------------------------------------------------------------------------
    def load_config(self, name: str) -> WorkflowConfig:
        path = self.folder(name) / CONFIG_FILE
        if not path.is_file():
            raise NotFoundError(
                f"no workflow named {name!r}", hint="See `workflow list` for the ones you have."
            )
        doc = yamldoc.load_document(path)
        try:
            config = WorkflowConfig.model_validate(yamldoc.to_plain(doc))
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            line = yamldoc.key_line(doc, tuple(first["loc"]))
            where = f"{path}:{line}" if line else str(path)
            field = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ConfigError(
                f"{where}: {field}: {first['msg']}", hint="Fix the file by hand, then run the command again."
            ) from None
        if config.name != name:
            raise ConfigError(f"{path}: name is {config.name!r} but the folder is {name!r}")
        return config

    def load(self, name: str) -> Workflow:
        config = self.load_config(name)
        code_path = self.code_path(config)
        try:
            code = code_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{code_path} is missing", hint="Restore it with `workflow rollback`."
            ) from None
        return Workflow(config=config, code=code)

    def names(self) -> list[str]:
        if not self.home.is_dir():
            return []
        return sorted(
            p.name
            for p in self.home.iterdir()
            if NAME_PATTERN.fullmatch(p.name) and (p / CONFIG_FILE).is_file()
        )

    def listing(self) -> list[Listing]:
        """Every workflow; a broken one is listed with its error instead of failing the others."""
        rows: list[Listing] = []
        for name in self.names():
            try:
                rows.append(Listing(name, self.load(name), None))
            except ConfigError as exc:
                rows.append(Listing(name, None, exc.message))
        return rows

    def memory(self, name: str) -> str:
        path = self.memory_path(name)
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    # -- writing ----------------------------------------------------------------------------
    def create(self, config: WorkflowConfig, code: str) -> Workflow:
        if self.exists(config.name):
            raise AlreadyExistsError(
                f"workflow {config.name!r} already exists",
                hint="Choose another name, `workflow edit` it, or `workflow delete` it first.",
            )
        now = utcnow()
        config = config.model_copy(update={"version": 1, "created_at": now, "updated_at": now})
        folder = self.folder(config.name)
        folder.mkdir(parents=True, exist_ok=True)
        self._write_code(config, code)
        self._write_config(config)
        if not self.memory_path(config.name).exists():
            atomic_write_text(self.memory_path(config.name), _memory_header(config))
        return Workflow(config=config, code=code)

    def save_version(self, name: str, code: str, **changes: Any) -> Workflow:
        """Store ``code`` (and config ``changes``) as the next version of an existing workflow."""
        current = self.load_config(name)
        versions = self.versions(name)
        next_version = max([current.version, *(v.version for v in versions)]) + 1
        update: dict[str, Any] = {**changes, "version": next_version, "updated_at": utcnow()}
        try:
            config = WorkflowConfig.model_validate({**current.model_dump(), **update})
        except PydanticValidationError as exc:
            raise ValidationError(f"invalid settings for {name!r}: {exc.errors()[0]['msg']}") from None
        old_code_path = self.code_path(current)
        self._write_code(config, code)
        self._write_config(config)
        if config.language != current.language:
            old_code_path.unlink(missing_ok=True)
        return Workflow(config=config, code=code)

    def delete(self, name: str) -> None:
        folder = self.folder(name)
        if not (folder / CONFIG_FILE).is_file():
            raise NotFoundError(f"no workflow named {name!r}")
        # Rename first so a crash half-way through leaves no folder that looks like a workflow.
        trash = folder.with_name(f".deleted-{name}-{utcnow().timestamp():.0f}")
        folder.rename(trash)
        shutil.rmtree(trash)

    def append_memory(self, name: str, note: str) -> bool:
        """Add a learned fact to CLAUDE.md unless it is already there; keep the file bounded."""
        note = " ".join(note.split())
        if not note:
            return False
        path = self.memory_path(name)
        text = path.read_text(encoding="utf-8") if path.is_file() else _memory_header(self.load_config(name))
        if f"- {note}\n" in text:
            return False
        text += f"- {note}\n"
        while len(text.encode()) > MEMORY_LIMIT:
            lines = text.splitlines(keepends=True)
            first_note = next((i for i, line in enumerate(lines) if line.startswith("- ")), None)
            if first_note is None:
                break
            del lines[first_note]
            text = "".join(lines)
        atomic_write_text(path, text)
        return True

    # -- versions ---------------------------------------------------------------------------
    def versions(self, name: str) -> list[VersionInfo]:
        config = self.load_config(name)
        folder = self.folder(name) / VERSIONS_DIR
        found: list[VersionInfo] = []
        if folder.is_dir():
            for path in folder.iterdir():
                stem, suffix = path.stem, path.suffix
                if not stem.isdigit() or suffix not in (".sh", ".py"):
                    continue
                found.append(
                    VersionInfo(
                        version=int(stem),
                        language=Language.BASH if suffix == ".sh" else Language.PYTHON,
                        saved_at=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC),
                        path=path,
                        current=int(stem) == config.version,
                    )
                )
        return sorted(found, key=lambda v: v.version)

    def version_code(self, name: str, version: int) -> tuple[str, Language]:
        for info in self.versions(name):
            if info.version == version:
                return info.path.read_text(encoding="utf-8"), info.language
        known = ", ".join(str(v.version) for v in self.versions(name)) or "none"
        raise NotFoundError(f"{name!r} has no version {version}", hint=f"Versions: {known}.")

    def rollback(self, name: str, version: int) -> Workflow:
        """Make the code of ``version`` current again, as a new version (history is never rewritten)."""
        code, language = self.version_code(name, version)
        return self.save_version(name, code, language=language)

    # -- internals --------------------------------------------------------------------------
    def _write_code(self, config: WorkflowConfig, code: str) -> None:
        mode = 0o755 if config.language is Language.BASH else 0o644
        atomic_write_text(self.code_path(config), code, mode=mode)
        version_file = (
            self.folder(config.name) / VERSIONS_DIR / f"{config.version:03d}{config.language.extension}"
        )
        atomic_write_text(version_file, code)

    def _write_config(self, config: WorkflowConfig) -> None:
        path = self.folder(config.name) / CONFIG_FILE
        doc = yamldoc.load_document(path) if path.is_file() else CommentedMap()
        data = config.model_dump(mode="json", exclude_defaults=False)
        atomic_write_text(path, yamldoc.dump(yamldoc.merge(doc, data)))


def _memory_header(config: WorkflowConfig) -> str:
    return f"# {config.name}\n\n{config.description or 'No description.'}\n\n## Learned from runs\n\n"
