"""Heuristics for code in languages we do not parse (Perl, Ruby, Node, PHP, Lua, awk, editor
and debugger command strings): find the shell commands they run, the paths they delete, and
the socket-plus-exec shape of reverse shells."""

from __future__ import annotations

import re

from . import paths
from .commands import LIBRARY, SHELL_ESCAPE
from .context import Ctx, Point
from .model import Severity
from .paths import Place

_SOCKET = re.compile(
    r"socket|TCPSocket|fsockopen|IO::Socket|require\(\s*['\"]net['\"]\s*\)|\bnet\.(connect|createConnection)|"
    r"/inet/tcp|/dev/tcp|require\(\s*['\"]https?['\"]\s*\)|\bhttps?\.(request|get)\b|Net::HTTP|URI\.open|\.tcp\(\)|syscall\.(Socket|Bind|Listen)|stream_socket_\w+|Net::\w+|new\s+Socket",
    re.I,
)
_EXEC = re.compile(
    r"\bexec\w*\s*\(|\bspawn\w*\s*\(|\bpopen\b|\bsystem\s*\(|\bpty\b|dup2|child_process|os\.execute|"
    r"proc_open|shell_exec|passthru|\|&\s*getline|/bin/(ba)?sh|Process\.Start|getRuntime",
    re.I,
)
_CALL = re.compile(
    r"(?:\bsystem|\bexec(?:Sync|File|FileSync)?|\bspawn(?:Sync)?|\bpopen|os\.execute|io\.popen|IO\.popen|"
    r"shell_exec|passthru|proc_open|callCommand|run-shell-command|esyscmd|syscmd|\brun|\bcall)"
    r"\s*\(?\s*(\"|'|`)((?:(?!\1).){1,4000}?)\1",
    re.S,
)
_BACKTICK = re.compile(r"`([^`\n]{1,4000})`")
_BANG = re.compile(r"(?:^|[\s:'\"(;])!\s*([/\w.][^\n'\";)]*)", re.M)
_DELETE = re.compile(
    r"(?:rmtree|rm_rf|rm_r|rmSync|rmdirSync|remove_dir_all|unlinkSync|unlink|FileUtils\.rm\w*|"
    r"remove_tree|rmdir|os\.remove|delete)\s*\(?\s*(\"|')([^\"'\n]{1,500})\1"
)
_DELETE_HOME = re.compile(
    r"(?:rmtree|rm_rf|rm_r|rmSync|rmdirSync|remove_dir_all|FileUtils\.rm\w*|remove_tree)\s*\(?\s*"
    r"(process\.env\.HOME|os\.homedir\(\)|ENV\[['\"]HOME['\"]\]|\$ENV\{HOME\}|Dir\.home|\$HOME)"
)
_LIBLOAD = re.compile(
    r"dlopen|LoadLibrary|\bcdll\b|ctypes|Fiddle|DynaLoader|System\.load|ffi\.load|load_module"
)
_SERVER = re.compile(
    r"\bhttpd\b|HTTPServer|serve_forever|createServer|\.listen\s*\(|TCPServer|WEBrick|http\.server"
)
_READ = re.compile(
    r"open\s*\(|readFile|createReadStream|File\.read|io\.open|file_get_contents|IO\.read|<\$\w+>"
)
_BANG_LANGS = frozenset({"editor", "debugger", "other", "lisp", "tcl"})
_SEVERITY = {
    Place.ROOT: Severity.CRITICAL,
    Place.HOME: Severity.CRITICAL,
    Place.SYSTEM: Severity.HIGH,
    Place.HOME_ITEM: Severity.HIGH,
    Place.DEVICE: Severity.HIGH,
}


def scan_code(ctx: Ctx, language: str, code: str, point: Point) -> None:
    """Check a program in another language passed inline (``perl -e``, ``node -e``, ``awk '…'``)."""
    snippet = code
    socket = _SOCKET.search(code)
    if socket and _EXEC.search(code):
        ctx.flag(
            "net.reverse-shell",
            Severity.CRITICAL,
            point,
            snippet,
            f"The {language} code connects to the network and runs a shell or commands from it.",
        )
    elif (socket and _READ.search(code)) or (_SERVER.search(code)):
        rule = "net.upload" if socket else "net.listen"
        ctx.flag(
            rule,
            Severity.MEDIUM,
            point,
            snippet,
            f"The {language} code sends files over the network."
            if socket
            else f"The {language} code starts a server other machines can reach.",
        )
    if SHELL_ESCAPE.search(code):
        ctx.flag(
            "exec.shell-escape",
            Severity.MEDIUM,
            point,
            snippet,
            f"The {language} code starts a shell, a known way to escape restrictions.",
        )
    if _LIBLOAD.search(code) or LIBRARY.search(code):
        ctx.flag(
            "exec.library-load",
            Severity.MEDIUM,
            point,
            snippet,
            f"The {language} code loads native libraries, which run with full rights.",
        )
    for match in _DELETE.finditer(code):
        _delete(ctx, match.group(2), point, snippet)
    if _DELETE_HOME.search(code):
        _delete(ctx, "~", point, snippet)
    commands = [m.group(2) for m in _CALL.finditer(code)]
    commands += [m.group(1) for m in _BACKTICK.finditer(code)] if language in ("ruby", "perl", "php") else []
    if language in _BANG_LANGS:
        commands += [m.group(1) for m in _BANG.finditer(code)]
    for command in commands[:50]:
        ctx.run("bash", command, point)


def _delete(ctx: Ctx, path: str, point: Point, snippet: str) -> None:
    where = paths.place(path)
    severity = _SEVERITY.get(where)
    if severity is not None:
        ctx.flag(
            f"fs.delete-{where.name.lower().replace('_', '-')}",
            severity,
            point,
            snippet,
            f"Deletes {path} from inside inline code, without asking.",
        )
