"""Turn tree-sitter-bash word nodes into ``Word`` values: quotes removed, escapes decoded,
known variables substituted, and everything that is only known at run time marked as such.

The analysis never runs anything, so a word is a sequence of literal pieces and dynamic pieces
(variables, command substitutions, arithmetic). Rules ask a word for its value when it is fully
literal, or for the worst case when a variable turns out empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Node

# A dynamic piece that cannot be empty is rendered as this character in path checks, so
# "${DIR:?}/x" stays a path below an unknown directory instead of collapsing to "/x".
NONEMPTY = "\x00"


def node_text(node: Node) -> str:
    """Source text of a syntax node."""
    raw = node.text
    return raw.decode("utf-8", "replace") if raw is not None else ""


def names(text: str) -> frozenset[str]:
    """A set of names written as one space-separated string (keeps long tables compact)."""
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Binding:
    """What the analysis knows about a shell variable."""

    value: str | None = None
    may_be_empty: bool = True
    fetched: bool = False  # assigned from a command substitution that downloads
    candidates: tuple[str, ...] = ()  # for-loop values


# Lit and Dyn are created for every piece of every word: plain slotted classes, since frozen
# dataclasses cost several times more to build. Treat them as immutable.
@dataclass(slots=True)
class Lit:
    text: str
    quoted: bool


@dataclass(slots=True)
class Dyn:
    kind: str  # "var", "cmd", "proc", "arith"
    source: str
    may_be_empty: bool
    fetched: bool = False
    candidates: tuple[str, ...] = ()


def literal_value(parts: list[Lit | Dyn]) -> str | None:
    """The text of a word's parts, ``None`` when one of them is only known at run time."""
    if len(parts) == 1:
        only = parts[0]
        return only.text if isinstance(only, Lit) else None
    text = ""
    for part in parts:
        if not isinstance(part, Lit):
            return None
        text += part.text
    return text


_UNSET: Any = object()


