"""The pure parts of dependency environments: requirement names, requires-python, installer output.

Kept apart from ``pyenv`` so that module holds only the cache and its file-system protocol.
Nothing here touches the disk except ``run_streaming``, which runs one installer command.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "Diagnosis",
    "Outcome",
    "canonical_name",
    "diagnose_install_failure",
    "installer_commands",
    "normalise_requirement",
    "pip_has_python_flag",
    "python_satisfies",
    "requirement_name",
    "run_streaming",
]

# PEP 508 names: letters and digits, with . _ - only inside. Anything else (a leading "-" above
# all) is refused, so a dependency string can never be read by the installer as an option.
_NAME: Final = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(.*)\Z", re.DOTALL)
_EXTRAS: Final = re.compile(r"\[([^\]]*)\]")
_CLAUSE: Final = re.compile(r"\s*(~=|===|==|!=|<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?\s*\Z")
TAIL_LINES: Final = 400
_PIP_PYTHON_FLAG: Final = (22, 3)  # the first pip with `pip --python <interpreter>`
_TRUE: Final = frozenset({"1", "true", "yes", "on", "y"})


def canonical_name(name: str) -> str:
    """PEP 503 normal form: ``Foo.Bar_baz`` and ``foo-bar-baz`` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str | None:
    """The project name at the start of a PEP 508 requirement, as written; None if there is none."""
    match = _NAME.match(requirement)
    return None if match is None else match.group(1)


def normalise_requirement(requirement: str) -> str:
    """A spelling of ``requirement`` that is the same for every way of writing the same thing.

    Only used for the cache key: names are canonicalised, extras sorted, whitespace outside
    environment markers dropped (it carries no meaning there) and collapsed inside them.
    """
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"{requirement!r} does not start with a package name")
    rest = match.group(2).strip()
    # A URL may itself contain ";", so for "name @ url" only a ";" after whitespace starts markers.
    splitter = r"\s+;" if rest.startswith("@") else ";"
    parts = re.split(splitter, rest, maxsplit=1)
    body = re.sub(r"\s+", "", parts[0])
    marker = " ".join(parts[1].split()) if len(parts) > 1 else ""
    extras = _EXTRAS.match(body)
    if extras is not None:
        names = sorted({canonical_name(e.strip()) for e in extras.group(1).split(",") if e.strip()})
        body = f"[{','.join(names)}]" + body[extras.end() :]
    text = canonical_name(match.group(1)) + body
    return f"{text}; {marker}" if marker else text


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _clause_holds(op: str, target: tuple[int, ...], wildcard: bool, version: tuple[int, ...]) -> bool:
    if wildcard:
        head = _padded(version, target)[0][: len(target)]
        return (head == target) == (op == "==")
    if op == "~=":
        prefix = target[:-1]
        return _clause_holds(">=", target, False, version) and _clause_holds("==", prefix, True, version)
    mine, theirs = _padded(version, target)
    compare: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
        "==": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
        "<=": lambda x, y: x <= y,
        ">=": lambda x, y: x >= y,
        "<": lambda x, y: x < y,
        ">": lambda x, y: x > y,
    }
    return compare[op](mine, theirs)


def python_satisfies(spec: str, version: tuple[int, ...]) -> bool:
    """Whether a release ``version`` such as (3, 11, 7) meets a ``requires-python`` specifier.

    A small PEP 440 subset (``packaging`` is not a dependency of the tool, so it cannot be
    relied on at run time): comma-joined clauses of ``>= <= == != > < ~= ===``, with ``.*`` after
    ``==``/``!=``. Versions are release numbers only; pre-release suffixes are refused with
    ValueError rather than guessed at. An empty specifier allows every version.
    """
    if not spec.strip():
        return True
    verdict = True
    for raw in spec.split(","):
        match = _CLAUSE.match(raw)
        if match is None:
            raise ValueError(f"cannot understand the version clause {raw.strip()!r}")
        op, text, wildcard = match.group(1), match.group(2), match.group(3) is not None
        target = tuple(int(part) for part in text.split("."))
        if wildcard and op not in ("==", "!="):
            raise ValueError(f"{op} cannot be used with a .* version: {raw.strip()!r}")
        if op == "~=" and len(target) < 2:
            raise ValueError(f"~= needs at least two version numbers: {raw.strip()!r}")
        if op == "===":
            holds = text == ".".join(str(part) for part in version)
        else:
            holds = _clause_holds(op, target, wildcard, version)
        # Every clause is checked, so a malformed one is reported even after a failing one.
        verdict = verdict and holds
    return verdict


