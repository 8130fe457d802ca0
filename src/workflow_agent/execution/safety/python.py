"""Static checks for Python code with ``ast``: shell commands it runs (analysed as shell), files
it deletes or writes, code it downloads and executes, reverse shells, native code, setuid."""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import shlex

from . import paths
from .context import Ctx, Point
from .model import Severity
from .paths import Place
from .pyvalues import HOLE, NETWORK_SOURCES, Values, nodes_of
from .words import NONEMPTY, names

_SHELL_STRING = names(
    "os.system os.popen commands.getoutput commands.getstatusoutput subprocess.getoutput "
    "subprocess.getstatusoutput asyncio.create_subprocess_shell"
)
_SUBPROCESS = names(
    "subprocess.run subprocess.call subprocess.check_call subprocess.check_output subprocess.Popen"
)
_EXEC_ARGV = names("os.execv os.execve os.execvp os.execvpe os.spawnv os.spawnve os.spawnvp os.spawnvpe")
_EXEC_LIST = names(
    "os.execl os.execle os.execlp os.execlpe os.spawnl os.spawnle os.spawnlp os.spawnlpe "
    "asyncio.create_subprocess_exec pty.spawn"
)
_DELETE = {
    "shutil.rmtree": True,
    "os.remove": False,
    "os.unlink": False,
    "os.rmdir": False,
    "os.removedirs": True,
}
_PATH_DELETE = {"unlink": False, "rmdir": False, "rmtree": True}
_CODE_EXEC = names("eval exec compile builtins.eval builtins.exec")
_DESERIALIZE = names(
    "pickle.loads pickle.load marshal.loads marshal.load dill.loads cloudpickle.loads "
    "jsonpickle.decode yaml.load yaml.unsafe_load _pickle.loads"
)
# Network egress: everything that fetches, plus protocols that mostly send.
_NETWORK_PREFIXES = (*NETWORK_SOURCES, "ftplib.", "smtplib.", "paramiko.")
_UPLOAD = names("requests.post requests.put requests.patch httpx.post httpx.put")
_SETUID = names("os.setuid os.setgid os.seteuid os.setegid os.setreuid os.setresuid")
_SERVERS = names(
    "http.server.HTTPServer http.server.ThreadingHTTPServer socketserver.TCPServer "
    "socketserver.ThreadingTCPServer SimpleHTTPServer.SimpleHTTPRequestHandler SocketServer.TCPServer"
)
_DELETE_SEVERITY = {
    Place.ROOT: Severity.CRITICAL,
    Place.HOME: Severity.CRITICAL,
    Place.SYSTEM: Severity.HIGH,
    Place.HOME_ITEM: Severity.HIGH,
    Place.DEVICE: Severity.HIGH,
    Place.MOUNT: Severity.HIGH,
    Place.TOP_LEVEL: Severity.MEDIUM,
    Place.PARENT: Severity.MEDIUM,
}


