"""Rules for losing work and infrastructure: destructive git operations, cloud and cluster
deletions, and package installs (a note, since they run code from the network)."""

from __future__ import annotations

import re

from . import paths
from .context import Cmd, Ctx, handles
from .model import Severity
from .paths import Place
from .rules_system import cloud_destroy
from .words import names

_GIT_GLOBAL_ARGS = names("-C -c --git-dir --work-tree --namespace --exec-path --config-env")
_PROTECTED = re.compile(r"^(\+?)(?:[\w./-]*:)?(?:refs/heads/)?(main|master|trunk|prod|production|release.*)$")
_LOCAL_LOSS = "Throws away uncommitted or unpushed work"


@handles("git")
def git(ctx: Ctx, cmd: Cmd) -> None:
    """git: force pushes, and operations that throw work away."""
    words = cmd.args
    elsewhere: str | None = None
    i = 0
    while i < len(words):
        text = words[i].value or ""
        if not text.startswith("-"):
            break
        name, eq, val = text.partition("=")
        point = words[i].point
        if name in _GIT_GLOBAL_ARGS and not eq and i + 1 < len(words):
            val = words[i + 1].value or ""
            i += 1
        if name in ("-c", "--config-env") and re.search(
            r"(pager|editor|sshcommand|fsmonitor|hookspath)", val, re.I
        ):
            ctx.run("bash", val.split("=", 1)[-1], point)
        elif name in ("-C", "--work-tree", "--git-dir"):
            elsewhere = val
        elif name == "--exec-path" and eq:
            ctx.flag(
                "exec.git-exec-path",
                Severity.MEDIUM,
                point,
                cmd.snippet,
                "Makes git run its helper programs from another directory.",
            )
        i += 1
    if i >= len(words):
        return
    sub = (words[i].value or "").lower()
    # Long options and words are compared in lower case (git on a case-insensitive disk);
    # short options keep their case, since -d and -D differ.
    rest = [(w.value or w.text) for w in words[i + 1 :]]
    rest = [r if r.startswith("-") and not r.startswith("--") else r.lower() for r in rest]
    rest = [r.replace("\u2010", "-").replace("\u2011", "-").replace("\u2013", "-") for r in rest]
    if sub == "push":
        _push(ctx, cmd, rest)
        return
    if sub == "config":
        _config(ctx, cmd, [(w.value or w.text) for w in words[i + 1 :]])
        return
    loses = _destructive(sub, rest)
    if not loses:
        return
    where = paths.place(elsewhere, None) if elsewhere else paths.place(".", ctx.cwd)
    outside = where in (Place.ROOT, Place.HOME, Place.SYSTEM, Place.HOME_ITEM)
    ctx.flag(
        "vcs.discard",
        Severity.HIGH if outside else Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        f"{_LOCAL_LOSS} ({loses})" + (f" in {elsewhere or ctx.cwd}." if outside else "."),
    )


# Settings whose value is a program git runs later (at commit, fetch, diff, every status...).
_RUNS_PROGRAM = re.compile(
    r"^(core\.(fsmonitor|hookspath|sshcommand|gitproxy|askpass)|diff\.external|diff\..+\.(textconv|command)"
    r"|filter\..+\.(clean|smudge|process)|merge\..+\.driver|uploadpack\.packobjectshook"
    r"|gpg\.(.+\.)?program|include\.path|includeif\..+\.path)$"
)
# Settings that run a program only in some spellings: "!cmd" aliases and helpers, pagers and
# editors given a shell command line rather than a program name.
_RUNS_IF_SHELL = re.compile(r"^(alias\..+|credential(\..+)?\.helper|core\.(pager|editor)|sequence\.editor)$")
_SHELL_LINE = re.compile(r"^\s*!|[;&|`]|\$\(")
_CONFIG_TAKES_VALUE = names("-f --file --blob --type --default --comment")


def _config(ctx: Ctx, cmd: Cmd, args: list[str]) -> None:
    """``git config KEY VALUE`` that makes later git commands run a program."""
    positional: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            if arg in ("--unset", "--unset-all", "--get", "--get-all", "--get-regexp", "--list", "-l"):
                return
            skip = arg in _CONFIG_TAKES_VALUE
        else:
            positional.append(arg)
    if positional[:1] == ["set"]:  # git 2.46+: git config set KEY VALUE
        positional = positional[1:]
    if len(positional) < 2:
        return
    key, value = positional[0].lower(), positional[1]
    if _RUNS_PROGRAM.match(key) or (_RUNS_IF_SHELL.match(key) and _SHELL_LINE.search(value)):
        ctx.flag(
            "persist.git-hook",
            Severity.MEDIUM,
            cmd.point,
            cmd.snippet,
            f"Sets git's {key} to {value[:60]!r}, which git runs at later git commands, outside any sandbox.",
        )


