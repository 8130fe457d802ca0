"""Dispatch one normalised shell command to the rules: peel wrappers, catch disguised command
names, look at every argument for classes of danger that do not depend on the program, and
say what the command writes to its pipe."""

from __future__ import annotations

import dataclasses
import re

from . import paths
from .context import HANDLER_CACHE, HANDLERS, Cmd, Ctx, Handler
from .model import Severity
from .options import WRAPPERS, unwrap
from .words import Lit, Word, names

SHELLS = names("sh bash dash zsh ksh mksh ash fish csh tcsh rbash yash posh")
FETCHERS = names("curl wget fetch lynx links http https xh get aria2c")
SOCKETS = names("nc ncat netcat telnet socat cryptcat pwncat openssl")
DECODERS = names("base64 base32 basenc xxd rev uudecode gunzip zcat gzip bunzip2 xz unxz tr")
FILTERS = names("grep egrep fgrep head tail sed awk cut sort uniq tee cat tac tr jq")
# Programs whose arguments are text to show or search, not commands or files to act on.
DATA_COMMANDS = names(
    "grep egrep fgrep rg ag ack man which type whereis locate test [ [[ git sed tr cut sort wc diff "
    "cmp basename dirname realpath readlink head tail less more jq yq apropos whatis info help tldr "
    "printf echo alias"
)
FILE_TOOLS = names(
    "cp mv rm ln ls install chmod chown file stat nm objdump readelf strings strip ldd patchelf touch "
    "tar zip unzip gcc g++ cc clang ld make cmake find du sha256sum md5sum"
)
# They are meant to handle keys; naming a key file to them is ordinary use.
CRED_TOOLS = names(
    "ssh ssh-add ssh-keygen ssh-copy-id chmod chown chgrp ls stat test [ [[ mkdir touch git gpg rm install"
)
_KEY_OPTIONS = names("-i --identity -E --cert --key --cacert -F --identity-file -f")

_SHELL = r"(?:ba|da|z|k|c|tc|fi|a|mk|r)?sh"
SHELL_ESCAPE = re.compile(
    rf"(?<!#!)(?<![\w./-])(?:/usr)?(?:/local)?/bin/{_SHELL}\b"  # /bin/sh, /usr/bin/bash
    rf"|(?:(?:^|[\s'\"(;|&])!\s*|\bexec\s+|[;=]\s*){_SHELL}\b"  # !sh, exec sh, ;sh
    rf"|(?<![\w./-]){_SHELL}\s+(?:-[a-z]*[ic]\b|\d?[<>]&?\d)",  # sh -i, sh -c, sh 0<&2
    re.M,
)
LIBRARY = re.compile(r"[\w./-]*\.(?:so(?:\.\d+)*|dylib)(?=$|[\s,:;'\")])")
_PLUGIN_OPT = re.compile(r"^--?[\w-]*(plugin|engine|default-auth|load-module|preload)[\w-]*$", re.I)


def check(ctx: Ctx, cmd: Cmd, *, outer: bool = True) -> None:
    """Run every rule that applies to ``cmd`` (and to what it wraps)."""
    if outer and (cmd.redirects or cmd.assignments):
        from .rules_fs import check_redirects

        check_redirects(ctx, cmd)
        check_assignments(ctx, cmd, cmd.assignments)
    if not cmd.words:
        return
    _check_name(ctx, cmd)
    if not cmd.name:
        _dynamic_command(ctx, cmd)
        return
    if cmd.name.startswith("!") and len(cmd.name) > 1:
        _bang_escape(ctx, cmd)
        return
    wrapped = unwrap(cmd)
    if wrapped is not None:
        for handler in handlers_for(cmd.name):
            handler(ctx, cmd)
        check_assignments(ctx, cmd, wrapped.assignments)
        for text in wrapped.shell_strings:
            _run_string(ctx, text)
        if wrapped.queried or wrapped.shell_strings:
            return
        if not wrapped.inner:
            if wrapped.spec.shell_if_empty:
                interactive_shell(ctx, cmd)
            return
        inner_ctx = dataclasses.replace(ctx, elevated=True) if wrapped.spec.elevates else ctx
        if len(wrapped.inner) == 1 and " " in (wrapped.inner[0].value or ""):
            _run_string(ctx, wrapped.inner[0])  # watch 'cmd args', sudo "cmd args"
            return
        check(inner_ctx, cmd.inner(wrapped.inner, cmd.name), outer=False)
        return
    generic_args(ctx, cmd)
    for handler in handlers_for(cmd.name):
        handler(ctx, cmd)
    if cmd.args and cmd.args[0].value == "shell" and cmd.name not in SHELLS:
        interactive_shell(ctx, cmd)  # ansible-test shell, poetry shell, machinectl shell
    _downloaded(ctx, cmd, cmd.words[0])