def pip_has_python_flag() -> bool:
    """Whether the pip beside this interpreter can install into another one (`pip --python`)."""
    if importlib.util.find_spec("pip") is None:
        return False
    found = re.match(r"(\d+)\.(\d+)", importlib.metadata.version("pip"))
    return found is not None and (int(found.group(1)), int(found.group(2))) >= _PIP_PYTHON_FLAG


def _uv_flags_from_pip(env: dict[str, str]) -> list[str]:
    """Carry the user's PIP_* index settings over to uv, which reads only its own UV_* names."""
    pairs = (("PIP_INDEX_URL", "UV_INDEX_URL"), ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"))
    for pip_name, uv_name in pairs:
        if env.get(pip_name) and not env.get(uv_name):
            env[uv_name] = env[pip_name]
    if env.get("PIP_FIND_LINKS") and not env.get("UV_FIND_LINKS"):
        env["UV_FIND_LINKS"] = ",".join(env["PIP_FIND_LINKS"].split())
    return ["--no-index"] if env.get("PIP_NO_INDEX", "").strip().lower() in _TRUE else []


def installer_commands(
    home: Path, deps: Sequence[str], *, uv: str | None
) -> tuple[str, list[list[str]], dict[str, str]]:
    """The installer's name, the commands that create ``home`` and install ``deps``, and their env.

    The user's environment is inherited so pip's configuration and index URLs apply. With ``uv``
    (its path) uv makes the venv and installs; otherwise a pip-less venv is made and this
    interpreter's pip installs into it; a pip too old for that falls back to a venv with its own pip.
    """
    env = dict(os.environ)
    # These would send the install somewhere other than the new venv, or break its python.
    for name in ("PYTHONHOME", "PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",  # a credential prompt would hang: nobody can answer through the pipe
        PIP_PROGRESS_BAR="off",
        PIP_USER="0",
        PYTHONUNBUFFERED="1",
    )
    python = str(home / "bin" / "python")
    commands: list[list[str]]
    if uv is not None:
        flags = _uv_flags_from_pip(env)
        commands = [[uv, "venv", "--python", sys.executable, str(home)]]
        if deps:
            commands.append([uv, "pip", "install", "--python", python, *flags, *deps])
        return "uv", commands, env
    if pip_has_python_flag():
        # A venv without pip takes ~50 ms instead of ~4 s; our own pip installs into it.
        commands = [[sys.executable, "-m", "venv", "--without-pip", str(home)]]
        if deps:
            commands.append([sys.executable, "-m", "pip", "--python", python, "install", "--", *deps])
        return "pip", commands, env
    commands = [[sys.executable, "-m", "venv", str(home)]]
    if deps:
        commands.append([python, "-m", "pip", "install", "--", *deps])
    return "venv-pip", commands, env


@dataclass(frozen=True)
class Outcome:
    """How one installer command ended: its status, the tail of its output, and whether we killed it."""

    returncode: int
    tail: list[str]
    timed_out: bool


def _kill_group(proc: subprocess.Popen[str]) -> None:
    # pip runs build back ends as children; the whole session goes, not just pip.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_streaming(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str,
    output: Callable[[str], None] | None,
    timeout: float,
) -> Outcome:
    """Run ``argv`` with stderr merged into stdout, handing each line to ``output`` as it comes.

    The process gets its own session so a time-out or Ctrl-C (KeyboardInterrupt here) ends
    everything it started; the exception is re-raised after the process is gone.
    """
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    timed_out = threading.Event()

    def expire() -> None:
        # Only a live process is killed: once reaped, its pid (and group id) may belong to another.
        if proc.poll() is None:
            timed_out.set()
            _kill_group(proc)

    # A watchdog rather than select(): line iteration blocks, and the deadline must still hold.
    timer = threading.Timer(max(timeout, 0.0), expire)
    timer.daemon = True
    timer.start()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\r\n")
            tail.append(line)
            if output is not None:
                output(line)
        returncode = proc.wait()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        timer.cancel()
        proc.stdout.close()
    return Outcome(returncode=returncode, tail=list(tail), timed_out=timed_out.is_set())


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong with an install, for a person: which packages, why, and what to try."""

    packages: tuple[str, ...]
    reason: str
    hint: str


_NETWORK: Final = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|No route to host|Connection refused|ConnectTimeoutError|ReadTimeoutError"
    r"|ProxyError|SSLError|CERTIFICATE_VERIFY_FAILED|dns error|error sending request|tcp connect error"
    r"|Could not connect|connection broken by|Failed to fetch",
    re.IGNORECASE,
)
# pip names the index page it could not reach: "...': /simple/requests/".
_NETWORK_NAME: Final = re.compile(r"/simple/([A-Za-z0-9._-]+)/")
_NOT_FOUND: Final = (
    re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
    re.compile(r"No matching distribution found for (\S+)"),
    re.compile(r"Because (\S+) was not found in the (?:package registry|provided package locations)"),
    re.compile(r"(?:error: )?(\S+) was not found in the (?:package registry|provided package locations)"),
    re.compile(r"Because there (?:are|is) no versions? of (\S+)"),
)
_BUILD: Final = (
    re.compile(r"Failed building wheel for (\S+)"),
    re.compile(r"Failed to (?:download and )?build `([^`]+)`"),
    re.compile(r"Failed to build (?!installable)(\S+)"),
)
_INVALID: Final = re.compile(r"Invalid requirement: '([^']*)'")
_CONFLICT: Final = re.compile(r"ResolutionImpossible|conflicting dependencies|No solution found")
_ERROR_PREFIX: Final = re.compile(r"(?i)error:\s*")
_AUTH: Final = re.compile(r"\b(401|403)\b.*(?:Client Error|Forbidden|Unauthorized)|HTTP error 40[13]")

_HINT_NAME: Final = (
    "Check the package name and version on the package index, the network connection, and any index "
    "URL in {config}."
)
_HINT_NETWORK: Final = (
    "The package index could not be reached: check the network connection, proxy settings "
    "(HTTPS_PROXY) and any index URL in {config}."
)
_CONFIG: Final = {
    "uv": "uv's configuration (UV_INDEX_URL, uv.toml)",
    "pip": "pip's configuration (PIP_INDEX_URL, pip.conf)",
}


def _names(found: Sequence[str], declared: Sequence[str]) -> tuple[str, ...]:
    """Installer spellings mapped back to bare project names, in order, without repeats."""
    names: list[str] = []
    for item in found:
        name = requirement_name(item.strip("'\"`,")) or item
        if canonical_name(name) not in {canonical_name(n) for n in names}:
            names.append(name)
    if names:
        return tuple(names)
    return tuple(requirement_name(d) or d for d in declared)


def _first(patterns: Sequence[re.Pattern[str]], lines: Sequence[str]) -> list[str]:
    found: list[str] = []
    for line in lines:
        for pattern in patterns:
            found.extend(m.group(1) for m in pattern.finditer(line))
    return found


def diagnose_install_failure(
    lines: Sequence[str], declared: Sequence[str], installer: str = "pip"
) -> Diagnosis:
    """Read pip's (or uv's) output after a failed install and say which packages failed and why.

    Network trouble is looked for first: pip reports an unreachable index as "No matching
    distribution found", which would otherwise send the user hunting for a typo.
    """
    config = _CONFIG.get(installer, _CONFIG["pip"])
    text = "\n".join(lines)
    if _NETWORK.search(text):
        found = _NETWORK_NAME.findall(text) or _first(_NOT_FOUND, lines)
        return Diagnosis(
            _names(found, declared),
            "the package index could not be reached",
            _HINT_NETWORK.format(config=config),
        )
    if _AUTH.search(text):
        hint = "The package index refused the request: check the credentials for the index URL."
        return Diagnosis(_names([], declared), "the package index refused access", hint)
    invalid = _INVALID.findall(text)
    if invalid:
        hint = "Fix the dependency in the script's `# /// script` block (PEP 508 syntax)."
        return Diagnosis(_names(invalid, declared), "the requirement is not valid", hint)
    missing = _first(_NOT_FOUND, lines)
    if missing:
        return Diagnosis(
            _names(missing, declared), "no matching distribution was found", _HINT_NAME.format(config=config)
        )
    broken = _first(_BUILD, lines)
    if broken:
        hint = (
            "The package had to be built from source and the build failed; the installer output above "
            "says why (often a missing compiler or system library)."
        )
        return Diagnosis(_names(broken, declared), "building it failed", hint)
    if _CONFLICT.search(text):
        hint = "Loosen the version constraints so that one set of versions satisfies them all."
        return Diagnosis(_names([], declared), "the version constraints conflict", hint)
    errors = [
        _ERROR_PREFIX.sub("", line.strip(), count=1) for line in lines if _ERROR_PREFIX.match(line.strip())
    ]
    reason = errors[-1] if errors else (lines[-1].strip() if lines else "the installer failed")
    return Diagnosis(_names([], declared), reason, _HINT_NAME.format(config=config))
