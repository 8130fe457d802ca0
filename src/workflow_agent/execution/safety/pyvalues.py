"""What Python expressions evaluate to, as far as can be known without running them: import
aliases, string constants, f-strings and path joins, and which names hold downloaded data.

Unknown pieces of a string are marked with ``HOLE`` so callers can ask "what if this part is
empty?"; an expression with no known text at all is ``None``.
"""

from __future__ import annotations

import ast
import re
from typing import cast

from .words import names

HOLE = "\x01"
# Calls whose results come from the network (sources of fetched, untrusted data).
NETWORK_SOURCES = (
    "urllib.request.",
    "urllib.urlopen",
    "urllib2.",
    "requests.",
    "httpx.",
    "http.client.",
    "aiohttp.",
    "urllib3.",
    "socket.",
)
_PATHLIKE = names(
    "os.path.expanduser os.path.abspath os.path.realpath os.path.normpath os.path.expandvars str "
    "os.fspath pathlib.Path pathlib.PurePath pathlib.PosixPath Path PurePath PosixPath"
)
_PATH_TYPES = ("Path", "PurePath", "PosixPath", "home")
_FORMAT = re.compile(r"\{[^{}]*\}|%[-#0 +]*\d*(?:\.\d+)?[sdrifx]")
_MAX_DEPTH = 20


