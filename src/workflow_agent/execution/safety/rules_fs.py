"""Rules for the filesystem and disks: deleting what matters, overwriting devices and system
files, and permission changes that open the machine up."""

from __future__ import annotations

import re

from . import paths
from .commands import check, secret_read
from .context import Cmd, Ctx, handles
from .model import Severity
from .options import parse_opts
from .paths import Place
from .words import Word, names

_DELETE_SEVERITY = {
    Place.ROOT: Severity.CRITICAL,
    Place.HOME: Severity.CRITICAL,
    Place.DEVICE: Severity.HIGH,
    Place.SYSTEM: Severity.HIGH,
    Place.HOME_ITEM: Severity.HIGH,
    Place.MOUNT: Severity.HIGH,
    Place.TOP_LEVEL: Severity.MEDIUM,
    Place.PARENT: Severity.MEDIUM,
}
_WHAT = {
    Place.ROOT: "the whole filesystem",
    Place.HOME: "a home directory",
    Place.DEVICE: "a device file",
    Place.SYSTEM: "system files",
    Place.HOME_ITEM: "a top-level folder of your home directory",
    Place.MOUNT: "a mounted disk",
    Place.TOP_LEVEL: "a top-level directory",
    Place.PARENT: "directories above the working directory",
}


def judge_delete(ctx: Ctx, cmd: Cmd, word: Word, verb: str, *, recursive: bool = True) -> None:
    """Flag deletion of ``word`` by how much it would destroy, including when a variable is empty."""
    value = word.value
    candidates = [value] if value is not None else word.candidates()
    for path in candidates or [word.optimistic()]:
        where = paths.place(path, ctx.cwd)
        severity = _DELETE_SEVERITY.get(where)
        if severity is None:
            continue
        if not recursive and where in (Place.TOP_LEVEL, Place.PARENT):
            continue
        how = "recursively " if recursive else ""
        ctx.flag(
            f"fs.delete-{where.name.lower().replace('_', '-')}",
            severity,
            word.point,
            cmd.snippet,
            f"{verb} {_WHAT[where]} ({word.render(path, every=True)}) {how}without asking.".replace(
                "  ", " "
            ),
        )
        return
    if value is None:
        worst = word.worst_case()
        where = paths.place(worst, ctx.cwd)
        if where >= Place.HOME_ITEM and worst != word.optimistic():
            ctx.flag(
                "fs.delete-unset-var",
                Severity.HIGH,
                word.point,
                cmd.snippet,
                f"If a variable in {word.text} is empty or unset this deletes {word.render(worst) or '/'}; "
                "write ${VAR:?} to stop instead.",
            )


@handles("rm", "unlink", "srm", "trash", "trash-put")
def rm(ctx: Ctx, cmd: Cmd) -> None:
    """``rm`` and friends: judge each target by what it would destroy."""
    opts = parse_opts(cmd.args)
    recursive = opts.has("-r", "-R", "--recursive") or cmd.name == "srm"
    for word in opts.positional:
        judge_delete(ctx, cmd, word, "Deletes", recursive=recursive)


@handles("shred", "wipe")
def shred(ctx: Ctx, cmd: Cmd) -> None:
    """``shred`` destroys data irrecoverably; logs and devices are the worst targets."""
    for word in parse_opts(cmd.args, names("-n -s --iterations --size")).positional:
        path = word.value or word.worst_case()
        if paths.is_log(path):
            shown = word.render(path)
            ctx.flag("logs.tamper", Severity.HIGH, word.point, cmd.snippet, f"Destroys the log {shown}.")
        else:
            judge_delete(ctx, cmd, word, "Irrecoverably overwrites", recursive=False)


_FIND_TESTS = names(
    "-name -iname -path -ipath -regex -iregex -wholename -mtime -mmin -atime -amin -ctime -cmin "
    "-newer -size -user -group -perm -empty -links -inum -samefile -lname -ilname"
)
_FIND_WRITES = names("-fls -fprint -fprint0 -fprintf")
_FIND_EXEC = names("-exec -execdir -ok -okdir")


