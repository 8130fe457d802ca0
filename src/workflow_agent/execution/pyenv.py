"""Per-workflow Python environments for scripts that declare dependencies (PEP 723).

A Python workflow may carry a ``# /// script`` block listing ``dependencies`` and
``requires-python``. The environment for it is built once, *outside* the sandbox and only after
the user approved the list, then cached under ``WORKFLOW_HOME/envs`` by a key derived from the
normalised dependency list, ``requires-python`` and the base interpreter's version. The script
itself is run (sandboxed) by the caller with the interpreter this module returns.

Layout of the cache root::

    <key>            symlink to the live build; its presence is what "ready" means
    <key>.<random>/  a venv; the live one holds MARKER, a build in progress does not yet
    .locks/<key>     flock(2) file serialising builds of one key across threads and processes

A build happens in its own ``<key>.<random>`` directory and is published by atomically replacing
the ``<key>`` symlink. The environment is never moved after it is built because venvs are not
relocatable: pip writes absolute ``#!`` paths into console scripts. A build that fails, is
interrupted or is killed leaves no ``<key>`` link, so it never looks ready; leftovers are swept
by the next build of the same key, under the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

from workflow_agent.core.errors import EXIT_WORKFLOW_FAILED, Cancelled, ValidationError, WorkflowError
from workflow_agent.core.types import FailureClass, utcnow
from workflow_agent.execution.pyenv_support import (
    diagnose_install_failure,
    installer_commands,
    normalise_requirement,
    python_satisfies,
    requirement_name,
    run_streaming,
)

__all__ = [
    "MARKER",
    "DependencyError",
    "EnvCache",
    "EnvInfo",
    "MetadataError",
    "ScriptMetadata",
    "read_script_metadata",
]

# The reference regular expression of PEP 723, unchanged.
METADATA_REGEX: Final = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
MARKER: Final = "workflow-env.json"
_KEY_LENGTH: Final = 24
_KEY: Final = re.compile(rf"[0-9a-f]{{{_KEY_LENGTH}}}\Z")
_LOCK_POLL: Final = 0.05


class MetadataError(ValidationError):
    """The ``# /// script`` block cannot be used; ``line`` is the 1-based script line at fault."""

    def __init__(self, message: str, *, line: int, hint: str | None = None) -> None:
        super().__init__(f"line {line}: {message}", hint=hint)
        self.line = line