def _destructive(sub: str, rest: list[str]) -> str:
    flags = {r for r in rest if r.startswith("-")}
    shorts = "".join(r[1:] for r in flags if not r.startswith("--"))
    if sub == "reset" and flags & {"--hard", "--merge", "--keep"}:
        return "git reset " + next(iter(flags & {"--hard", "--merge", "--keep"}))
    if (
        sub == "clean"
        and ("f" in shorts or "--force" in flags)
        and not ("n" in shorts or "--dry-run" in flags)
    ):
        return "git clean deletes untracked files"
    if sub == "checkout" and ("--" in rest or "-f" in flags or "--force" in flags or rest == ["."]):
        return "git checkout overwrites files"
    if sub == "restore" and not ({"--staged", "-S"} & flags and not {"--worktree", "-W"} & flags):
        return "git restore overwrites files"
    if sub == "stash" and rest[:1] in (["drop"], ["clear"]):
        return "git stash " + rest[0]
    if sub == "branch" and (
        "D" in "".join(r[1:] for r in flags if not r.startswith("--")) or "--force" in flags
    ):
        return "git branch -D"
    if sub in ("filter-branch", "filter-repo", "gc") and (sub != "gc" or any("prune" in r for r in rest)):
        return f"git {sub} rewrites or prunes history"
    if sub == "reflog" and rest[:1] == ["expire"]:
        return "git reflog expire"
    return ""


def _push(ctx: Ctx, cmd: Cmd, rest: list[str]) -> None:
    flags = [r for r in rest if r.startswith("-")]
    refs = [r for r in rest if not r.startswith("-")]
    forced = any(
        f in ("--force", "--mirror")
        or f.startswith("--force=")
        or f.startswith("--force-with-lease")
        or (not f.startswith("--") and "f" in f)
        for f in flags
    ) or any(r.startswith("+") for r in refs[1:])
    if not forced:
        return
    protected = [r for r in refs[1:] if _PROTECTED.match(r)]
    ctx.flag(
        "vcs.force-push",
        Severity.HIGH if protected else Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        f"Force-pushes over {protected[0].lstrip('+')}, destroying commits others rely on."
        if protected
        else "Force-pushes, which can overwrite commits on the remote branch.",
    )


@handles("terraform", "tofu", "pulumi", "cdk")
def infra(ctx: Ctx, cmd: Cmd) -> None:
    """Infrastructure-as-code destroy."""
    values = cmd.values()
    if "destroy" in values or "-destroy" in values:
        cloud_destroy(ctx, cmd, "Destroys all infrastructure managed by this configuration.")


@handles("kubectl", "oc", "helm")
def kube(ctx: Ctx, cmd: Cmd) -> None:
    """Bulk Kubernetes deletions."""
    values = cmd.values()
    if not values or values[0] not in ("delete", "uninstall", "drain"):
        return
    broad = any(v in ("--all", "-A", "--all-namespaces", "namespace", "ns", "drain") for v in values)
    if broad or values[0] == "drain":
        cloud_destroy(ctx, cmd, "Deletes many cluster resources at once.")


@handles("aws", "gcloud", "az", "gsutil", "doctl", "s3cmd")
def cloud_cli(ctx: Ctx, cmd: Cmd) -> None:
    """Cloud CLIs deleting resources or data."""
    values = [v.lower() for v in cmd.values()]
    deletes = any(
        v in ("delete", "rm", "rb", "terminate-instances", "del") or v.startswith("delete-") for v in values
    )
    if deletes and (
        cmd.name in ("gcloud", "az", "doctl")
        or "--recursive" in values
        or "-r" in values
        or "--force" in values
        or any(v.startswith(("delete-", "terminate")) for v in values)
    ):
        cloud_destroy(ctx, cmd, f"Deletes cloud resources or data with {cmd.name}.")


_INSTALLERS = {
    "pip": "install",
    "pip3": "install",
    "npm": "install i add",
    "yarn": "add install",
    "pnpm": "add install i",
    "gem": "install",
    "cargo": "install",
    "go": "install get",
    "apt": "install",
    "apt-get": "install",
    "brew": "install",
    "dnf": "install",
    "yum": "install",
    "pacman": "-S",
    "snap": "install",
    "dpkg": "-i --install",
    "rpm": "-i -U --install",
}


@handles(*_INSTALLERS)
def installs(ctx: Ctx, cmd: Cmd) -> None:
    """Package installs (a note only)."""
    verbs = _INSTALLERS[cmd.name].split()
    values = cmd.values()
    if values and values[0] in verbs and len(values) > 1:
        ctx.flag(
            "pkg.install",
            Severity.LOW,
            cmd.point,
            cmd.snippet,
            "Installs packages, whose install scripts run with your rights.",
        )