@handles("find")
def find(ctx: Ctx, cmd: Cmd) -> None:
    """``find``: ``-delete``, ``-exec`` commands (with ``{}`` as the start path) and file writes."""
    words = cmd.args
    starts: list[Word] = []
    i = 0
    while i < len(words) and not _find_expr_start(words[i].value):
        starts.append(words[i])
        i += 1
    filtered = False
    while i < len(words):
        text = words[i].value or ""
        i += 1
        if text in _FIND_TESTS:
            filtered = True
        elif text in _FIND_WRITES and i < len(words):
            check_write(ctx, cmd, words[i])
        elif text == "-delete":
            for start in starts or [Word([], cmd.point, ".")]:
                _find_delete(ctx, cmd, start, filtered)
        elif text in _FIND_EXEC:
            end = i
            while end < len(words) and words[end].value not in (";", "+"):
                end += 1
            inner = words[i:end]
            if inner:
                _find_exec(ctx, cmd, inner, starts, filtered)
            i = end + 1


def _find_expr_start(text: str | None) -> bool:
    return text is not None and (text.startswith("-") or text in ("(", "!", ")", ","))


def _find_delete(ctx: Ctx, cmd: Cmd, start: Word, filtered: bool) -> None:
    if filtered:
        where = paths.place(start.value or start.worst_case(), ctx.cwd)
        if where in (Place.ROOT, Place.SYSTEM, Place.HOME):
            ctx.flag(
                "fs.delete-matching",
                Severity.HIGH if where is Place.SYSTEM else Severity.MEDIUM,
                start.point,
                cmd.snippet,
                f"Deletes every matching file anywhere under {start.text}.",
            )
        return
    judge_delete(ctx, cmd, start, "Deletes")


def _find_exec(ctx: Ctx, cmd: Cmd, inner: list[Word], starts: list[Word], filtered: bool) -> None:
    start = starts[0] if starts else Word([], cmd.point, ".")
    replaced: list[Word] = []
    for word in inner:
        if word.value == "{}":
            replaced.append(start if not filtered else Word([], word.point, "found"))
        else:
            replaced.append(word)
    sub = cmd.inner(replaced, "find")
    if filtered and sub.name in ("rm", "shred", "unlink"):
        _find_delete(ctx, cmd, start, filtered)
    check(ctx, sub, outer=False)


@handles("dd")
def dd(ctx: Ctx, cmd: Cmd) -> None:
    """``dd of=``: writing onto a device or system file."""
    for word in cmd.args:
        value = word.value or word.worst_case()
        if value.startswith("of="):
            target = Word(word.parts, word.point, word.raw)
            check_write(ctx, cmd, _strip_prefix(target, "of="))


def _strip_prefix(word: Word, prefix: str) -> Word:
    from .words import Lit

    parts = list(word.parts)
    first = parts[0]
    if isinstance(first, Lit) and first.text.startswith(prefix):
        parts[0] = Lit(first.text[len(prefix) :], first.quoted)
    return Word(parts, word.point, word.raw[len(prefix) :])


_DISK_ALWAYS = {
    "wipefs": ("-a", "--all"),
    "blkdiscard": (),
    "sgdisk": ("-z", "-Z", "--zap", "--zap-all", "-o", "--clear", "-n", "-d", "--new", "--delete"),
    "parted": ("mklabel", "mkpart", "rm", "resizepart", "mkfs", "mktable"),
    "cryptsetup": ("luksformat", "erase", "luksErase"),
    "hdparm": ("--security-erase", "--security-erase-enhanced", "--trim-sector-ranges"),
    "zpool": ("destroy", "labelclear"),
    "zfs": ("destroy",),
    "lvremove": (),
    "vgremove": (),
    "pvremove": (),
    "badblocks": ("-w",),
    "sfdisk": ("--delete", "--wipe"),
    "flashrom": ("-w", "--write", "-E", "--erase"),
}


@handles("mkfs", "mke2fs", "mkswap", "mkdosfs", "mformat", "newfs", *_DISK_ALWAYS)
def disk_tools(ctx: Ctx, cmd: Cmd) -> None:
    """Formatting and wiping tools."""
    values = cmd.values()
    triggers = _DISK_ALWAYS.get(cmd.name)
    if triggers and not any(t.lower() in (v.lower() for v in values) for t in triggers):
        return
    device = any(v.startswith("/dev/") for v in values)
    ctx.flag(
        "disk.destroy",
        Severity.CRITICAL if device or triggers is not None else Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        f"{cmd.name} erases or reformats a disk or partition, destroying everything on it.",
    )


