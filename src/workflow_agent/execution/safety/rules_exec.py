"""Rules for code that runs other code: shells and interpreters given strings, pipes and
here-documents, eval and source, and tools that can be told to run commands."""

from __future__ import annotations

from .commands import FETCH_EXEC, SHELLS, interactive_shell, runs_downloaded
from .context import Cmd, Ctx, handles
from .model import Severity
from .options import parse_opts
from .words import Dyn, Word, names

# Options whose value is a program in another language, per interpreter.
CODE_FLAGS: dict[str, tuple[str, frozenset[str]]] = {}


def _code(language: str, names: str, flags: str) -> None:
    for name in names.split():
        CODE_FLAGS[name] = (language, frozenset(flags.split()))


_code("python", "python python2 python3 pypy pypy3", "-c")
_code("perl", "perl", "-e -E")
_code("ruby", "ruby irb", "-e")
_code("node", "node nodejs bun deno", "-e -p --eval --print eval")
_code("php", "php", "-r")
_code("lua", "lua luajit", "-e")
_code("r", "r rscript", "-e")
_code("julia", "julia", "-e")
_code("tcl", "tclsh wish expect", "-c")
_code("applescript", "osascript", "-e")
_code("java", "jrunscript jshell", "-e")
_code("lisp", "guile clisp sbcl emacs", "-c -x --eval -e")
_code("editor", "vim vi nvim ex view rvim", "-c --cmd")
_code("debugger", "gdb", "-ex --eval-command -eval-command")
_code("other", "gnuplot bpftrace dc lftp genie", "-e -c")
INTERPRETERS = frozenset(CODE_FLAGS)
_SERVER_MODULES = names("http.server SimpleHTTPServer pyftpdlib uploadserver smtpd")


@handles(*SHELLS)
def shell(ctx: Ctx, cmd: Cmd) -> None:
    """``sh``/``bash``: analyse ``-c`` strings, scripts and stdin; a bare shell is an escape."""
    words = cmd.args
    has_c = False
    interactive = False
    from_stdin = False
    target: Word | None = None
    i = 0
    while i < len(words):
        text = words[i].value
        if text is None or not text or text[0] not in "-+" or text in ("-", "--"):
            if text == "--" and i + 1 < len(words):
                target = words[i + 1]
            elif text != "-":
                target = words[i]
            from_stdin = from_stdin or text == "-"
            break
        if text in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if not text.startswith("--"):
            has_c = has_c or "c" in text
            interactive = interactive or "i" in text
            from_stdin = from_stdin or "s" in text
        i += 1
    if target is not None and has_c:
        if target.fetched:
            ctx.flag("rce.fetch-exec", Severity.HIGH, target.point, cmd.snippet, FETCH_EXEC)
        ctx.run("bash", target.value if target.value is not None else target.text, target.point)
        return
    if target is not None and not from_stdin:
        _script_file(ctx, cmd, target, "bash")
        return
    if cmd.feed is not None and not interactive:
        consume(ctx, cmd, "bash")
        return
    interactive_shell(ctx, cmd)


def _script_file(ctx: Ctx, cmd: Cmd, word: Word, language: str) -> None:
    if word.fetched:
        ctx.flag(
            "rce.fetch-exec",
            Severity.HIGH,
            word.point,
            cmd.snippet,
            "Runs a script straight from the internet (<(curl …)) without showing it.",
        )
    elif word.value in ("/dev/stdin", "/proc/self/fd/0"):
        consume(ctx, cmd, language)
    else:
        runs_downloaded(ctx, cmd, word)


def consume(ctx: Ctx, cmd: Cmd, language: str) -> None:
    """A shell or interpreter reading its program from stdin: judge where that comes from."""
    feed = cmd.feed
    if feed is None:
        return
    if feed.kind == "socket":
        ctx.flag(
            "net.reverse-shell",
            Severity.CRITICAL,
            cmd.point,
            cmd.snippet,
            "Connects a shell to a network socket, giving someone else remote control (a reverse shell).",
        )
    elif feed.kind == "network":
        ctx.flag(
            "rce.pipe-to-shell",
            Severity.HIGH,
            cmd.point,
            cmd.snippet,
            f"Downloads code and pipes it straight into {cmd.name}, so what runs is never shown.",
        )
    if feed.obfuscated or feed.kind == "decoded":
        ctx.flag(
            "obfuscation.decode-and-run",
            Severity.MEDIUM,
            cmd.point,
            cmd.snippet,
            f"Decodes hidden text and runs it with {cmd.name}, so the real commands are not visible.",
        )
    if feed.kind == "literal" and feed.text is not None:
        ctx.run(language, feed.text, cmd.point)


