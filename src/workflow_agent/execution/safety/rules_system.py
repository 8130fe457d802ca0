"""Rules for the machine itself: becoming root, users and sudoers, kernel modules, firewalls,
containers that reach the host, power and process control, services, scheduled jobs, and
erasing the history of what was done."""

from __future__ import annotations

import re

from .commands import SHELL_ESCAPE
from .context import Cmd, Ctx, handles
from .model import Severity
from .options import parse_opts
from .words import Word, names

_PRELOAD = frozenset({"LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "GCONV_PATH"})
_HISTORY_VARS = frozenset({"HISTFILE", "HISTSIZE", "HISTFILESIZE", "HISTCONTROL", "HISTIGNORE"})


def check_assignment(ctx: Ctx, name: str, value: Word, snippet: str, *, hot: bool = True) -> None:
    """Environment variables that change what programs load or whether history is kept."""
    text = value.value if value.value is not None else value.text
    point = value.point
    if name in _PRELOAD:
        ctx.flag(
            "priv.preload",
            Severity.HIGH,
            point,
            snippet,
            f"Sets {name}, forcing a library into every program started afterwards.",
        )
    elif name == "PATH" and re.match(r"^(:|\.?:|/tmp|/var/tmp|/dev/shm)", text):
        ctx.flag(
            "priv.path-hijack",
            Severity.MEDIUM,
            point,
            snippet,
            "Puts a temporary or current directory first in PATH, so files there can pose as real commands.",
        )
    elif name in _HISTORY_VARS and (text in ("", "0", "/dev/null") or (name == "HISTIGNORE" and text == "*")):
        _history(ctx, point, snippet)
    elif hot and SHELL_ESCAPE.search(text):
        ctx.flag(
            "exec.shell-escape",
            Severity.MEDIUM,
            point,
            snippet,
            f"Points {name} at a shell, so the next program that uses it opens a shell.",
        )


def _history(ctx: Ctx, point: tuple[int, int], snippet: str) -> None:
    ctx.flag(
        "logs.history",
        Severity.MEDIUM,
        point,
        snippet,
        "Turns off or erases the shell history, hiding what the script did.",
    )


@handles("history")
def history(ctx: Ctx, cmd: Cmd) -> None:
    """``history -c/-d/-w`` erase the shell history."""
    if any(v.startswith("-") and ("c" in v or "d" in v or "w" in v) for v in cmd.values()):
        _history(ctx, cmd.point, cmd.snippet)


@handles("unset")
def unset(ctx: Ctx, cmd: Cmd) -> None:
    """``unset HISTFILE`` stops history from being saved."""
    if any(v in _HISTORY_VARS for v in cmd.values()):
        _history(ctx, cmd.point, cmd.snippet)


@handles("set")
def set_(ctx: Ctx, cmd: Cmd) -> None:
    """``set +o history`` turns history off."""
    values = cmd.values()
    if "+o" in values and "history" in values:
        _history(ctx, cmd.point, cmd.snippet)


@handles("journalctl", "auditctl", "logrotate")
def logs(ctx: Ctx, cmd: Cmd) -> None:
    """Vacuuming the journal or clearing audit rules."""
    values = cmd.values()
    erase = any(v.startswith(("--vacuum", "--rotate", "--flush")) for v in values)
    erase = erase or (cmd.name == "auditctl" and ("-D" in values or "0" in values))
    if erase or (cmd.name == "logrotate" and "-f" in values):
        ctx.flag("logs.tamper", Severity.MEDIUM, cmd.point, cmd.snippet, "Deletes or disables system logs.")


@handles("sudo", "doas", "pkexec", "run0", "su", "runuser", "sudoedit", "sudo-rs")
def become_root(ctx: Ctx, cmd: Cmd) -> None:
    """``sudo``, ``su``, ``doas``…: running as root."""
    if cmd.name in ("sudo", "doas") and cmd.args and all(v in ("-v", "-k", "-K", "-l") for v in cmd.values()):
        return
    ctx.flag(
        "priv.root",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        f"Uses {cmd.name} to run commands as root (or another user), outside the workflow's limits.",
    )
    if cmd.name == "su":
        opts = parse_opts(cmd.args, names("-c -s -g -G --command --shell --group"))
        command = opts.value("-c", "--command")
        if command is not None:
            ctx.run("bash", command.value if command.value is not None else command.text, command.point)


@handles("useradd", "adduser", "usermod", "groupadd", "gpasswd", "passwd", "chpasswd", "userdel", "visudo")
def accounts(ctx: Ctx, cmd: Cmd) -> None:
    """User and group management, sudoers editing."""
    values = cmd.values()
    joined = " ".join(values)
    to_root = re.search(r"(^|\s)(-u|--uid)\s*0(\s|$)|(^|\s)-o(\s|$)|\b(sudo|wheel|admin|root)\b", joined)
    ctx.flag(
        "priv.accounts",
        Severity.HIGH if to_root or cmd.name == "visudo" else Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Creates or changes user accounts, passwords or admin rights."
        if not to_root
        else "Gives an account root or admin rights.",
    )


@handles("setcap")
def setcap(ctx: Ctx, cmd: Cmd) -> None:
    """File capabilities are root powers given to a program."""
    ctx.flag(
        "priv.setuid", Severity.HIGH, cmd.point, cmd.snippet, "Grants a program root-level capabilities."
    )


@handles("modprobe", "insmod", "rmmod", "kextload", "kmutil")
def kernel_modules(ctx: Ctx, cmd: Cmd) -> None:
    """Loading or removing kernel modules."""
    if any(v in ("-l", "--list", "-n", "--dry-run", "--show-depends", "-c") for v in cmd.values()):
        return
    ctx.flag(
        "priv.kernel-module",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Loads or removes kernel code, which has full control of the machine.",
    )


@handles("sysctl", "setenforce", "ldconfig", "aa-disable", "aa-teardown", "csrutil", "spctl")
def kernel_settings(ctx: Ctx, cmd: Cmd) -> None:
    """Kernel parameters and security switches (SELinux, AppArmor, SIP)."""
    values = cmd.values()
    if cmd.name == "sysctl" and not any(v == "-w" or "=" in v for v in values):
        return
    disables = cmd.name in ("aa-teardown", "aa-disable") or (
        values[:1] in (["0"], ["disable"], ["--master-disable"])
    )
    ctx.flag(
        "priv.system-settings",
        Severity.HIGH if disables else Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Turns off a system security feature." if disables else "Changes kernel or system-wide settings.",
    )


@handles("iptables", "ip6tables", "nft", "ufw", "firewall-cmd", "pfctl")
def firewall(ctx: Ctx, cmd: Cmd) -> None:
    """Firewall changes; flushing or disabling is the dangerous kind."""
    values = [v.lower() for v in cmd.values()]
    if not values or any(
        v in ("-l", "--list", "-s", "--list-rules", "list", "status", "-sr") for v in values
    ):
        return
    opens = any(
        v in ("-f", "--flush", "-x", "flush", "disable", "reset", "--panic-off", "-d") for v in values
    )
    opens = opens or ("-p" in values and "accept" in values)
    ctx.flag(
        "priv.firewall",
        Severity.HIGH if opens else Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Removes firewall rules, exposing the machine to the network."
        if opens
        else "Changes firewall rules.",
    )


_HOST_MOUNT = re.compile(r"(^|[\s,=])(/|/etc|/root|/home|/var/run/docker\.sock|/run/docker\.sock)(:|,|$)")


@handles("docker", "podman", "nerdctl", "ctr", "lxc", "incus")
def containers(ctx: Ctx, cmd: Cmd) -> None:
    """Containers that reach into the host, and bulk container deletion."""
    values = cmd.values()
    joined = " ".join(values)
    privileged = "--privileged" in values or "security.privileged=true" in joined
    host_root = any(
        _HOST_MOUNT.search(v)
        for i, v in enumerate(values)
        if i and values[i - 1] in ("-v", "--volume", "--mount")
    )
    host_root = host_root or bool(re.search(r"(src|source)=/(,|\s|$)|--volume=/:|-v\s*/:", joined))
    host_ns = any(
        v in ("--pid=host", "--net=host", "--network=host", "--ipc=host", "--userns=host") for v in values
    )
    if privileged or host_root:
        ctx.flag(
            "priv.container-escape",
            Severity.HIGH,
            cmd.point,
            cmd.snippet,
            "Starts a container with access to the host's root filesystem or devices: root on the host.",
        )
    elif host_ns or "--cap-add=ALL" in values or "--cap-add=SYS_ADMIN" in values:
        ctx.flag(
            "priv.container-escape",
            Severity.MEDIUM,
            cmd.point,
            cmd.snippet,
            "Starts a container that shares the host's processes, network or admin capabilities.",
        )
    wipes_all = values[:1] in (["rm"], ["rmi"]) and any(w.dynamic for w in cmd.args)
    if (
        wipes_all
        or values[:2] == ["system", "prune"]
        or values[:2] == ["volume", "prune"]
        or values[:2] == ["volume", "rm"]
    ):
        cloud_destroy(ctx, cmd, "Deletes containers, images or volumes and the data in them.")


@handles("mount", "umount", "sshfs", "mount.cifs", "losetup")
def mounts(ctx: Ctx, cmd: Cmd) -> None:
    """Mounting filesystems."""
    if not cmd.args or all(v.startswith("-") and v in ("-l", "-a", "--list", "-t") for v in cmd.values()):
        return
    ctx.flag("priv.mount", Severity.MEDIUM, cmd.point, cmd.snippet, "Mounts or unmounts filesystems.")


@handles("shutdown", "reboot", "halt", "poweroff", "init", "telinit", "kexec")
def power(ctx: Ctx, cmd: Cmd) -> None:
    """Shutdown, reboot, halt and runlevel changes."""
    values = cmd.values()
    if any(v in ("-c", "--help", "--version", "-k") for v in values):
        return
    if cmd.name in ("init", "telinit") and not any(v in ("0", "6", "1", "s", "S") for v in values):
        return
    ctx.flag(
        "power.shutdown",
        Severity.HIGH,
        cmd.point,
        cmd.snippet,
        "Shuts down or restarts the machine, killing everything that runs on it.",
    )


@handles("kill", "killall5", "pkill", "killall")
def kill(ctx: Ctx, cmd: Cmd) -> None:
    """Killing every process (``kill -9 -1``, ``killall5``) or init."""
    values = cmd.values()
    targets = [v for v in values if not v.startswith("-") or v == "-1"]
    if cmd.name == "killall5" or (cmd.name == "kill" and ("-1" in targets or "1" in targets)):
        if cmd.name == "kill" and values[:1] == ["-1"] and len(values) > 1 and values[1] != "-1":
            return  # kill -1 PID sends SIGHUP to PID
        ctx.flag(
            "power.kill-all",
            Severity.CRITICAL,
            cmd.point,
            cmd.snippet,
            "Kills every process on the machine (or init itself), like pulling the plug.",
        )


_CRITICAL_UNITS = re.compile(
    r"^(sshd?|networking|network-manager|NetworkManager|systemd-\w+|dbus|firewalld|ufw|auditd|"
    r"rsyslog|syslog|apparmor|selinux|docker|containerd|cron|crond|polkit|getty@.*|display-manager)"
    r"(\.service|\.socket)?$",
    re.I,
)
_STATE_VERBS = names("stop disable mask kill restart reload enable start isolate")


@handles("systemctl", "service", "launchctl", "rc-service")
def services(ctx: Ctx, cmd: Cmd) -> None:
    """Stopping critical services, enabling new ones, powering off via systemctl."""
    values = [v for v in cmd.values() if not v.startswith("-")]
    if not values:
        return
    if cmd.name == "service" and len(values) >= 2:
        values = [values[1], values[0]]
    verb = values[0].lower()
    if verb in ("poweroff", "reboot", "halt", "kexec", "rescue", "emergency", "soft-reboot"):
        ctx.flag(
            "power.shutdown", Severity.HIGH, cmd.point, cmd.snippet, "Shuts down or restarts the machine."
        )
        return
    units = values[1:]
    if cmd.name == "launchctl" and verb in ("load", "bootstrap", "submit"):
        _persist(ctx, cmd)
        return
    if verb not in _STATE_VERBS or not units:
        return
    if verb in ("stop", "disable", "mask", "kill", "isolate") and any(
        _CRITICAL_UNITS.match(u) for u in units
    ):
        ctx.flag(
            "power.critical-service",
            Severity.HIGH,
            cmd.point,
            cmd.snippet,
            f"Stops or disables {units[0]}, which the system (or your remote access) depends on.",
        )
    elif verb == "enable":
        _persist(ctx, cmd)
    else:
        ctx.flag(
            "power.service", Severity.MEDIUM, cmd.point, cmd.snippet, "Starts, stops or changes a service."
        )


def _persist(ctx: Ctx, cmd: Cmd) -> None:
    ctx.flag(
        "persist.schedule",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Installs something that runs later or at boot, outside this workflow and its checks.",
    )


@handles("crontab")
def crontab(ctx: Ctx, cmd: Cmd) -> None:
    """``crontab -r`` wipes all jobs; installing a crontab schedules code."""
    values = cmd.values()
    if any(v.startswith("-") and not v.startswith("--") and "r" in v for v in values):
        ctx.flag(
            "persist.crontab-remove",
            Severity.HIGH,
            cmd.point,
            cmd.snippet,
            "Deletes all of your scheduled cron jobs without asking.",
        )
    elif values and "-l" not in values:
        _persist(ctx, cmd)


def cloud_destroy(ctx: Ctx, cmd: Cmd, text: str) -> None:
    """Deleting cloud, cluster or container resources: ask, since it cannot be undone."""
    ctx.flag("cloud.destroy", Severity.MEDIUM, cmd.point, cmd.snippet, text)