@handles("fdisk", "gdisk", "cfdisk")
def partitioner(ctx: Ctx, cmd: Cmd) -> None:
    """Interactive partition editors (listing is fine)."""
    if any(v in ("-l", "--list") for v in cmd.values()):
        return
    ctx.flag("disk.partition", Severity.HIGH, cmd.point, cmd.snippet, "Edits the partition table of a disk.")


def check_write(ctx: Ctx, cmd: Cmd, word: Word, *, append: bool = False) -> None:
    """Judge a file being written or replaced (redirect, tee, cp/mv destination, dd of=)."""
    path = word.value if word.value is not None else word.worst_case()
    if not path or paths.is_network_device(path):
        return
    norm = paths.normalize(path) if path.startswith(("/", "~")) else path
    where = paths.place(path, ctx.cwd)
    rule, severity, text = "", Severity.INFO, ""
    if norm == "/proc/sysrq-trigger":
        rule, severity, text = (
            "power.sysrq",
            Severity.CRITICAL,
            "Triggers a kernel SysRq action (reboot, crash).",
        )
    elif where is Place.DEVICE:
        rule, severity, text = (
            "disk.overwrite",
            Severity.CRITICAL,
            f"Writes straight onto the disk device {norm}.",
        )
    elif paths.is_account_db(norm):
        rule, severity = "priv.account-db", Severity.CRITICAL
        text = f"Changes {norm}, which controls who can log in and who is root."
    elif paths.is_startup_file(norm):
        rule, severity = "persist.startup-file", Severity.HIGH
        text = f"Changes {norm}, so code runs automatically at every login or boot."
    elif paths.is_git_exec(norm):
        rule, severity = "persist.git-hook", Severity.MEDIUM
        text = f"Changes {norm}, and git runs what hooks and config name at the next git command."
    elif paths.is_log(norm):
        rule, severity = "logs.tamper", Severity.MEDIUM if append else Severity.HIGH
        text = f"Overwrites {norm}, erasing the record of what happened."
    elif where in (Place.SYSTEM, Place.ROOT):
        rule, severity, text = "fs.system-write", Severity.HIGH, f"Writes to the system file {norm}."
    if rule:
        ctx.flag(rule, severity, word.point, cmd.snippet, word.render(text))


_WRITE_OPS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&"})


def check_redirects(ctx: Ctx, cmd: Cmd) -> None:
    """Redirections: files overwritten, secrets read, sockets opened."""
    for redirect in cmd.redirects:
        target = redirect.target
        if target is None or (redirect.op == ">&" and (target.value or "").isdigit()):
            continue
        value = target.value or target.worst_case()
        if "/dev/tcp/" in value or "/dev/udp/" in value:
            from .rules_net import raw_socket

            raw_socket(ctx, cmd, target)
        elif redirect.op in _WRITE_OPS:
            check_write(ctx, cmd, target, append=redirect.op.endswith(">>"))
        elif redirect.op == "<":
            secret_read(ctx, cmd, target, value)


@handles("tee")
def tee(ctx: Ctx, cmd: Cmd) -> None:
    """``tee`` writes its file arguments."""
    opts = parse_opts(cmd.args)
    for word in opts.positional:
        check_write(ctx, cmd, word, append=opts.has("-a", "--append"))


@handles("truncate")
def truncate(ctx: Ctx, cmd: Cmd) -> None:
    """``truncate`` empties files (logs are the usual target)."""
    for word in parse_opts(cmd.args, names("-s -r --size --reference")).positional:
        check_write(ctx, cmd, word)


_DEST_OPTS = names("-t --target-directory -S --suffix -m --mode -o --owner -g --group")


