"""Turn a workflow's permissions into the command line and environment of one isolated run."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workflow_agent.core.settings import Settings
from workflow_agent.core.types import Workflow
from workflow_agent.execution import sandbox
from workflow_agent.execution.sandbox import Isolation, SandboxPolicy

RUN_VARS = ("WORKFLOW_NAME", "WORKFLOW_VERSION", "WORKFLOW_RUN_ID")


@dataclass(frozen=True)
class Prepared:
    argv: list[str]
    env: dict[str, str]
    mode: Isolation
    banner: str
    warning: str | None
    scratch: Path | None = None  # a private temp folder made for this run
    pass_fds: tuple[int, ...] = ()  # open in this process until cleanup: the run inherits them
    startup: sandbox.Snapshot = field(default_factory=dict)  # start-up files as they were before
    home: Path = Path("~")

    def startup_note(self) -> str | None:
        """What the run did to start-up files and repository hooks, if anything."""
        return sandbox.startup_changes(self.startup, self.home)

    def cleanup(self) -> None:
        for fd in self.pass_fds:
            with contextlib.suppress(OSError):  # already closed: cleanup may run twice
                os.close(fd)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _paths(values: list[str], cwd: Path) -> tuple[Path, ...]:
    return tuple((cwd / Path(v).expanduser()).resolve() for v in values)


def _private_state(settings: Settings) -> list[Path]:
    """What of WORKFLOW_HOME a run must not read: other runs' output and logs."""
    names = ("history.db", "history.db-wal", "history.db-shm", "logs")
    return [settings.home / name for name in names if (settings.home / name).exists()]


def prepare(
    workflow: Workflow,
    argv: list[str],
    env: Mapping[str, str],
    *,
    cwd: Path,
    settings: Settings,
    requested: Isolation,
    param_names: set[str],
    extra_exec: tuple[Path, ...] = (),
) -> Prepared:
    """Choose the isolation, build the policy from the manifest, and wrap ``argv`` in it."""
    permissions = workflow.config.permissions
    mode = Isolation.NONE if requested is Isolation.NONE else sandbox.resolve(requested, sandbox.probe())
    policy = SandboxPolicy(
        workdir=cwd.resolve(),
        home=Path(env.get("HOME") or os.path.expanduser("~")),
        state_dir=settings.home,
        code_path=Path(argv[-1]),
        extra_exec=extra_exec,
        network=permissions.network,
        unix_sockets=permissions.unix_sockets,
        write=_paths(permissions.write, cwd),
        read=_paths(permissions.read, cwd),
    )
    before = sandbox.startup_snapshot(policy)
    if mode is Isolation.NONE:
        loud = sandbox.describe(mode, policy)
        return Prepared(argv, dict(env), mode, loud, loud, startup=before, home=policy.home)
    keep = set(workflow.config.env_vars) | param_names | set(permissions.secrets) | set(RUN_VARS)
    clean = sandbox.sandbox_env(env, keep)
    if mode is Isolation.BWRAP:
        probe = sandbox.probe()
        assert probe.bwrap is not None
        fd = sandbox.seccomp_fd(policy.unix_sockets)
        try:
            wrapped = sandbox.bwrap_argv(probe.bwrap, policy, argv, clean, seccomp=fd)
        except BaseException:
            os.close(fd)
            raise
        banner = sandbox.describe(mode, policy)
        return Prepared(wrapped, clean, mode, banner, None, pass_fds=(fd,), startup=before, home=policy.home)
    if mode is Isolation.LANDLOCK:
        from workflow_agent.execution.confine import confine_argv

        # Landlock cannot give the run its own /tmp, so it gets a private folder to write in.
        scratch = Path(tempfile.mkdtemp(prefix=f"workflow-{workflow.name}-"))
        clean["TMPDIR"] = str(scratch)
        declared = (*policy.read, *policy.write)
        hide = [*sandbox.secret_targets(policy.home, declared), *_private_state(settings)]
        wrapped = [
            *confine_argv(
                ro=[],
                rw=[policy.workdir, *policy.write, scratch],
                network=policy.network,
                hide=hide,
                unix_sockets=policy.unix_sockets,
            ),
            *argv,
        ]
        warning = "bubblewrap is unusable here; running under Landlock + seccomp (see `workflow doctor`)"
        banner = sandbox.describe(mode, policy)
        return Prepared(wrapped, clean, mode, banner, warning, scratch, startup=before, home=policy.home)
    warning = "no filesystem or network isolation here: resource limits only (see `workflow doctor`)"
    return Prepared(
        list(argv), clean, mode, sandbox.describe(mode, policy), warning, startup=before, home=policy.home
    )
