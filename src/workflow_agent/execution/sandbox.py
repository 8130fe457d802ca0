"""Isolation policy for a run, turned into the argv that enforces it.

Preferred: bubblewrap with every namespace unshared (network only when declared), a read-only
root, the work dir and declared paths writable, a private /tmp and /run (the host's /run only
with declared unix sockets), secret files and folders masked, all capabilities dropped, nested
user namespaces disabled, a cleared environment, and the launcher's seccomp filter (no unix
sockets unless declared, no ptrace, mounts or keyrings). Where user
namespaces are blocked: the Landlock + seccomp launcher (``confine``). Where neither works:
resource limits only, with a warning on every run. ``--sandbox none`` exists and says so loudly.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from workflow_agent.core.errors import ValidationError


class Isolation(StrEnum):
    AUTO = "auto"
    BWRAP = "bwrap"
    LANDLOCK = "landlock"
    RLIMITS = "rlimits"
    NONE = "none"


# Folders and files that hold credentials: hidden from every sandboxed run unless declared readable.
SECRET_PATHS = (
    ".ssh",
    ".aws",
    ".gnupg",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".azure",
    ".netrc",
    ".git-credentials",
    ".config/gh",
    ".config/hub",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".my.cnf",
    ".vault-token",
    ".terraform.d",
    ".password-store",
    ".local/share/keyrings",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".config/BraveSoftware",
    ".thunderbird",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".lesshst",
    ".viminfo",
    ".config/op",
    ".config/rclone",
    ".s3cfg",
    ".boto",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".gem/credentials",
    ".config/anthropic",
    ".config/openai",
)
SYSTEM_SECRETS = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/root/.ssh",
)

# Files that make code run outside the sandbox later, at the next login or git command. They
# stay read-only even inside a writable path (running from your home folder, or a repository's
# root), unless a declared write path or the work dir is one of them or inside one.
STARTUP_PATHS = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".xprofile",
    ".xsessionrc",
    ".xinitrc",
    ".pam_environment",
    ".gitconfig",
    ".config/git",
    ".config/fish",
    ".config/autostart",
    ".config/systemd",
    ".config/environment.d",
    ".local/bin",
)
# Inside any writable folder that is a repository: hooks run, and config can name programs to run.
REPOSITORY_PATHS = (".git/config", ".git/hooks")

# Environment passed into the sandbox: the basics a script expects, nothing that carries a secret.
ENV_ALLOW = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "SHELL",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "COLORTERM",
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
)
ENV_ALLOW_PREFIXES = ("LC_", "WORKFLOW_")
# Every sandbox starts from these: the host's root read-only, a fresh /dev and /proc.
BASE_MOUNTS = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")
# On systemd-resolved machines this links into /run, which runs get a private copy of.
RESOLV_CONF = Path("/etc/resolv.conf")


@dataclass(frozen=True)
class Probe:
    """What isolation this machine offers, and why the better ones are not available."""

    mode: Isolation
    reasons: dict[str, str] = field(default_factory=dict)  # isolation -> why it is unusable, if it is
    bwrap: str | None = None


@dataclass(frozen=True)
class SandboxPolicy:
    workdir: Path
    home: Path
    state_dir: Path  # WORKFLOW_HOME: masked, so a run cannot read other runs' history or tamper with versions
    code_path: Path
    network: bool = False
    unix_sockets: bool = False  # may connect to local daemons (docker, D-Bus, databases) by socket path
    write: tuple[Path, ...] = ()
    read: tuple[Path, ...] = ()
    extra_exec: tuple[Path, ...] = ()  # e.g. a dependency environment inside WORKFLOW_HOME


def seccomp_fd(unix_sockets: bool) -> int:
    """A readable pipe holding the seccomp filter for ``bwrap --seccomp FD``; the caller passes
    it to bwrap and closes it. Network families are left to the network namespace."""
    from workflow_agent.execution.confine_seccomp import filter_bytes

    raw = filter_bytes(network=True, unix_sockets=unix_sockets)
    read, write = os.pipe()
    try:
        os.write(write, raw)  # a few hundred bytes: far below the pipe's buffer
    finally:
        os.close(write)
    return read


@functools.cache
def _bwrap_problem(bwrap: str) -> str | None:
    """Run the real sandbox once around `true`; the error text if it cannot start here."""
    try:
        fd = seccomp_fd(unix_sockets=False)
    except Exception as exc:  # any failure (e.g. no syscall table for this CPU) rules the filter out
        return f"cannot build the seccomp filter: {exc}"
    argv = [
        bwrap,
        *BASE_MOUNTS,
        "--seccomp",
        str(fd),
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--",
        "true",
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False, pass_fds=(fd,))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        os.close(fd)
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
    return None


def probe() -> Probe:
    """Detect the strongest isolation that works here."""
    reasons: dict[str, str] = {}
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        reasons["bwrap"] = "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    else:
        problem = _bwrap_problem(bwrap)
        if problem is None:
            return Probe(Isolation.BWRAP, reasons, bwrap)
        reasons["bwrap"] = f"bubblewrap cannot create namespaces here: {problem}"
    landlock = _landlock_problem()
    if landlock is None:
        return Probe(Isolation.LANDLOCK, reasons, bwrap)
    reasons["landlock"] = landlock
    return Probe(Isolation.RLIMITS, reasons, bwrap)


def _landlock_problem() -> str | None:
    try:
        from workflow_agent.execution import confine
    except ImportError:  # pragma: no cover - the launcher ships with the package
        return "the Landlock launcher is missing"
    if confine.landlock_abi() <= 0:
        return "the kernel does not offer Landlock"
    if not confine.seccomp_available():
        return "the kernel does not offer seccomp filters"
    return None


def resolve(requested: Isolation, found: Probe) -> Isolation:
    """The isolation a run gets: the strongest available, or what was asked for if it works."""
    if requested is Isolation.AUTO:
        return found.mode
    if requested in (Isolation.NONE, Isolation.RLIMITS):
        return requested
    order = [Isolation.BWRAP, Isolation.LANDLOCK, Isolation.RLIMITS]
    if order.index(requested) < order.index(found.mode):
        why = found.reasons.get(requested.value, "not available")
        raise ValidationError(
            f"--sandbox {requested.value} is not usable here: {why}", hint="Run `workflow doctor`."
        )
    return requested


def sandbox_env(env: Mapping[str, str], keep: set[str]) -> dict[str, str]:
    """The allow-listed part of ``env`` plus the names in ``keep`` (workflow vars, params, secrets)."""
    return {
        name: value
        for name, value in env.items()
        if name in keep or name in ENV_ALLOW or name.startswith(ENV_ALLOW_PREFIXES)
    }


def secret_targets(home: Path, keep: tuple[Path, ...]) -> list[Path]:
    """Credential files and folders to hide, narrowed so that declared paths (``keep``) stay visible.

    A declared path inside a secret folder does not un-hide the folder: only the entries on the
    way to it are spared (``read: [~/.ssh/known_hosts]`` leaves ``~/.ssh/id_rsa`` hidden).
    """
    kept = [k.resolve() for k in keep]
    targets = [home / rel for rel in SECRET_PATHS] + [Path(p) for p in SYSTEM_SECRETS]
    found: list[Path] = []
    for target in targets:
        if os.path.lexists(target):
            found += _narrow(target, kept)
    return found


def _narrow(target: Path, kept: list[Path]) -> list[Path]:
    real = target.resolve()
    if any(real == k or real.is_relative_to(k) for k in kept):
        return []  # declared itself, or inside something declared
    inside = [k for k in kept if k.is_relative_to(real)]
    if not inside or not target.is_dir():
        return [target]
    hidden: list[Path] = []
    for child in sorted(target.iterdir()):
        hidden += _narrow(child, inside)
    return hidden


def _mask(target: Path) -> list[str]:
    return ["--tmpfs", str(target)] if target.is_dir() else ["--ro-bind", "/dev/null", str(target)]


def bwrap_argv(
    bwrap: str, policy: SandboxPolicy, argv: list[str], env: Mapping[str, str], *, seccomp: int | None
) -> list[str]:
    """The full bubblewrap command line for ``argv`` under ``policy``; ``seccomp`` is the fd of
    :func:`seccomp_fd` (to pass to the process), or None to run without the filter."""
    args = [
        bwrap,
        *BASE_MOUNTS,
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/tmp",
        "--tmpfs",
        "/dev/shm",
    ]
    if not policy.unix_sockets:
        args += _private_run()
    writable = (policy.workdir, *policy.write)
    for path in writable:
        if not path.exists():
            raise ValidationError(
                f"declared writable path {path} does not exist", hint="Create it, or fix permissions.write."
            )
        args += ["--bind", str(path), str(path)]
    # Masks go on top of the writable binds, so running from your home folder does not expose
    # ~/.ssh; our own state (history, logs, other workflows) is hidden the same way.
    masked = [policy.state_dir, *secret_targets(policy.home, (*policy.read, *policy.write))]
    for target in masked:
        args += _mask(target)
    # Then what this run needs from under a mask: its code, its dependency env, declared paths.
    for path in (policy.code_path, *policy.extra_exec, *policy.read):
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        if any(path.resolve().is_relative_to(m.resolve()) for m in masked):
            args += ["--bind", str(path), str(path)]
    for path in protected_targets(policy):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    if policy.network:
        args += ["--share-net"]
    args += [
        "--hostname",
        "workflow",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--chdir",
        str(policy.workdir),
        "--clearenv",
    ]
    if seccomp is not None:
        args += ["--seccomp", str(seccomp)]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return [*args, "--", *argv]


def _startup_candidates(policy: SandboxPolicy) -> list[Path]:
    """Where start-up files and repository hooks would be, if inside a writable path."""
    writable = [p.resolve() for p in (policy.workdir, *policy.write)]
    candidates = [policy.home / rel for rel in STARTUP_PATHS]
    candidates += [root / rel for root in writable for rel in REPOSITORY_PATHS]
    inside: list[Path] = []
    for path in candidates:
        real = Path(os.path.realpath(path))
        if real not in inside and any(real.is_relative_to(root) for root in writable):
            inside.append(real)
    return inside


def protected_targets(policy: SandboxPolicy) -> list[Path]:
    """Existing start-up files and repository hooks that fall inside a writable path.

    Only existing ones: a missing file cannot become a mount point without creating it on the
    host (see :func:`startup_snapshot` for how a run that creates one is reported). A symlinked
    file is protected at its target; the link itself can still be replaced.
    """
    # Running from inside one, or declaring one writable, names it: the person chose it.
    declared = [p.resolve() for p in (policy.workdir, *policy.write)]
    return [
        path
        for path in _startup_candidates(policy)
        if path.exists() and not any(d.is_relative_to(path) for d in declared)
    ]


Snapshot = dict[Path, tuple[int, int] | None]


def startup_snapshot(policy: SandboxPolicy) -> Snapshot:
    """Size and change time of every start-up file or hook folder a run could write (None when
    missing), to tell the person afterwards what the run created or changed there."""
    return {path: _state(path) for path in _startup_candidates(policy)}


def startup_changes(before: Snapshot, home: Path) -> str | None:
    """A note naming the start-up files and hooks a run created, changed or removed."""
    home = Path(os.path.realpath(home))
    changed: list[str] = []
    for path, was in before.items():
        now = _state(path)
        if now != was:
            verb = "created" if was is None else "removed" if now is None else "changed"
            shown = f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
            changed.append(f"{verb} {shown}")
    if not changed:
        return None
    return (
        f"this run {', '.join(changed)}: such files make code run at your next login or git command; "
        "check them"
    )


def _state(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns)


def _private_run() -> list[str]:
    """An empty /run: it holds the host's daemon sockets and FIFOs (/run/initctl takes shutdown
    requests from root), which the filesystem's read-only flag does not stop. Only the resolver
    configuration is kept, for workflows that declare network."""
    args = ["--tmpfs", "/run"]
    resolv = Path(os.path.realpath(RESOLV_CONF))
    if resolv.is_relative_to("/run") and resolv.is_file():
        args += ["--ro-bind", str(resolv), str(resolv)]
    return args


def describe(mode: Isolation, policy: SandboxPolicy) -> str:
    """One line saying what a run may touch, for the run banner and `doctor`."""
    net = "network allowed" if policy.network else "no network"
    net += "; unix sockets allowed" if policy.unix_sockets else "; no unix sockets"
    writable = ", ".join(str(p) for p in (policy.workdir, *policy.write))
    if mode is Isolation.BWRAP:
        return f"sandbox: bubblewrap; writable: {writable}; {net}; secrets masked"
    if mode is Isolation.LANDLOCK:
        return f"sandbox: Landlock + seccomp; writable: {writable}; {net}"
    if mode is Isolation.RLIMITS:
        return "sandbox: resource limits only (no filesystem or network isolation on this machine)"
    return "sandbox: NONE (--sandbox none): the script runs with all your rights"