class DependencyError(WorkflowError):
    """The declared dependencies could not be installed.

    ``exit_code`` is 1 (workflow failed), not 2 (usage): the script and its metadata are valid,
    it is the environment that could not be made (no network, unknown package, failed build), so
    the run failed for the same reasons a run fails. ``failure_class`` lets history and the
    improve loop file it with other missing-dependency failures. ``packages`` names what failed;
    ``output`` keeps the tail of the installer's output.
    """

    exit_code = EXIT_WORKFLOW_FAILED
    failure_class = FailureClass.MISSING_DEPENDENCY

    def __init__(
        self, message: str, *, hint: str | None = None, packages: tuple[str, ...] = (), output: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.packages = packages
        self.output = output


@dataclass(frozen=True)
class ScriptMetadata:
    """What a script's ``# /// script`` block asks for."""

    dependencies: tuple[str, ...] = ()
    requires_python: str | None = None


class EnvInfo(NamedTuple):
    """One built environment, as ``workflow envs`` would list it; ``size`` is in bytes."""

    key: str
    deps: tuple[str, ...]
    created_at: datetime
    size: int


def _toml_error_line(error: tomllib.TOMLDecodeError, first: int, last: int) -> int:
    found = re.search(r"at line (\d+)", str(error))
    return first + int(found.group(1)) - 1 if found else last


def read_script_metadata(code: str) -> ScriptMetadata | None:
    """Parse the PEP 723 ``script`` block of ``code``; None when there is none.

    Blocks of other types are ignored. Two ``script`` blocks, invalid TOML, or fields of the
    wrong type raise MetadataError (a ValidationError, exit code 2) naming the script line.
    """
    # As if the file were read in text mode: with CRLF endings the regex would see no block at all.
    code = code.replace("\r\n", "\n")
    blocks = [m for m in METADATA_REGEX.finditer(code) if m.group("type") == "script"]
    if not blocks:
        return None
    start = code.count("\n", 0, blocks[0].start()) + 1
    if len(blocks) > 1:
        second = code.count("\n", 0, blocks[1].start()) + 1
        raise MetadataError(f"a second `# /// script` block (the first is at line {start})", line=second)
    lines = blocks[0].group("content").splitlines(keepends=True)
    content = "".join(line[2:] if line.startswith("# ") else line[1:] for line in lines)
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(exc, start + 1, start + len(lines) + 1)
        # tomllib counts lines within the block; the script line is in the message already.
        why = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", str(exc))
        raise MetadataError(f"the `# /// script` block is not valid TOML: {why}", line=line) from None
    return _metadata_from(data, start)


def _metadata_from(data: dict[str, Any], line: int) -> ScriptMetadata:
    hint = 'See PEP 723: dependencies = ["requests<3", ...] and requires-python = ">=3.11".'
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise MetadataError("`dependencies` must be a list of strings", line=line, hint=hint)
    for dep in deps:
        try:
            normalise_requirement(dep)
        except ValueError:
            raise MetadataError(f"dependency {dep!r} does not start with a package name", line=line) from None
    spec = data.get("requires-python")
    if spec is not None:
        if not isinstance(spec, str):
            raise MetadataError("`requires-python` must be a string", line=line, hint=hint)
        try:
            python_satisfies(spec, sys.version_info[:3])
        except ValueError as exc:
            raise MetadataError(f"requires-python {spec!r}: {exc}", line=line, hint=hint) from None
    return ScriptMetadata(dependencies=tuple(d.strip() for d in deps), requires_python=spec)


def _base_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


class EnvCache:
    """Built environments under ``root`` (``WORKFLOW_HOME / "envs"``), one per key.

    ``use_uv`` picks the installer: None (the default) uses ``uv`` when it is on PATH, else
    venv + pip; True requires uv; False never uses it.
    """

    def __init__(self, root: Path, *, use_uv: bool | None = None) -> None:
        self.root = root.absolute()
        self.use_uv = use_uv

    def key(self, meta: ScriptMetadata) -> str:
        """A stable name for the environment ``meta`` needs on this interpreter."""
        try:
            deps = sorted({normalise_requirement(d) for d in meta.dependencies})
        except ValueError as exc:
            # Also what stops a hand-made ScriptMetadata from passing "--option" to the installer.
            raise ValidationError(f"bad dependency: {exc}") from None
        payload = {
            "deps": deps,
            "requires_python": re.sub(r"\s+", "", meta.requires_python or ""),
            "python": f"{sys.implementation.name}-{_base_version()}",
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
        return digest[:_KEY_LENGTH]

    def interpreter(self, meta: ScriptMetadata) -> Path | None:
        """The environment's python if it is built and looks healthy, else None. Never builds."""
        return self._healthy(self.key(meta))

    def ensure(
        self,
        meta: ScriptMetadata,
        *,
        approve: Callable[[list[str]], bool],
        output: Callable[[str], None] | None = None,
        timeout: float = 600,
    ) -> Path:
        """Return the python of ``meta``'s environment, building it first if needed.

        ``approve(deps)`` is asked before anything is created (not when the environment exists,
        nor when there is nothing to install); False raises Cancelled. Installer output goes
        line by line to ``output``. ``timeout`` bounds the wait for a concurrent build plus
        this build. Raises ValidationError when requires-python excludes this interpreter and
        DependencyError when the install fails; nothing half-built is left to look ready.
        The path returned lies in the build directory itself, not behind the ``<key>`` link, so
        it stays valid for a script already running if the link is later replaced.
        """
        self._check_python(meta)
        key = self.key(meta)
        found = self._healthy(key)
        if found is not None:
            return found
        deps = list(meta.dependencies)
        if deps and not approve(deps):
            raise Cancelled(
                f"installing {', '.join(deps)} was not approved",
                hint="The workflow cannot run without its dependencies.",
            )
        deadline = time.monotonic() + timeout
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(key, deadline, f"the environment for {', '.join(deps) or 'this script'}"):
            # Someone else may have built it while we waited for the lock.
            found = self._healthy(key)
            if found is not None:
                return found
            self._discard(key)
            return self._build(key, meta, output, deadline, timeout)

    def remove(self, meta: ScriptMetadata) -> bool:
        """Delete ``meta``'s environment; True if there was anything to delete."""
        return self.remove_key(self.key(meta))

    def remove_key(self, key: str) -> bool:
        """Delete the environment named ``key`` (as listed by ``list``) and any leftovers of it."""
        if not _KEY.match(key):
            raise ValidationError(f"{key!r} is not an environment key")
        if not self.root.is_dir():
            return False
        with self._locked(key, time.monotonic() + 60, f"environment {key}"):
            return self._discard(key)

    def list(self) -> list[EnvInfo]:
        """Every healthy environment in the cache, oldest first."""
        if not self.root.is_dir():
            return []
        found: list[EnvInfo] = []
        for entry in self.root.iterdir():
            python = self._healthy(entry.name) if _KEY.match(entry.name) else None
            if python is None:
                continue
            home = python.parent.parent
            try:
                marker = json.loads((home / MARKER).read_text(encoding="utf-8"))
                deps, created = tuple(marker["deps"]), datetime.fromisoformat(marker["created_at"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # removed meanwhile, or a marker not written by us
            found.append(EnvInfo(entry.name, deps, created, _tree_size(home)))
        return sorted(found, key=lambda info: info.created_at)

    # -- internals -----------------------------------------------------------------------------

    def _check_python(self, meta: ScriptMetadata) -> None:
        spec = meta.requires_python
        if spec is None:
            return
        try:
            ok = python_satisfies(spec, sys.version_info[:3])
        except ValueError as exc:
            raise ValidationError(f"requires-python {spec!r} cannot be understood: {exc}") from None
        if not ok:
            raise ValidationError(
                f"the script requires Python {spec}, but the interpreter is Python {_base_version()}",
                hint="Run the tool with a Python that satisfies it, or change requires-python in the "
                "script's `# /// script` block.",
            )

    def _healthy(self, key: str) -> Path | None:
        link = self.root / key
        try:
            target = os.readlink(link)
        except OSError:
            return None
        # Only a sibling built by us is trusted, never a link that points elsewhere.
        if not re.fullmatch(rf"{key}\.[0-9a-f]+", target):
            return None
        home = self.root / target
        python = home / "bin" / "python"
        try:
            marker = json.loads((home / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        # exists() follows bin/python to the base interpreter, which may have been uninstalled.
        if not isinstance(marker, dict) or marker.get("key") != key or not python.exists():
            return None
        return python if os.access(python, os.X_OK) else None

    @contextlib.contextmanager
    def _locked(self, key: str, deadline: float, what: str) -> Iterator[None]:
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        # Lock files stay: unlinking one would let a waiter lock an inode nobody else sees.
        with open(locks / key, "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise DependencyError(
                            f"timed out waiting for another process to finish with {what}",
                            hint=f"Another `workflow` process holds {locks / key}; try again when it ends.",
                        ) from None
                    time.sleep(_LOCK_POLL)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _discard(self, key: str) -> bool:
        """Remove the link and every build directory of ``key``; call with the key's lock held."""
        removed = False
        link = self.root / key
        if link.is_symlink():
            link.unlink()
            removed = True
        elif link.exists():
            shutil.rmtree(link)
            removed = True
        for entry in self.root.iterdir():
            if entry.name.startswith((f"{key}.", f".{key}.")):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed = True
        return removed

    def _uv(self) -> str | None:
        if self.use_uv is False:
            return None
        found = shutil.which("uv")
        if found is None and self.use_uv:
            raise DependencyError(
                "uv was asked for but is not on PATH", hint="Install uv, or let pip be used."
            )
        return found

    def _build(
        self,
        key: str,
        meta: ScriptMetadata,
        output: Callable[[str], None] | None,
        deadline: float,
        timeout: float,
    ) -> Path:
        deps = list(meta.dependencies)
        home = self.root / f"{key}.{secrets.token_hex(4)}"
        try:
            installer, commands, env = installer_commands(home, deps, uv=self._uv())
            for number, argv in enumerate(commands):
                outcome = run_streaming(
                    argv, env=env, cwd=str(self.root), output=output, timeout=deadline - time.monotonic()
                )
                tail = "\n".join(outcome.tail)
                if outcome.timed_out:
                    raise DependencyError(
                        f"installing {', '.join(deps)} timed out after {timeout:g} s",
                        hint="The index may be slow or a package may be building from source; "
                        "try again, or allow more time.",
                        packages=tuple(requirement_name(d) or d for d in deps),
                        output=tail,
                    )
                if outcome.returncode != 0 and number == 0:
                    raise DependencyError(
                        f"could not create a virtual environment ({installer}): "
                        f"{outcome.tail[-1] if outcome.tail else 'no output'}",
                        hint="On Debian and Ubuntu the venv module needs the python3-venv package.",
                        output=tail,
                    )
                if outcome.returncode != 0:
                    why = diagnose_install_failure(outcome.tail, deps, installer)
                    raise DependencyError(
                        f"could not install {', '.join(why.packages)}: {why.reason}",
                        hint=why.hint,
                        packages=why.packages,
                        output=tail,
                    )
            marker = {
                "key": key,
                "deps": deps,
                "requires_python": meta.requires_python,
                "python": _base_version(),
                "installer": installer,
                "created_at": utcnow().isoformat(),
            }
            (home / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            staged = self.root / f".{home.name}.link"
            os.symlink(home.name, staged)
            os.replace(staged, self.root / key)
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.root / f".{home.name}.link").unlink()
            raise
        return home / "bin" / "python"


def _tree_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total