@handles(*INTERPRETERS)
def interpreter(ctx: Ctx, cmd: Cmd) -> None:
    """Python, Perl, Ruby, Node… with inline code, a script file or stdin."""
    language, flags = CODE_FLAGS[cmd.name] if cmd.name in CODE_FLAGS else CODE_FLAGS["python"]
    words = cmd.args
    code_seen = False
    script: Word | None = None
    i = 0
    while i < len(words):
        word = words[i]
        text = word.value or ""
        i += 1
        is_code_flag = text in flags or (
            text.startswith("-") and not text.startswith("--") and len(text) > 2 and "-" + text[-1] in flags
        )
        if (is_code_flag or text.startswith("+")) and (i < len(words) or text.startswith("+")):
            code = words[i] if not text.startswith("+") else word
            i += 0 if text.startswith("+") else 1
            code_seen = True
            _run_code(ctx, cmd, language, code, strip_plus=text.startswith("+"))
            continue
        if text == "-m" and i < len(words):
            if words[i].value in _SERVER_MODULES:
                server(ctx, cmd)
            return
        if text == "-S" and cmd.name == "php":
            server(ctx, cmd)
            return
        if not text.startswith("-") or text == "-":
            script = word
            break
    if code_seen:
        return
    if script is not None and script.value != "-":
        _script_file(ctx, cmd, script, language)
    elif cmd.feed is not None:
        consume(ctx, cmd, language)


def _run_code(ctx: Ctx, cmd: Cmd, language: str, code: Word, *, strip_plus: bool) -> None:
    if code.fetched:
        ctx.flag("rce.fetch-exec", Severity.HIGH, code.point, cmd.snippet, FETCH_EXEC)
    text = code.value if code.value is not None else code.text
    ctx.run(language, text[1:] if strip_plus else text, code.point)


@handles("awk", "gawk", "mawk", "nawk")
def awk(ctx: Ctx, cmd: Cmd) -> None:
    """awk programs can run commands (``system()``) and open sockets."""
    opts = parse_opts(cmd.args, names("-F -v -f -i -l --file --include --assign"))
    if opts.has("-f", "--file") or not opts.positional:
        return
    program = opts.positional[0]
    ctx.run("awk", program.value if program.value is not None else program.text, program.point)


@handles("eval")
def eval_(ctx: Ctx, cmd: Cmd) -> None:
    """``eval`` runs its arguments as shell code."""
    words = cmd.args
    if not words:
        return
    if any(w.fetched for w in words):
        ctx.flag(
            "rce.eval-fetched",
            Severity.HIGH,
            cmd.point,
            cmd.snippet,
            "Evaluates code downloaded from the internet, so what runs is never shown.",
        )
    values = [w.value for w in words]
    if all(v is not None for v in values):
        ctx.run("bash", " ".join(v for v in values if v is not None), words[0].point)
        return
    dynamic = [p for w in words for p in _dyn_parts(w)]
    if any(p.kind == "cmd" for p in dynamic):
        return  # eval "$(ssh-agent -s)": the generating command itself was already checked
    ctx.flag(
        "obfuscation.eval-dynamic",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Runs code assembled at run time with eval, which cannot be checked in advance.",
    )
    ctx.run("bash", " ".join(w.text for w in words), words[0].point)


def _dyn_parts(word: Word) -> list[Dyn]:
    return [p for p in word.parts if isinstance(p, Dyn)]


@handles("source", ".")
def source(ctx: Ctx, cmd: Cmd) -> None:
    """``source``/``.`` of a download or process substitution runs fetched code."""
    if cmd.args:
        _script_file(ctx, cmd, cmd.args[0], "bash")


@handles("at", "batch")
def schedule_at(ctx: Ctx, cmd: Cmd) -> None:
    """``at``/``batch`` run commands later; what they are fed is analysed too."""
    if any(v in ("-l", "-r", "-d", "-c") for v in cmd.values()) and cmd.feed is None:
        return
    ctx.flag(
        "persist.schedule",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Schedules commands to run later, outside this workflow and its safety checks.",
    )
    consume(ctx, cmd, "bash")


@handles("alias")
def alias(ctx: Ctx, cmd: Cmd) -> None:
    """Aliases that shadow standard commands, and the commands they stand for."""
    from .bash import _STANDARD

    for word in cmd.args:
        value = word.value or ""
        name, eq, body = value.partition("=")
        if not eq:
            continue
        if name in _STANDARD:
            ctx.flag(
                "persist.shadow-command",
                Severity.MEDIUM,
                word.point,
                cmd.snippet,
                f"Redefines the standard command {name!r}, so later uses of it do something else.",
            )
        ctx.run("bash", body, word.point)


def server(ctx: Ctx, cmd: Cmd) -> None:
    """Serving files (or anything) to the network."""
    ctx.flag(
        "net.listen",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Starts a server that lets other machines read or upload files here.",
    )


@handles("httpd", "nginx", "apache2", "lighttpd", "caddy", "http-server", "ngrok", "cloudflared", "bore")
def servers(ctx: Ctx, cmd: Cmd) -> None:
    """Web servers and tunnels expose this machine to the network."""
    if any(v in ("-v", "-V", "--version", "--help") for v in cmd.values()):
        return
    server(ctx, cmd)