@handles("cp", "mv", "install", "ln", "rsync")
def copy(ctx: Ctx, cmd: Cmd) -> None:
    """``cp``/``mv``/``install``/``ln``/``rsync``: the destination is written, ``mv`` removes sources."""
    opts = parse_opts(cmd.args, _DEST_OPTS | frozenset({"-e", "--rsh", "--rsync-path"}))
    target = opts.value("-t", "--target-directory")
    sources = opts.positional if target is not None else opts.positional[:-1]
    dest = target or (opts.positional[-1] if len(opts.positional) > 1 else None)
    if dest is None:
        return
    if cmd.name == "rsync" and opts.has("--delete", "--delete-before", "--delete-after", "--del"):
        judge_delete(ctx, cmd, dest, "Makes rsync delete everything else in")
    check_write(ctx, cmd, dest)
    if cmd.name == "ln" and paths.is_log(dest.value or ""):
        ctx.flag("logs.tamper", Severity.HIGH, dest.point, cmd.snippet, "Replaces a log with a link.")
    if cmd.name == "mv":
        for src in sources:
            judge_delete(ctx, cmd, src, "Moves away")
        if (dest.value or "") == "/dev/null":
            for src in sources:
                judge_delete(ctx, cmd, src, "Destroys")


@handles("sed", "perl")
def in_place(ctx: Ctx, cmd: Cmd) -> None:
    """``sed -i``/``perl -i`` rewrite files in place."""
    values = cmd.values()
    if not any(v.startswith("-i") or v == "--in-place" for v in values):
        return
    opts = parse_opts(cmd.args, names("-e -f --expression --file"))
    files = opts.positional[1:] if not opts.has("-e", "-f", "--expression", "--file") else opts.positional
    for word in files:
        check_write(ctx, cmd, word)


_MODE_DANGER = re.compile(r"^([ugoa]*[+=][rwxXt]*s|[2467][0-7]{3})$")
_WORLD = re.compile(r"^(0?[0-7]{2}[2367]|[ugoa]*o[ugoa]*[+=][^-]*w|a?[+=][rwx]*w)$")


@handles("chmod", "chown", "chgrp", "chattr", "setfacl")
def permissions(ctx: Ctx, cmd: Cmd) -> None:
    """``chmod``/``chown``/``chattr``: setuid bits and permission changes on system paths."""
    opts = parse_opts(cmd.args, frozenset({"--reference", "--from"}))
    recursive = opts.has("-R", "--recursive")
    positional = opts.positional
    if not positional:
        return
    mode = positional[0].value or ""
    targets = positional[1:] if cmd.name != "chattr" or mode[:1] in "+-=" else positional
    if cmd.name == "chmod" and _MODE_DANGER.match(mode):
        ctx.flag(
            "priv.setuid",
            Severity.HIGH,
            positional[0].point,
            cmd.snippet,
            "Sets the setuid/setgid bit, letting anyone run the file with its owner's (often root's) rights.",
        )
    for word in targets:
        path = word.value or word.worst_case()
        where = paths.place(path, ctx.cwd)
        bad = where in (Place.ROOT, Place.HOME) or (
            where is Place.SYSTEM and (recursive or cmd.name != "chmod")
        )
        bad = bad or (where is Place.SYSTEM and bool(_WORLD.match(mode) or mode in ("000", "0")))
        bad = bad or (recursive and where in (Place.HOME_ITEM, Place.MOUNT))
        if bad:
            ctx.flag(
                "priv.system-permissions",
                Severity.HIGH,
                word.point,
                cmd.snippet,
                f"Changes ownership or permissions of {word.render(path)}"
                f"{' and everything in it' if recursive else ''}.",
            )
            return


@handles("tar", "unzip", "cpio")
def extract(ctx: Ctx, cmd: Cmd) -> None:
    """Archives unpacked over the root, system or home directories."""
    opts = parse_opts(cmd.args, names("-C -d -f --directory --file"))
    target = opts.value("-C", "--directory") if cmd.name == "tar" else opts.value("-d")
    if target is None:
        return
    where = paths.place(target.value or target.worst_case(), ctx.cwd)
    if where in (Place.ROOT, Place.SYSTEM, Place.HOME):
        ctx.flag(
            "fs.extract-over-system",
            Severity.MEDIUM,
            target.point,
            cmd.snippet,
            f"Unpacks an archive over {target.text}, which can replace system or personal files.",
        )
