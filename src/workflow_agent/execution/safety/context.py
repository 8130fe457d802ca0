"""Shared state of one analysis: where findings go, what the script did so far, and the
normalised shape of a shell command that the rules look at."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import Finding, Severity
from .words import Binding, Word

Point = tuple[int, int]  # 0-based row and byte column, as tree-sitter reports them

MAX_DEPTH = 6  # nested bash -c / eval / python -c levels analysed before giving up
SNIPPET_LEN = 120


def snippet_of(text: str) -> str:
    """First line of a command, shortened for display, control characters made visible."""
    line = text.strip().split("\n", 1)[0]
    line = line if len(line) <= SNIPPET_LEN else line[: SNIPPET_LEN - 1] + "…"
    return visible(line)


# Control characters (and bidirectional overrides) would corrupt or disguise what a terminal
# shows; the placeholders for unknown values ("\x00", "\x01") show as an ellipsis instead.
_VISIBLE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_VISIBLE |= {0: "…", 1: "…", 9: "\\t", 10: "\\n", 13: "\\r"}
_VISIBLE |= {c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with control characters written as escapes (``\\r``, ``\\x1b``)."""
    return text.translate(_VISIBLE) if _HIDDEN.search(text) else text


class Sink:
    """Collects findings for one analysed text, one per rule and position (the worst kept)."""

    def __init__(self, code: str) -> None:
        self._lines = code.encode("utf-8", "surrogatepass").split(b"\n")
        self._found: dict[tuple[str, int, int], Finding] = {}

    def position(self, point: Point) -> tuple[int, int]:
        """1-based line and character column of a tree-sitter point."""
        row, byte_col = point
        if row >= len(self._lines):
            return row + 1, 1
        prefix = self._lines[row][:byte_col].decode("utf-8", "replace")
        return row + 1, len(prefix) + 1

    def add(self, rule_id: str, severity: Severity, point: Point, snippet: str, explanation: str) -> None:
        """Record a finding at a tree-sitter point."""
        line, col = self.position(point)
        key = (rule_id, line, col)
        old = self._found.get(key)
        if old is None or old.severity.rank < severity.rank:
            self._found[key] = Finding(
                rule_id=rule_id,
                severity=severity,
                line=line,
                col=col,
                snippet=snippet_of(snippet),
                explanation=visible(explanation),
            )

    @property
    def findings(self) -> list[Finding]:
        """Findings collected so far."""
        return list(self._found.values())


@dataclass
class Facts:
    """What the whole script does, for rules that need two actions together."""

    egress: list[Point] = field(default_factory=list)
    secret_reads: list[tuple[Point, str, str]] = field(default_factory=list)  # point, path, snippet
    downloads: set[str] = field(default_factory=set)  # file names written by curl -o / wget


Nested = Callable[[str, str, Point, "Ctx"], None]


@dataclass
class Ctx:
    """Where we are: nesting depth, the anchor for nested code, known variables and directory."""

    sink: Sink
    facts: Facts
    nested: Nested
    depth: int = 0
    anchor: Point | None = None
    env: dict[str, Binding] = field(default_factory=dict)
    cwd: str | None = None
    elevated: bool = False
    env_hot: bool = False  # a variable holds text that argument checks care about

    def flag(self, rule_id: str, severity: Severity, point: Point, snippet: str, explanation: str) -> None:
        """Record a finding; nested code reports at the position of its outer string."""
        self.sink.add(rule_id, severity, self.anchor or point, snippet, explanation)

    def child(self, point: Point, *, share_env: bool = False) -> Ctx:
        """Context for code nested inside a string at ``point`` (bash -c, eval, python -c)."""
        return Ctx(
            sink=self.sink,
            facts=self.facts,
            nested=self.nested,
            depth=self.depth + 1,
            anchor=self.anchor or point,
            env=self.env if share_env else dict(self.env),
            cwd=self.cwd,
            elevated=self.elevated,
            env_hot=self.env_hot,
        )

    def run(self, language: str, code: str, point: Point) -> None:
        """Analyse nested code in ``language`` ("bash", "python", or another interpreter's name)."""
        if self.depth + 1 > MAX_DEPTH:
            self.flag(
                "parse.too-deep",
                Severity.MEDIUM,
                point,
                code,
                "Code is nested too deeply (commands inside commands) to be checked.",
            )
            return
        self.nested(language, code, point, self)


@dataclass(slots=True)
class Redirect:
    op: str
    target: Word | None
    point: Point


@dataclass(slots=True)
class Output:
    """What a pipeline stage writes to its stdout, as far as it can be known."""

    kind: str  # "network", "decoded", "literal", "unknown", "secret", "env"
    text: str | None = None
    obfuscated: bool = False


@dataclass(slots=True)
class Cmd:
    """A simple command after quote removal, with its pipes and redirections."""

    words: list[Word]
    name: str
    point: Point
    snippet: str
    redirects: list[Redirect] = field(default_factory=list)
    feed: Output | None = None  # what arrives on stdin (pipe, heredoc, here-string)
    piped_out: bool = False
    assignments: list[tuple[str, Word]] = field(default_factory=list)
    wrappers: tuple[str, ...] = ()
    hot: bool = True  # the command's text contains something argument checks look for

    @property
    def args(self) -> list[Word]:
        """Arguments after the program name."""
        return self.words[1:]

    def values(self) -> list[str]:
        """Arguments as text, run-time parts shown as written."""
        return [w.text for w in self.words[1:]]

    def inner(self, words: list[Word], wrapper: str) -> Cmd:
        """The command a wrapper (sudo, env, xargs ...) runs, sharing pipes and redirections."""
        return Cmd(
            words=words,
            name=command_name(words[0]) if words else "",
            point=self.point,
            snippet=self.snippet,
            redirects=self.redirects,
            feed=self.feed,
            piped_out=self.piped_out,
            assignments=self.assignments,
            wrappers=(*self.wrappers, wrapper),
            hot=self.hot,
        )


_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"})


_INVISIBLE = str.maketrans(dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad")))


def command_name(word: Word) -> str:
    """Normalised program name: no directory, lower case (macOS file systems ignore case),
    compatibility forms folded (fullwidth letters) and invisible characters removed."""
    value = word.value
    if value is None:
        return ""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value).translate(_INVISIBLE)
    base = value.rstrip("/").rsplit("/", 1)[-1]
    return base.lower().translate(_DASHES).strip()


def norm_arg(text: str) -> str:
    """Option text with look-alike Unicode dashes turned into ASCII hyphens."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text.translate(_DASHES)).translate(_INVISIBLE)


Handler = Callable[[Ctx, Cmd], None]
HANDLERS: dict[str, list[Handler]] = {}
HANDLER_CACHE: dict[str, list[Handler]] = {}  # handlers_for() answers, emptied on registration


def handles(*names: str) -> Callable[[Handler], Handler]:
    """Register a rule function for the programs ``names`` (normalised command names)."""

    def register(func: Handler) -> Handler:
        """Add the rule to the table."""
        for name in names:
            HANDLERS.setdefault(name, []).append(func)
        HANDLER_CACHE.clear()
        return func

    return register