def handlers_for(name: str) -> list[Handler]:
    """Rules for a program; ``mkfs.ext4`` and ``python3.12`` fall back to ``mkfs`` and ``python3``."""
    found = HANDLER_CACHE.get(name)
    if found is None:
        found = HANDLERS.get(name)
        if found is None:
            found = HANDLERS.get(name.split(".", 1)[0]) or HANDLERS.get(_VERSION.sub("", name), [])
        if len(HANDLER_CACHE) >= 4096:  # bounded: names come from the analysed scripts
            HANDLER_CACHE.clear()
        HANDLER_CACHE[name] = found
    return found


_VERSION = re.compile(r"[\d.]+$")


def _run_string(ctx: Ctx, word: Word) -> None:
    if word.fetched:
        ctx.flag("rce.fetch-exec", Severity.HIGH, word.point, word.text, FETCH_EXEC)
    ctx.run("bash", word.value if word.value is not None else word.text, word.point)


FETCH_EXEC = "Runs code downloaded from the internet without showing it first."


def interactive_shell(ctx: Ctx, cmd: Cmd) -> None:
    """A shell with nothing to run reads commands from its input: flag it as a shell escape."""
    ctx.flag(
        "exec.interactive-shell",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Starts an interactive shell, which a workflow should never need; it is a classic escape hatch.",
    )


def _check_name(ctx: Ctx, cmd: Cmd) -> None:
    word = cmd.words[0]
    how = ""
    if word.encoded:
        how = "is spelled with escape codes ($'\\x72m')"
    elif word.quote_split:
        how = "is split up by quotes (r''m)"
    elif word.escaped_letters:
        how = "contains backslashes (r\\m)"
    elif word.from_vars and (len(word.parts) > 1 or not re.fullmatch(r"[\w./+-]+", word.value or "")):
        how = "is pieced together from variables (a=r; b=m; $a$b)"
    if how:
        ctx.flag(
            "obfuscation.command-name",
            Severity.MEDIUM,
            word.point,
            cmd.snippet,
            f"The command name {how}, which hides what really runs.",
        )


def _bang_escape(ctx: Ctx, cmd: Cmd) -> None:
    """``!cmd`` lines: what you type into less, vi, ftp or gdb to run a shell command."""
    ctx.flag(
        "exec.shell-escape",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "A line starting with ! runs a shell command from inside an interactive program (a shell escape).",
    )
    first = cmd.words[0]
    rest = Word([Lit((first.value or "")[1:], False)], first.point, first.raw[1:])
    check(ctx, cmd.inner([rest, *cmd.args], "!"), outer=False)


def _dynamic_command(ctx: Ctx, cmd: Cmd) -> None:
    word = cmd.words[0]
    if word.fetched:
        ctx.flag("rce.fetch-exec", Severity.HIGH, word.point, cmd.snippet, FETCH_EXEC)
    ctx.flag(
        "obfuscation.dynamic-command",
        Severity.MEDIUM,
        word.point,
        cmd.snippet,
        f"Runs a command whose name is only known when the script runs ({word.text[:40]}).",
    )
    # The variable may hold a wrapper (sudo, env) or a shell: check the rest as a command too.
    rest = cmd.args
    for i, arg in enumerate(rest[:-1]):
        if arg.value == "-c":
            _run_string(ctx, rest[i + 1])
            return
    if rest and rest[0].value is not None and not rest[0].value.startswith("-"):
        check(ctx, cmd.inner(rest, word.text), outer=False)


def check_assignments(ctx: Ctx, cmd: Cmd, assignments: list[tuple[str, Word]]) -> None:
    """Environment set for one command (``LD_PRELOAD=x cmd``) or by ``env``."""
    from .rules_system import check_assignment

    for name, value in assignments:
        check_assignment(ctx, name, value, cmd.snippet)


# A superset of what generic_args looks for, tried once on a command's text: when it finds
# nothing, the per-argument checks are skipped (most commands of a large script are plain).
# Text that the argument-level checks react to. Commands whose span contains none of it are
# not normalised in full (see Walker._plain); bytes.find keeps this scan cheap on large scripts.
_HOT_WORDS = tuple(
    w.encode()
    for w in [
        "sh",
        "exec",
        "!",
        "\\",
        "$'",
        "/bin/",
        ".so",
        ".dylib",
        "/dev/",
        "plugin",
        "engine",
        "default-auth",
        "load-module",
        "preload",
        ".ssh",
        ".aws",
        ".gnupg",
        ".kube",
        ".docker",
        "netrc",
        "credentials",
        ".npmrc",
        ".pypirc",
        "pgpass",
        ".my.cnf",
        "vault",
        "gcloud",
        ".config/",
        ".azure",
        "password",
        "keyring",
        "keychain",
        "firefox",
        "chrom",
        "history",
        "shadow",
        "sudoers",
        "passwd",
        "/etc/",
        ".env",
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".kdbx",
    ]
)
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def hot_offsets(src: bytes) -> list[int]:
    """Sorted byte offsets in ``src`` where argument-level checks might find something."""
    lower = src.lower()
    found: list[int] = []
    for word in _HOT_WORDS:
        i = lower.find(word)
        while i >= 0:
            found.append(i)
            i = lower.find(word, i + 1)
    if not src.isascii():
        found.extend(m.start() for m in _NON_ASCII.finditer(src))
    found.sort()
    return found