class Word:
    """One shell word after quote removal, with the run-time parts kept apart.

    A plain slotted class rather than a dataclass: a large script builds tens of thousands of
    words, and ``value`` can then be passed in when the caller already knows it."""

    __slots__ = (
        "encoded",
        "escaped_letters",
        "from_vars",
        "parts",
        "point",
        "quote_split",
        "raw",
        "subs",
        "value",
    )

    def __init__(
        self,
        parts: list[Lit | Dyn],
        point: tuple[int, int],
        raw: str,
        subs: list[Node] | None = None,
        escaped_letters: bool = False,  # r\m: a backslash before a letter does nothing but hide text
        quote_split: bool = False,  # r''m: quotes inside a bare word
        encoded: int = 0,  # escape codes ($'\x72') that spell printable text
        from_vars: bool = False,  # some literal text came from a variable's known value
        value: str | None = _UNSET,
    ) -> None:
        self.parts = parts
        self.point = point
        self.raw = raw
        self.subs: list[Node] = [] if subs is None else subs
        self.escaped_letters = escaped_letters
        self.quote_split = quote_split
        self.encoded = encoded
        self.from_vars = from_vars
        # The text when no part is only known at run time.
        self.value: str | None = literal_value(parts) if value is _UNSET else value

    def __repr__(self) -> str:
        return f"Word({self.raw!r}, value={self.value!r})"

    @property
    def text(self) -> str:
        """Display form: literal text with run-time parts shown as written."""
        return "".join(p.text if isinstance(p, Lit) else p.source for p in self.parts)

    @property
    def dynamic(self) -> bool:
        """Whether any part is only known at run time."""
        return any(isinstance(p, Dyn) for p in self.parts)

    @property
    def fetched(self) -> bool:
        """True when a part of the word comes from a download."""
        return any(isinstance(p, Dyn) and p.fetched for p in self.parts)

    def worst_case(self) -> str:
        """The text when every variable that may be empty is empty."""
        return "".join(
            p.text if isinstance(p, Lit) else ("" if p.may_be_empty else NONEMPTY) for p in self.parts
        )

    def optimistic(self) -> str:
        """The text when every run-time part is a non-empty unknown."""
        return "".join(p.text if isinstance(p, Lit) else NONEMPTY for p in self.parts)

    def render(self, text: str, *, every: bool = False) -> str:
        """Show ``text`` computed from ``worst_case()`` (``optimistic()`` when ``every``) to a
        person: each placeholder becomes the variable or substitution it stands for."""
        if NONEMPTY not in text:
            return text
        sources = [p.source for p in self.parts if isinstance(p, Dyn) and (every or not p.may_be_empty)]
        pieces = text.split(NONEMPTY)
        if len(pieces) != len(sources) + 1:  # normalisation dropped a piece: keep a neutral mark
            return text.replace(NONEMPTY, "…")
        out = [pieces[0]]
        for source, piece in zip(sources, pieces[1:], strict=True):
            out += (source, piece)
        return "".join(out)

    def candidates(self) -> list[str]:
        """Values a loop variable can take when the word is just that variable."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Dyn):
            return list(self.parts[0].candidates)
        return []


WELL_KNOWN: dict[str, Binding] = {
    "HOME": Binding("~", False),
    "PWD": Binding(".", False),
    "TMPDIR": Binding("/tmp", False),
    "TMP": Binding("/tmp", False),
    "TEMP": Binding("/tmp", False),
    "SHELL": Binding("sh", False),
    "BASH": Binding("bash", False),
}
_NONEMPTY_SPECIAL = frozenset({"$", "?", "#", "!", "-", "0", "RANDOM", "LINENO", "SECONDS", "UID", "EUID"})
_NONEMPTY_SPECIAL |= frozenset({"PPID", "USER", "LOGNAME", "HOSTNAME", "PATH", "BASHPID"})
# Programs that download: a substitution running one of them yields content from the network.
FETCH_RE = re.compile(
    r"(?:^|[`(|;&{]|\bsudo|\bthen|\bdo)\s*(?:[\w./-]*/)?"
    r"(curl|wget|fetch|aria2c|lynx|links|GET|http|https|xh|nc|ncat|netcat)(?=[\s)`;|&]|$)",
    re.M,
)
_C_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r"}
_C_ESCAPES |= {"t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_C_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)", re.S)
_DQ_ESCAPE_RE = re.compile(r'\\([$`"\\\n])')
_BARE_ESCAPE_RE = re.compile(r"\\(.)", re.S)


def decode_c_escapes(text: str) -> tuple[str, int]:
    """Decode $'...' / echo -e escapes; also count codes that spell printable ASCII text."""
    spelled = 0

    def sub(match: re.Match[str]) -> str:
        """Decode one escape."""
        nonlocal spelled
        code = match.group(1)
        head = code[0]
        if head in "xuU":
            char = chr(min(int(code[1:], 16), 0x10FFFF))
        elif head.isdigit():
            char = chr(int(code, 8) & 0xFF)
        elif head == "c" and len(code) == 2:
            return chr(ord(code[1]) & 0x1F)
        else:
            return _C_ESCAPES.get(code, "\\" + code)
        if char.isascii() and char.isprintable():
            spelled += 1
        return char

    return _C_ESCAPE_RE.sub(sub, text), spelled


@dataclass(slots=True)
class _Exp:
    """A variable expansion before it is looked up: ``$x``, ``${x:-d}``, ``${#x}``..."""

    name: str
    operator: str
    fallback: str  # text of the default after :- or =
    source: str


@dataclass(slots=True)
class _Shape:
    """What a word node is made of, before variables are looked up. It depends only on the
    node's text, so the shapes of words without substitutions are reused for repeated text."""

    parts: list[Lit | Dyn | _Exp] = field(default_factory=list)
    subs: list[Node] = field(default_factory=list)
    escaped_letters: bool = False
    quote_split: bool = False
    encoded: int = 0


_MAX_SHAPES = 8192


class Resolver:
    """Resolves word nodes of one source buffer against the variables seen so far."""

    def __init__(self, src: bytes, env: dict[str, Binding], code: str | None = None) -> None:
        self.src = src
        self.env = env
        # For ASCII text byte offsets are character offsets: slice the decoded text directly.
        self.code = code if code is not None and len(code) == len(src) else None
        self._shapes: dict[tuple[str, str], _Shape] = {}

    def slice(self, start: int, end: int) -> str:
        """Source text between two byte offsets."""
        code = self.code
        if code is not None:
            return code[start:end]
        return self.src[start:end].decode("utf-8", "replace")

    def text(self, node: Node) -> str:
        """Source text of a syntax node."""
        return self.slice(node.start_byte, node.end_byte)

    def word(self, node: Node) -> Word:
        """Resolve one argument-like node (word, string, concatenation, expansion...)."""
        kind = node.type
        raw = self.slice(node.start_byte, node.end_byte)
        row, col = node.start_point
        if kind == "word" and "\\" not in raw:  # the common cases, without the general walk
            return Word([Lit(raw, False)], (row, col), raw, value=raw)
        if kind == "string" and "$" not in raw and "`" not in raw:  # no expansion inside
            inner = self.slice(node.start_byte + 1, node.end_byte - 1)
            if "\\" in inner:
                inner = _DQ_ESCAPE_RE.sub(r"\1", inner)
            return Word([Lit(inner, True)] if inner else [], (row, col), raw)
        key = (kind, raw)
        shape = self._shapes.get(key)
        if shape is None:
            shape = _Shape()
            self._into(node, shape, quoted=False)
            if not shape.subs and not node.has_error:
                if len(self._shapes) >= _MAX_SHAPES:
                    self._shapes.clear()
                self._shapes[key] = shape
        parts: list[Lit | Dyn] = []
        from_vars = False
        for part in shape.parts:
            if isinstance(part, _Exp):
                bound = self._bind(part)
                from_vars = from_vars or bound.__class__ is Lit
                parts.append(bound)
            else:
                parts.append(part)
        return Word(
            parts,
            (row, col),
            raw,
            shape.subs if shape.subs else None,  # never share the cached shape's list
            shape.escaped_letters,
            shape.quote_split,
            shape.encoded,
            from_vars,
        )

    def _into(self, node: Node, shape: _Shape, quoted: bool) -> None:
        kind = node.type
        parts = shape.parts
        if kind in {"word", "number"}:
            text = self.text(node)
            if "\\" in text:
                if re.search(r"\\[A-Za-z0-9]", text[1:] if text.startswith("\\") else text):
                    shape.escaped_letters = True
                text = _BARE_ESCAPE_RE.sub(r"\1", text)
            parts.append(Lit(text, quoted))
        elif kind == "raw_string":
            parts.append(Lit(self.text(node)[1:-1], True))
        elif kind == "ansi_c_string":
            text, spelled = decode_c_escapes(self.text(node)[2:-1])
            shape.encoded += spelled
            parts.append(Lit(text, True))
        elif kind in ("string", "translated_string"):
            self._string(node, shape)
        elif kind == "concatenation":
            pieces = node.children
            for child in pieces:
                self._into(child, shape, quoted)
            if len(pieces) > 1 and any(c.type in ("string", "raw_string", "ansi_c_string") for c in pieces):
                shape.quote_split = True
        elif kind in {"simple_expansion", "expansion"}:
            parts.append(self._expansion(node))
        elif kind == "command_substitution" and (constant := _echoed(node)) is not None:
            shape.subs.append(node)
            parts.append(Lit(constant, quoted))
        elif kind in ("command_substitution", "process_substitution"):
            shape.subs.append(node)
            text = self.text(node)
            kind_name = "cmd" if kind[0] == "c" else "proc"
            parts.append(Dyn(kind_name, text, kind_name == "cmd", bool(FETCH_RE.search(text))))
        elif kind == "arithmetic_expansion":
            shape.subs.append(node)
            parts.append(Dyn("arith", self.text(node), False))
        else:
            parts.append(Lit(self.text(node), quoted))

    def _string(self, node: Node, shape: _Shape) -> None:
        pos = node.start_byte + (2 if node.type == "translated_string" else 1)
        end = node.end_byte - 1
        for child in node.named_children:
            if child.type == "string_content":
                continue
            if child.start_byte > pos:
                shape.parts.append(Lit(_DQ_ESCAPE_RE.sub(r"\1", self.slice(pos, child.start_byte)), True))
            self._into(child, shape, quoted=True)
            pos = child.end_byte
        if end > pos:
            shape.parts.append(Lit(_DQ_ESCAPE_RE.sub(r"\1", self.slice(pos, end)), True))

    def _expansion(self, node: Node) -> _Exp:
        source = self.text(node)
        if node.type == "simple_expansion":  # $name, $1, $@: no operator, nothing to walk
            return _Exp(source[1:], "", "", source)
        name = ""
        operator = ""
        default: Node | None = None
        for child in node.children:
            ctype = child.type
            if ctype in ("variable_name", "special_variable_name") and not name:
                name = self.text(child)
            elif ctype == "subscript":
                operator = "[]"
            elif not child.is_named and ctype not in ("$", "${", "}"):
                operator = operator or ctype
            elif operator and default is None and child.is_named:
                default = child
        return _Exp(name, operator, self.text(default) if default is not None else "", source)

    def _bind(self, exp: _Exp) -> Lit | Dyn:
        """Look an expansion up among the variables known at this point of the script."""
        name = exp.name
        operator = exp.operator
        source = exp.source
        binding = self.env.get(name) or WELL_KNOWN.get(name)
        if operator in (":?", "#") or (name in _NONEMPTY_SPECIAL and not operator):
            return Dyn("var", source, False)
        if operator in (":-", ":=", "-", "="):
            if binding is not None and binding.value is not None and binding.value:
                return Lit(binding.value, True)
            return Dyn("var", source, not exp.fallback and (binding is None or binding.may_be_empty))
        if operator:
            return Dyn("var", source, True, binding.fetched if binding else False)
        if binding is None:
            return Dyn("var", source, True)
        if binding.value is not None:
            return Lit(binding.value, True)
        return Dyn("var", source, binding.may_be_empty, binding.fetched, binding.candidates)


def _echoed(node: Node) -> str | None:
    """``$(echo word)``: a substitution whose output is a constant word."""
    inner = node.named_children
    if len(inner) != 1 or inner[0].type != "command":
        return None
    words = inner[0].named_children
    if len(words) != 2 or words[0].text != b"echo" or words[1].type != "word":
        return None
    text = node_text(words[1])
    return text if re.fullmatch(r"[\w./-]+", text) else None
