"""Turn tree-sitter-bash word nodes into ``Word`` values: quotes removed, escapes decoded,
known variables substituted, and everything that is only known at run time marked as such.

The analysis never runs anything, so a word is a sequence of literal pieces and dynamic pieces
(variables, command substitutions, arithmetic). Rules ask a word for its value when it is fully
literal, or for the worst case when a variable turns out empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class Lit:
    text: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class Dyn:
    kind: str  # "var", "cmd", "proc", "arith"
    source: str
    may_be_empty: bool
    fetched: bool = False
    candidates: tuple[str, ...] = ()


@dataclass(slots=True)
class Word:
    """One shell word after quote removal, with the run-time parts kept apart."""

    parts: list[Lit | Dyn]
    point: tuple[int, int]
    raw: str
    subs: list[Node] = field(default_factory=list)
    escaped_letters: bool = False  # r\m: a backslash before a letter does nothing but hide text
    quote_split: bool = False  # r''m: quotes inside a bare word
    encoded: int = 0  # escape codes ($'\x72') that spell printable text
    from_vars: bool = False  # some literal text came from a variable's known value
    _value: str | bool | None = False  # cache; False means "not computed yet"

    @property
    def value(self) -> str | None:
        """The word's text when it has no run-time part."""
        cached = self._value
        if cached is not False:
            return cached  # type: ignore[return-value]
        parts = self.parts
        if len(parts) == 1 and isinstance(parts[0], Lit):
            result: str | None = parts[0].text
        elif any(isinstance(p, Dyn) for p in parts):
            result = None
        else:
            result = "".join(p.text for p in parts)  # type: ignore[union-attr]
        self._value = result
        return result

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


class Resolver:
    """Resolves word nodes of one source buffer against the variables seen so far."""

    def __init__(self, src: bytes, env: dict[str, Binding]) -> None:
        self.src = src
        self.env = env

    def slice(self, start: int, end: int) -> str:
        """Source text between two byte offsets."""
        return self.src[start:end].decode("utf-8", "replace")

    def word(self, node: Node) -> Word:
        """Resolve one argument-like node (word, string, concatenation, expansion...)."""
        word = Word([], (node.start_point[0], node.start_point[1]), node_text(node))
        self._into(node, word, quoted=False)
        return word

    def _into(self, node: Node, word: Word, quoted: bool) -> None:
        kind = node.type
        parts = word.parts
        if kind in {"word", "number"}:
            text = node_text(node)
            if "\\" in text:
                if re.search(r"\\[A-Za-z0-9]", text[1:] if text.startswith("\\") else text):
                    word.escaped_letters = True
                text = _BARE_ESCAPE_RE.sub(r"\1", text)
            parts.append(Lit(text, quoted))
        elif kind == "raw_string":
            parts.append(Lit(node_text(node)[1:-1], True))
        elif kind == "ansi_c_string":
            text, spelled = decode_c_escapes(node_text(node)[2:-1])
            word.encoded += spelled
            parts.append(Lit(text, True))
        elif kind in ("string", "translated_string"):
            self._string(node, word)
        elif kind == "concatenation":
            pieces = node.children
            for child in pieces:
                self._into(child, word, quoted)
            if len(pieces) > 1 and any(c.type in ("string", "raw_string", "ansi_c_string") for c in pieces):
                word.quote_split = True
        elif kind in {"simple_expansion", "expansion"}:
            parts.append(self._expansion(node, word))
        elif kind == "command_substitution" and (constant := _echoed(node)) is not None:
            word.subs.append(node)
            parts.append(Lit(constant, quoted))
        elif kind in ("command_substitution", "process_substitution"):
            word.subs.append(node)
            text = node_text(node)
            kind_name = "cmd" if kind[0] == "c" else "proc"
            parts.append(Dyn(kind_name, text, kind_name == "cmd", bool(FETCH_RE.search(text))))
        elif kind == "arithmetic_expansion":
            word.subs.append(node)
            parts.append(Dyn("arith", node_text(node), False))
        else:
            parts.append(Lit(node_text(node), quoted))

    def _string(self, node: Node, word: Word) -> None:
        pos = node.start_byte + (2 if node.type == "translated_string" else 1)
        end = node.end_byte - 1
        for child in node.named_children:
            if child.type == "string_content":
                continue
            if child.start_byte > pos:
                word.parts.append(Lit(_DQ_ESCAPE_RE.sub(r"\1", self.slice(pos, child.start_byte)), True))
            self._into(child, word, quoted=True)
            pos = child.end_byte
        if end > pos:
            word.parts.append(Lit(_DQ_ESCAPE_RE.sub(r"\1", self.slice(pos, end)), True))

    def _expansion(self, node: Node, word: Word) -> Lit | Dyn:
        source = node_text(node)
        name = ""
        operator = ""
        default: Node | None = None
        for child in node.children:
            ctype = child.type
            if ctype in ("variable_name", "special_variable_name") and not name:
                name = node_text(child)
            elif ctype == "subscript":
                operator = "[]"
            elif not child.is_named and ctype not in ("$", "${", "}"):
                operator = operator or ctype
            elif operator and default is None and child.is_named:
                default = child
        binding = self.env.get(name) or WELL_KNOWN.get(name)
        if operator in (":?", "#") or (name in _NONEMPTY_SPECIAL and not operator):
            return Dyn("var", source, False)
        if operator in (":-", ":=", "-", "="):
            if binding is not None and binding.value is not None and binding.value:
                word.from_vars = True
                return Lit(binding.value, True)
            fallback = node_text(default) if default is not None else ""
            return Dyn("var", source, not fallback and (binding is None or binding.may_be_empty))
        if operator:
            return Dyn("var", source, True, binding.fetched if binding else False)
        if binding is None:
            return Dyn("var", source, True)
        if binding.value is not None:
            word.from_vars = True
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