# Programs that matter only when their output goes into a pipe (echo, decoders, filters).
PIPE_ONLY = DECODERS | FILTERS | frozenset({"echo", "printf"})
# Programs that always get a full look.
INTERESTING = (
    SHELLS
    | FETCHERS
    | SOCKETS
    | frozenset(WRAPPERS)
    | names("cat tee env printenv set export declare cd pushd")
)


def generic_args(ctx: Ctx, cmd: Cmd) -> None:
    """Argument checks that hold whatever the program is."""
    if not cmd.hot and not any(w.from_vars for w in cmd.words):
        return
    name = cmd.name
    data_only = name in DATA_COMMANDS and not (name in ("echo", "printf") and _output_used(cmd))
    previous = ""
    words = cmd.args
    if name == "find":  # -exec commands are checked on their own
        cut = [i for i, w in enumerate(words) if w.value in ("-exec", "-execdir", "-ok", "-okdir")]
        words = words[: cut[0]] if cut else words
    for word in words:
        text = word.text
        if word.encoded >= 2:
            ctx.flag(
                "obfuscation.encoded-text",
                Severity.MEDIUM,
                word.point,
                cmd.snippet,
                "Spells out text with escape codes (\\x72\\x6d), which hides what it says.",
            )
        if not data_only and name not in SHELLS and (SHELL_ESCAPE.search(text) or _shell_string(word)):
            ctx.flag(
                "exec.shell-escape",
                Severity.MEDIUM,
                word.point,
                cmd.snippet,
                f"Makes {name} start a shell, a known way to escape restrictions or keep root access.",
            )
        if "/dev/tcp/" in text or "/dev/udp/" in text:
            from .rules_net import raw_socket

            raw_socket(ctx, cmd, word)
        if name not in FILE_TOOLS and not data_only and (LIBRARY.search(text) or _PLUGIN_OPT.match(previous)):
            ctx.flag(
                "exec.library-load",
                Severity.MEDIUM,
                word.point,
                cmd.snippet,
                f"Loads native code ({text[:60]}) into {name}, which runs with its privileges.",
            )
        value = word.value
        if value and name not in CRED_TOOLS and previous not in _KEY_OPTIONS and not data_only:
            secret_read(ctx, cmd, word, value.lstrip("@"))
        previous = word.value or ""


_SHELL_COMMAND = re.compile(rf"^\s*{_SHELL}(\s.*)?$", re.S)


def _shell_string(word: Word) -> bool:
    """A quoted argument that is itself a shell command line ('sh #', "bash -s")."""
    return all(isinstance(p, Lit) and p.quoted for p in word.parts) and bool(_SHELL_COMMAND.match(word.text))


def secret_read(ctx: Ctx, cmd: Cmd, word: Word, path: str) -> None:
    """Reading key material or password stores."""
    if not paths.is_secret(path):
        return
    root_only = path.startswith("/etc/")
    path = word.render(path)
    ctx.facts.secret_reads.append((word.point, path, cmd.snippet))
    ctx.flag(
        "cred.read",
        Severity.HIGH if root_only else Severity.MEDIUM,
        word.point,
        cmd.snippet,
        f"Reads {path}, which holds passwords, keys or tokens.",
    )


def _output_used(cmd: Cmd) -> bool:
    return cmd.piped_out or any(r.op != "<" for r in cmd.redirects)


def _downloaded(ctx: Ctx, cmd: Cmd, word: Word) -> None:
    # As a command name, only a path (./x, /tmp/x) can be the downloaded file; a bare word is a command.
    if word.value and "/" in word.value:
        runs_downloaded(ctx, cmd, word)


def runs_downloaded(ctx: Ctx, cmd: Cmd, word: Word) -> None:
    """A shell or interpreter given a script file that was downloaded earlier."""
    value = word.value
    if value and value.rsplit("/", 1)[-1] in ctx.facts.downloads:
        ctx.flag(
            "rce.download-exec",
            Severity.HIGH,
            word.point,
            cmd.snippet,
            f"Runs {value}, a file this script just downloaded, so the code that runs is never shown.",
        )