class Values:
    """Constant folding and taint tracking over one module (flow-insensitive)."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        self.assigned: dict[str, ast.expr | None] = {}
        self.tainted: set[str] = set()
        # One pass sorts the nodes that matter by exact class (much cheaper than isinstance
        # chains on every node); kinds that must keep their relative order share a list.
        imports: list[ast.AST] = []
        bindings: list[ast.AST] = []
        calls: list[ast.AST] = []
        loops: list[ast.AST] = []
        wanted = {ast.Call: calls, ast.While: loops, ast.Import: imports, ast.ImportFrom: imports}
        wanted |= {ast.Assign: bindings, ast.AnnAssign: bindings, ast.withitem: bindings}
        for node in nodes_of(tree):
            bucket = wanted.get(node.__class__)
            if bucket is not None:
                bucket.append(node)
        self.calls = cast(list[ast.Call], calls)  # in ast.walk order
        self.loops = cast(list[ast.While], loops)
        for node in imports:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".", 1)[0]
                    self.aliases[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        pending: list[tuple[str, ast.expr]] = []
        for node in bindings:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in _names(target):
                        pending.append((name, node.value))
                        self.assigned[name] = node.value if name not in self.assigned else None
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                for name in _names(node.optional_vars):
                    pending.append((name, node.context_expr))
        network = any(self._network_call(call) for call in self.calls)
        for _ in range(3 if network else 0):  # taint flows: r = urlopen(u); data = r.read()
            for name, value in pending:
                if self.fetched(value):
                    self.tainted.add(name)

    def _network_call(self, call: ast.Call) -> bool:
        qual = self.qual(call.func)
        return qual.startswith(NETWORK_SOURCES) or qual.endswith((".recv", ".recvfrom"))

    def qual(self, node: ast.expr) -> str:
        """Dotted name of a callee with import aliases resolved (``sp.run`` -> ``subprocess.run``)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qual(node.value)
            return f"{base}.{node.attr}" if base else ""
        if isinstance(node, ast.Call):
            base = self.qual(node.func)
            return f"{base}()" if base else ""
        return ""

    def fetched(self, node: ast.expr) -> bool:
        """Whether the expression carries data that came from the network."""
        for sub in nodes_of(node):
            if isinstance(sub, ast.Call):
                if self._network_call(sub):
                    return True
            elif isinstance(sub, ast.Name) and sub.id in self.tainted:
                return True
        return False

    def const(self, node: ast.expr) -> object:
        """A literal number or string, ``None`` when not a literal."""
        if isinstance(node, ast.Constant):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
        ):
            value = node.operand.value
            return -value if isinstance(value, int | float) else None
        return None

    def text(self, node: ast.expr, depth: int = 0) -> str | None:
        """String value with unknown parts as ``HOLE``; ``None`` when nothing is known."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return node.value
            return node.value.decode("utf-8", "replace") if isinstance(node.value, bytes) else None
        if isinstance(node, ast.JoinedStr):
            return "".join(
                self.text(v.value, depth + 1) or HOLE
                if isinstance(v, ast.FormattedValue)
                else self._piece(v, depth)
                for v in node.values
            )
        if isinstance(node, ast.BinOp):
            left = self.text(node.left, depth + 1)
            if isinstance(node.op, ast.Mod) and left is not None:
                return _FORMAT.sub(HOLE, left)
            right = self.text(node.right, depth + 1)
            if left is None and right is None:
                return None
            joiner = "/" if isinstance(node.op, ast.Div) else ""
            return (left or HOLE) + joiner + (right or HOLE)
        if isinstance(node, ast.Name):
            value = self.assigned.get(node.id)
            return self.text(value, depth + 1) if value is not None else None
        if isinstance(node, ast.Subscript) and self.qual(node.value) == "os.environ":
            return "~" if self.const(node.slice) == "HOME" else None
        if isinstance(node, ast.Call):
            return self._call_text(node, depth)
        return None

    def _piece(self, node: ast.expr, depth: int) -> str:
        return self.text(node, depth + 1) or ""

    def _call_text(self, node: ast.Call, depth: int) -> str | None:
        qual = self.qual(node.func)
        args = [self.text(a, depth + 1) for a in node.args]
        if qual.endswith(".home") or (qual in ("os.getenv", "os.environ.get") and args[:1] == ["HOME"]):
            return "~"
        if qual in ("os.path.join", "posixpath.join") or (qual in _PATHLIKE and node.args):
            return _join(args)
        if isinstance(node.func, ast.Attribute):
            base = self.text(node.func.value, depth + 1)
            attr = node.func.attr
            if attr == "joinpath" and base is not None:
                return _join([base, *args])
            if attr == "format" and base is not None:
                return _FORMAT.sub(HOLE, base)
            if attr == "join" and base is not None and len(node.args) == 1:
                items = node.args[0]
                if isinstance(items, ast.List | ast.Tuple):
                    return base.join(self.text(e, depth + 1) or HOLE for e in items.elts)
            if attr in ("expanduser", "resolve", "absolute", "strip") and base is not None:
                return base
        return None

    def is_path(self, node: ast.expr) -> bool:
        """Whether an expression builds a pathlib path (so ``.unlink()`` means a file)."""
        if isinstance(node, ast.Call):
            qual = self.qual(node.func)
            return qual.endswith(_PATH_TYPES) or (
                isinstance(node.func, ast.Attribute) and self.is_path(node.func.value)
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self.is_path(node.left)
        if isinstance(node, ast.Name):
            value = self.assigned.get(node.id)
            return value is not None and self.is_path(value)
        return False

    def opened_path(self, node: ast.expr) -> str | None:
        """If the expression reads a file (``open(p).read()``), that path ('' when unknown)."""
        for sub in nodes_of(node):
            if isinstance(sub, ast.Call):
                qual = self.qual(sub.func)
                if qual in ("open", "io.open", "builtins.open") and sub.args:
                    return self.text(sub.args[0]) or ""
                if qual.endswith((".read_bytes", ".read_text")) and isinstance(sub.func, ast.Attribute):
                    return self.text(sub.func.value) or ""
        return None


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: ()}
# Fields that hold names, numbers, flags or operator markers, never a node worth visiting.
_LEAF_FIELDS = frozenset(
    [
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "arg",
        "name",
        "asname",
        "module",
        "level",
        "kind",
        "type_comment",
        "conversion",
        "is_async",
        "simple",
    ]
)


def nodes_of(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` in ``ast.walk`` order (breadth first), without context and operator
    markers (``Load``, ``Add``); faster than ``ast.walk``, which matters for large scripts."""
    out = [tree]
    append = out.append
    fields_of = _CHILD_FIELDS
    node_type = ast.AST
    for node in out:  # the list grows while it is read: a queue without popping
        cls = node.__class__
        fields = fields_of.get(cls)
        if fields is None:
            fields = fields_of[cls] = tuple(f for f in cls._fields if f not in _LEAF_FIELDS)
        for name in fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, node_type):
                        append(item)
            elif isinstance(value, node_type):
                append(value)
    return out


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _names(elt)]
    return []


def _join(parts: list[str | None]) -> str:
    out = ""
    for part in parts:
        piece = HOLE if part is None else part
        out = piece if piece.startswith("/") or not out else out.rstrip("/") + "/" + piece
    return out