def analyze_python(code: str, ctx: Ctx) -> None:
    """Analyse Python source; a syntax error becomes a finding instead of an exception."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 1
        col = getattr(exc, "offset", None) or 1
        ctx.flag(
            "parse.error",
            Severity.MEDIUM,
            (line - 1, max(col - 1, 0)),
            code,
            f"The Python code does not parse ({getattr(exc, 'msg', str(exc))} at line {line}), "
            "so it cannot be shown safe.",
        )
        return
    _Checker(ctx, code, tree).run()


class _Checker:
    def __init__(self, ctx: Ctx, code: str, tree: ast.Module) -> None:
        self.ctx = ctx
        self.code = code
        self.tree = tree
        self.values = Values(tree)
        self.socket = False
        self.wires_fds = False

    def flag(self, rule: str, severity: Severity, node: ast.expr | ast.stmt, text: str) -> None:
        """Record a finding at an AST node."""
        snippet = ast.get_source_segment(self.code, node) or ""
        self.ctx.flag(rule, severity, _point(node), snippet, text)

    def run(self) -> None:
        """Check every call in the module, then module-wide patterns."""
        for loop in self.values.loops:
            if _endless(loop) and _forks(loop):
                self.flag(
                    "resource.fork-bomb",
                    Severity.CRITICAL,
                    loop,
                    "A fork bomb: the loop starts new processes without end until the machine freezes.",
                )
        for call in self.values.calls:
            self._call(call, self.values.qual(call.func))
        if self.socket and self.wires_fds:
            self.flag(
                "net.reverse-shell",
                Severity.CRITICAL,
                self.tree.body[0] if self.tree.body else self.tree,  # type: ignore[arg-type]
                "Connects to the network and wires a shell to the connection (a reverse shell).",
            )

    def _call(self, call: ast.Call, qual: str) -> None:
        args = call.args
        if qual.startswith(_NETWORK_PREFIXES):
            self.ctx.facts.egress.append(_point(call))
            self.socket = self.socket or qual.startswith("socket.")
        if qual in ("os.dup2", "pty.spawn") or (qual in _SUBPROCESS and _fd_kwargs(call)):
            self.wires_fds = True
        if qual in _SHELL_STRING or (qual in _SUBPROCESS and _kw_true(call, "shell")):
            if args:
                self._shell(call, args[0])
        elif qual in _SUBPROCESS or qual in _EXEC_ARGV:
            index = 1 if qual in _EXEC_ARGV else 0
            if len(args) > index and isinstance(args[index], ast.List | ast.Tuple):
                self._argv(call, list(args[index].elts))  # type: ignore[attr-defined]
            elif len(args) > index:
                self._shell(call, args[index])
        elif qual in _EXEC_LIST:
            start = 0 if qual.startswith(("asyncio", "pty")) else 1
            argv = list(args[start:])
            if qual == "pty.spawn" and argv and isinstance(argv[0], ast.List | ast.Tuple):
                argv = list(argv[0].elts)
            self._argv(call, argv)
        elif qual in _DELETE and args:
            self._delete(call, args[0], recursive=_DELETE[qual])
        elif isinstance(call.func, ast.Attribute) and call.func.attr in _PATH_DELETE and not args:
            target = call.func.value
            if self.values.is_path(target):
                self._delete(call, target, recursive=_PATH_DELETE[call.func.attr])
        elif qual in _CODE_EXEC or qual in _DESERIALIZE:
            self._code(call, qual)
        elif qual in {"open", "io.open"} or qual.endswith((".write_text", ".write_bytes", ".read_text")):
            self._open(call, qual)
        elif qual in (
            "shutil.copy",
            "shutil.copy2",
            "shutil.copyfile",
            "shutil.move",
            "os.rename",
            "os.replace",
        ):
            if len(args) > 1:
                self._write(call, args[1])
        elif qual in ("os.chmod", "os.chown", "os.lchown"):
            self._chmod(call, qual)
        elif qual in _SETUID:
            root = bool(args) and isinstance(args[0], ast.Constant) and args[0].value == 0
            self.flag(
                "priv.setuid-call",
                Severity.HIGH if root else Severity.MEDIUM,
                call,
                "Switches the process to another user id" + (" (root)." if root else "."),
            )
        elif qual in ("os.kill", "os.killpg") and args and self.values.const(args[0]) in (-1, 1):
            self.flag(
                "power.kill-all", Severity.CRITICAL, call, "Kills every process (or init) on the machine."
            )
        elif qual in _SERVERS or qual.endswith(".serve_forever"):
            self.flag("net.listen", Severity.MEDIUM, call, "Starts a server that other machines can reach.")
        if qual in _UPLOAD or (qual.endswith("urlopen") and len(args) > 1):
            self._upload(call)
        if qual.startswith("ctypes.") or qual.startswith("cffi."):
            ptrace = "ptrace" in self.code
            self.flag(
                "exec.library-load",
                Severity.HIGH if ptrace else Severity.MEDIUM,
                call,
                "Uses ctypes to call native code" + (" and ptrace other processes." if ptrace else "."),
            )

    def _shell(self, call: ast.Call, arg: ast.expr) -> None:
        text = self.values.text(arg)
        if text is None:
            return
        self.ctx.run("bash", text.replace(HOLE, "$PYVAR"), _point(call))

    def _argv(self, call: ast.Call, elts: list[ast.expr]) -> None:
        parts: list[str] = []
        for elt in elts:
            text = self.values.text(elt)
            if text is None or HOLE in text:
                # An unknown program name is left to the run; unknown arguments may be empty.
                parts.append('"$PYVAR"' if parts else "python-value")
            else:
                parts.append(shlex.quote(text))
        if parts:
            self.ctx.run("bash", " ".join(parts), _point(call))

    def _delete(self, call: ast.Call, arg: ast.expr, *, recursive: bool) -> None:
        text = self.values.text(arg)
        if text is None:
            return
        literal = text.replace(HOLE, NONEMPTY)
        where = paths.place(literal)
        severity = _DELETE_SEVERITY.get(where)
        if severity is not None and (recursive or where not in (Place.TOP_LEVEL, Place.PARENT)):
            self.flag(
                f"fs.delete-{where.name.lower().replace('_', '-')}",
                severity,
                call,
                f"Deletes {_shown(text)} {'recursively ' if recursive else ''}without asking.",
            )
        elif HOLE in text and paths.place(text.replace(HOLE, "")) >= Place.HOME_ITEM:
            self.flag(
                "fs.delete-unset-var",
                Severity.HIGH,
                call,
                f"If a value in this path is empty it deletes {text.replace(HOLE, '') or '/'}.",
            )

    def _code(self, call: ast.Call, qual: str) -> None:
        if not call.args:
            return
        arg = call.args[0]
        if qual == "yaml.load" and any(
            k.arg == "Loader" and "Safe" in ast.unparse(k.value) for k in call.keywords
        ):
            return
        if self.values.fetched(arg):
            self.flag(
                "rce.fetch-exec", Severity.CRITICAL, call, "Runs code or data downloaded from the internet."
            )
            return
        if qual in _DESERIALIZE:
            return
        text = self.values.text(arg)
        if text is not None and HOLE not in text:
            self.ctx.run("python", text, _point(call))
            return
        decoded = _decoded(arg)
        if decoded is not None:
            self.flag("obfuscation.decode-and-run", Severity.MEDIUM, call, "Decodes hidden code and runs it.")
            self.ctx.run("python", decoded, _point(call))
            return
        self.flag("obfuscation.eval-dynamic", Severity.MEDIUM, call, "Runs code assembled at run time.")

    def _open(self, call: ast.Call, qual: str) -> None:
        target: ast.expr | None = call.args[0] if call.args and qual in ("open", "io.open") else None
        if qual.endswith((".write_text", ".write_bytes", ".read_text")) and isinstance(
            call.func, ast.Attribute
        ):
            target = call.func.value
        if target is None:
            return
        mode = self.values.text(call.args[1]) if qual in ("open", "io.open") and len(call.args) > 1 else "r"
        for kw in call.keywords:
            if kw.arg == "mode":
                mode = self.values.text(kw.value)
        writes = qual.endswith(("write_text", "write_bytes")) or any(c in str(mode) for c in "wax+")
        if writes:
            self._write(call, target)
            return
        text = self.values.text(target)
        if text is not None and paths.is_secret(text):
            self.ctx.facts.secret_reads.append(
                (_point(call), _shown(text), ast.get_source_segment(self.code, call) or "")
            )
            self.flag(
                "cred.read",
                Severity.MEDIUM,
                call,
                f"Reads {_shown(text)}, which holds passwords, keys or tokens.",
            )

    def _write(self, call: ast.Call, target: ast.expr) -> None:
        text = self.values.text(target)
        if text is None:
            return
        norm = paths.normalize(text) if text.startswith(("/", "~")) else text
        where = paths.place(text)
        shown = _shown(norm)
        if where is Place.DEVICE or paths.is_account_db(norm):
            self.flag(
                "fs.system-write", Severity.CRITICAL, call, f"Overwrites {shown}, a disk or account file."
            )
        elif paths.is_startup_file(norm):
            self.flag(
                "persist.startup-file", Severity.HIGH, call, f"Changes {shown}, so code runs at every login."
            )
        elif paths.is_git_exec(norm):
            self.flag("persist.git-hook", Severity.MEDIUM, call, f"Changes {shown}: git runs what it names.")
        elif where in (Place.SYSTEM, Place.ROOT):
            self.flag("fs.system-write", Severity.HIGH, call, f"Writes to the system file {shown}.")

    def _chmod(self, call: ast.Call, qual: str) -> None:
        if len(call.args) < 2:
            return
        mode = self.values.const(call.args[1])
        if qual == "os.chmod" and isinstance(mode, int) and mode & 0o6000:
            self.flag(
                "priv.setuid",
                Severity.HIGH,
                call,
                "Sets the setuid/setgid bit, letting anyone run it as its owner.",
            )
            return
        text = self.values.text(call.args[0])
        if text is not None and paths.place(text) in (Place.SYSTEM, Place.ROOT, Place.HOME):
            self.flag(
                "priv.system-permissions", Severity.HIGH, call, f"Changes permissions of {_shown(text)}."
            )

    def _upload(self, call: ast.Call) -> None:
        sources = [*call.args[1:], *(k.value for k in call.keywords if k.arg in ("data", "files", "json"))]
        opened = [self.values.opened_path(s) for s in sources]
        files = [p for p in opened if p is not None]
        if not files:
            return
        leaky = [p for p in files if p and paths.is_leaky(p)]
        self.flag(
            "cred.exfiltrate" if leaky else "net.upload",
            Severity.HIGH if leaky else Severity.MEDIUM,
            call,
            f"Sends {_shown(leaky[0])} to another machine."
            if leaky
            else "Sends the contents of a local file to a server.",
        )


def _shown(text: str) -> str:
    """A value for people: unknown parts shown as an ellipsis instead of a placeholder."""
    return text.replace(HOLE, "…").replace(NONEMPTY, "…")


def _point(node: ast.AST) -> Point:
    return (getattr(node, "lineno", 1) - 1, getattr(node, "col_offset", 0))


def _kw_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and not (isinstance(k.value, ast.Constant) and not k.value.value) for k in call.keywords
    )


def _fd_kwargs(call: ast.Call) -> bool:
    return any(k.arg in ("stdin", "stdout") and "fileno" in ast.unparse(k.value) for k in call.keywords)


def _endless(loop: ast.While) -> bool:
    return (
        isinstance(loop.test, ast.Constant)
        and bool(loop.test.value)
        and not any(isinstance(n, ast.Break) for n in nodes_of(loop))
    )


def _forks(loop: ast.While) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "fork"
        for n in nodes_of(loop)
    )


def _decoded(arg: ast.expr) -> str | None:
    """Decode ``base64.b64decode("…")`` / ``codecs.decode("…", "rot13")`` / ``bytes.fromhex``."""
    if not isinstance(arg, ast.Call) or not arg.args or not isinstance(arg.args[0], ast.Constant):
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "decode":
            return _decoded(arg.func.value)
        return None
    raw = arg.args[0].value
    name = ast.unparse(arg.func)
    try:
        if name.endswith("b64decode") and isinstance(raw, str | bytes):
            return base64.b64decode(raw).decode("utf-8", "replace")
        if name.endswith("fromhex") and isinstance(raw, str):
            return bytes.fromhex(raw).decode("utf-8", "replace")
        if name.endswith("decode") and isinstance(raw, str):
            return codecs.decode(raw, "rot13")
    except (ValueError, binascii.Error, LookupError):
        return None
    return None
