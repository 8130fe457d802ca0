"""Walk a tree-sitter-bash syntax tree and hand every simple command, in normalised form, to
the rules: pipes linked, here-documents attached, variables and the working directory tracked
in script order, and code inside command substitutions visited too."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from .commands import INTERESTING, PIPE_ONLY, check, handlers_for, hot_offsets
from .context import Cmd, Ctx, Output, Redirect, command_name, snippet_of
from .model import Severity
from .pipes import stage_output
from .rules_system import check_assignment
from .words import Binding, Lit, Resolver, Word, names

# Every node a word keeps in ``subs`` ($(...), `...`, <(...), >(...), $((...)), $[...]) starts so.
_SUBSTITUTION_HINT = re.compile(r"\$\(|`|<\(|>\(|\$\[")
_PARSER = Parser(Language(tree_sitter_bash.language()))
_WORDISH = names(
    "word string raw_string concatenation simple_expansion expansion command_substitution "
    "process_substitution ansi_c_string number arithmetic_expansion translated_string "
    "brace_expression"
)
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_SKIP = frozenset({"comment", "heredoc_body", "heredoc_start", "heredoc_end"})
_STANDARD = names(
    "cd ls rm cp mv cat echo printf sudo su git ssh scp curl wget python python3 bash sh test grep "
    "find sed awk kill chmod chown mkdir pwd exit source export unset alias eval exec"
)


def _ignore(node: Node) -> None:
    """Comments and here-document parts hold no commands."""


def parse(code: str) -> tuple[bytes, Node]:
    """Parse shell code; returns the encoded source and the root node."""
    src = code.encode("utf-8", "surrogatepass")
    return src, _PARSER.parse(src).root_node


def analyze_bash(code: str, ctx: Ctx) -> None:
    """Analyse shell code, reporting a parse error as a finding and walking what did parse."""
    src, root = parse(code)
    if "\r" in code:
        row = code[: code.index("\r")].count("\n")
        ctx.flag(
            "obfuscation.carriage-return",
            Severity.MEDIUM,
            (row, 0),
            code,
            "Contains carriage returns, which bash keeps as part of commands and terminals use to hide text.",
        )
    if root.has_error:
        _report_parse_error(ctx, root, src)
    Walker(src, ctx, code).visit(root)


def _report_parse_error(ctx: Ctx, root: Node, src: bytes) -> None:
    stack = [root]
    bad: Node | None = None
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            bad = node
            break
        if node.has_error:
            stack.extend(reversed(node.children))
    point = bad.start_point if bad is not None else root.start_point
    what = f"missing {bad.type!r}" if bad is not None and bad.is_missing else "unexpected text"
    near = src[bad.start_byte : bad.end_byte + 20].decode("utf-8", "replace") if bad else ""
    ctx.flag(
        "parse.error",
        Severity.MEDIUM,
        (point[0], point[1]),
        near or snippet_of(src.decode("utf-8", "replace")),
        f"The shell code does not parse ({what} at line {point[0] + 1}), so it cannot be shown safe.",
    )


class Walker:
    """Visits statements in order; one instance per parsed text."""

    def __init__(self, src: bytes, ctx: Ctx, code: str | None = None) -> None:
        self.src = src
        self.ctx = ctx
        self.res = Resolver(src, ctx.env, code)
        self.text = self.res.text
        self.hot = hot_offsets(src)
        self._visitors: dict[str, Callable[[Node], object]] = {
            "command": lambda node: self._simple(node, [], None, piped=False),
            "pipeline": lambda node: self._pipeline(node.named_children, None, want=False),
            "redirected_statement": lambda node: self._redirected(node, None, piped=False, want=False),
            "variable_assignment": self._assign,
            "declaration_command": self._declare,
            "unset_command": self._unset,
            "for_statement": self._for,
            "function_definition": self._function,
        }
        for kind in _WORDISH:
            self._visitors[kind] = self._word_node
        for kind in _SKIP:
            self._visitors[kind] = _ignore

    def visit(self, node: Node) -> None:
        """Visit one syntax node and everything below it."""
        visitor = self._visitors.get(node.type)
        if visitor is not None:
            visitor(node)
        else:
            for child in node.named_children:
                self.visit(child)

    def _word_node(self, node: Node) -> None:
        """A word outside a command (test, case, ...): only its substitutions matter."""
        if _SUBSTITUTION_HINT.search(self.text(node)):
            self._visit_subs(self.res.word(node))

    def _visit_subs(self, word: Word) -> None:
        for sub in word.subs:
            for child in sub.named_children:
                self.visit(child)

    # -- commands and pipelines ------------------------------------------------------------

    def _build(self, node: Node, redirects: list[Redirect], feed: Output | None, piped: bool) -> Cmd:
        words: list[Word] = []
        assignments: list[tuple[str, Word]] = []
        for child in node.named_children:
            kind = child.type
            if kind == "command_name":
                inner = child.named_children
                if inner:
                    words.append(self.res.word(inner[0]))
            elif kind == "variable_assignment":
                name, value = self._assignment_parts(child)
                if value is not None:
                    assignments.append((name, value))
            elif kind in _REDIRECTS:
                feed = self._redirect(child, redirects) or feed
            elif kind not in _SKIP:
                words.append(self.res.word(child))
        cmd = Cmd(
            words=words,
            name=command_name(words[0]) if words else "",
            point=(node.start_point[0], node.start_point[1]),
            snippet=self.text(node),
            redirects=redirects,
            feed=feed,
            piped_out=piped,
            assignments=assignments,
            hot=self._hot(node.start_byte, node.end_byte),
        )
        return cmd

    def _run(self, cmd: Cmd) -> None:
        for word in cmd.words:
            self._visit_subs(word)
        for _, value in cmd.assignments:
            self._visit_subs(value)
        for redirect in cmd.redirects:
            if redirect.target is not None:
                self._visit_subs(redirect.target)
        check(self.ctx, cmd)
        self._track_cd(cmd)

    def _simple(self, node: Node, redirects: list[Redirect], feed: Output | None, *, piped: bool) -> Cmd:
        if not redirects:
            quick = self._plain(node, feed, piped=piped)
            if quick is not None:
                return quick
        cmd = self._build(node, redirects, feed, piped)
        self._run(cmd)
        return cmd

    def _plain(self, node: Node, feed: Output | None, *, piped: bool) -> Cmd | None:
        """Fast path: a command no rule cares about is not normalised, only searched for
        nested command substitutions. This keeps large scripts cheap to analyse."""
        children = node.named_children
        if not children or children[0].type != "command_name":
            return None
        name_nodes = children[0].named_children
        if not name_nodes or name_nodes[0].type != "word":
            return None
        text = self.text(name_nodes[0])
        if "\\" in text or not text.isascii() or "/" in text:
            return None
        name = text.lower()
        if name in INTERESTING or handlers_for(name) or name.startswith("!") or (piped and name in PIPE_ONLY):
            return None
        start = node.start_byte
        end = node.end_byte
        if self._hot(start, end) or any(c.type in _REDIRECTS for c in children):
            return None
        body = self.res.slice(start, end)
        if self.ctx.env_hot and "$" in body:
            return None
        if _SUBSTITUTION_HINT.search(body):
            stack = children[1:]
            while stack:
                child = stack.pop()
                if child.type in ("command_substitution", "process_substitution"):
                    for inner in child.named_children:
                        self.visit(inner)
                else:
                    stack.extend(child.named_children)
        row, col = node.start_point
        point = (row, col)
        return Cmd(
            [Word([Lit(text, False)], point, text)], name, point, text, feed=feed, piped_out=piped, hot=False
        )

    def _hot(self, start: int, end: int) -> bool:
        hot = self.hot
        i = bisect_left(hot, start)
        return i < len(hot) and hot[i] < end

    def _redirect(self, node: Node, redirects: list[Redirect]) -> Output | None:
        """Record a redirection; returns what it feeds to stdin, if anything."""
        kind = node.type
        point = (node.start_point[0], node.start_point[1])
        if kind == "heredoc_redirect":
            body = ""
            for child in node.named_children:
                if child.type == "heredoc_body":
                    body = self.text(child)
            if node.children and node.children[0].type == "<<-":
                body = "\n".join(line.lstrip("\t") for line in body.split("\n"))
            return Output("literal", body)
        if kind == "herestring_redirect":
            words = [c for c in node.named_children if c.type in _WORDISH]
            if not words:
                return None
            word = self.res.word(words[-1])
            self._visit_subs(word)
            if word.value is not None:
                return Output("literal", word.value)
            return Output("network" if word.fetched else "unknown")
        op = ""
        target: Word | None = None
        for child in node.children:
            if not child.is_named:
                op = op or child.type
            elif child.type in _WORDISH and target is None:
                target = self.res.word(child)
        redirects.append(Redirect(op or ">", target, point))
        if op == "<" and target is not None and target.value and target.value.startswith("/dev/tcp/"):
            return Output("socket")
        return Output("unknown") if op == "<" else None

    def _redirected(
        self, node: Node, feed: Output | None, *, piped: bool, want: bool = True
    ) -> Output | None:
        """A command with redirections (and here-documents that may start a pipeline); returns
        what it writes to a pipe when ``want``: nobody reads it after a statement's last stage."""
        body = node.child_by_field_name("body")
        redirects: list[Redirect] = []
        follow: list[Node] = []
        for child in node.children:
            if child.type in _REDIRECTS:
                got = self._redirect(child, redirects)
                feed = got or feed
                if child.type == "heredoc_redirect":
                    follow.extend(c for c in child.named_children if c.type not in _SKIP)
        chained = bool(follow) and follow[0].type == "pipeline"
        want = want or any(extra.type == "pipeline" for extra in follow)
        point = (node.start_point[0], node.start_point[1])
        out: Output | None = None
        if body is not None and body.type == "command":
            cmd = self._simple(body, redirects, feed, piped=piped or chained)
            out = stage_output(cmd) if want else None
        elif body is not None and body.type == "pipeline":
            out = self._pipeline(body.named_children, feed, want=want)
            check(self.ctx, Cmd([], "", point, self.text(node), redirects))
        else:
            if body is not None:
                self.visit(body)
            check(self.ctx, Cmd([], "", point, self.text(node), redirects))
            out = Output("unknown")
        for extra in follow:
            if extra.type == "pipeline":
                self._pipeline(extra.named_children, out)
            else:
                self.visit(extra)
        return out

    def _pipeline(self, stages: list[Node], feed: Output | None, *, want: bool = True) -> Output:
        """Check each stage with what the previous one writes; returns the last stage's output
        (worked out only when ``want``)."""
        stages = [s for s in stages if s.type not in _SKIP]
        for i, stage in enumerate(stages):
            piped = i < len(stages) - 1
            if stage.type == "list" and i == 0 and feed is not None:
                first, *rest = stage.named_children
                self._stage(first, feed, piped=False, want=False)
                for node in rest:
                    self.visit(node)
                feed = Output("unknown")
                continue
            feed = self._stage(stage, feed, piped=piped, want=want or piped)
        return feed or Output("unknown")

    def _stage(self, stage: Node, feed: Output | None, *, piped: bool, want: bool) -> Output | None:
        if stage.type == "command":
            cmd = self._simple(stage, [], feed, piped=piped)
            return stage_output(cmd) if want else None
        if stage.type == "redirected_statement":
            return self._redirected(stage, feed, piped=piped, want=want)
        self.visit(stage)
        return Output("unknown")

    # -- variables, functions, directories -------------------------------------------------

    def _assignment_parts(self, node: Node) -> tuple[str, Word | None]:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        name = self.text(name_node) if name_node is not None else ""
        if value_node is None:
            return name, Word([], (node.start_point[0], node.start_point[1]), "")
        return name, self.res.word(value_node)

    def _assign(self, node: Node) -> None:
        name, value = self._assignment_parts(node)
        if value is None:
            return
        self._visit_subs(value)
        if value.parts:
            self.ctx.env[name] = Binding(value.value, value.worst_case() == "", value.fetched)
        else:
            self.ctx.env[name] = Binding("", True)
        hot = self._hot(node.start_byte, node.end_byte)
        self.ctx.env_hot = self.ctx.env_hot or hot
        check_assignment(self.ctx, name, value, self.text(node), hot=hot)

    def _declare(self, node: Node) -> None:
        keyword = node.children[0].type if node.children else ""
        words: list[Word] = []
        for child in node.named_children:
            if child.type == "variable_assignment":
                self._assign(child)
            elif child.type in _WORDISH:
                words.append(self.res.word(child))
        if not any(c.type == "variable_assignment" for c in node.named_children):
            point = (node.start_point[0], node.start_point[1])
            check(self.ctx, Cmd([Word([], point, keyword), *words], keyword, point, self.text(node)))

    def _unset(self, node: Node) -> None:
        point = (node.start_point[0], node.start_point[1])
        words = [self.res.word(c) for c in node.named_children]
        for word in words:
            if word.value:
                self.ctx.env.pop(word.value, None)
        check(self.ctx, Cmd([Word([], point, "unset"), *words], "unset", point, self.text(node)))

    def _for(self, node: Node) -> None:
        var = node.child_by_field_name("variable")
        values = [self.res.word(c) for c in node.children_by_field_name("value")]
        for word in values:
            self._visit_subs(word)
        if var is not None:
            literal = [w.value for w in values if w.value is not None]
            self.ctx.env[self.text(var)] = Binding(
                None, not values or len(literal) < len(values), candidates=tuple(literal)
            )
        body = node.child_by_field_name("body")
        if body is not None:
            self.visit(body)

    def _function(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        name = self.text(name_node) if name_node is not None else ""
        point = (node.start_point[0], node.start_point[1])
        if body is not None:
            from .obfuscation import is_fork_bomb

            if is_fork_bomb(name, body):
                self.ctx.flag(
                    "resource.fork-bomb",
                    Severity.CRITICAL,
                    point,
                    self.text(node),
                    "A fork bomb: the function starts copies of itself until the machine freezes.",
                )
        if name in _STANDARD:
            self.ctx.flag(
                "persist.shadow-command",
                Severity.MEDIUM,
                point,
                self.text(node),
                f"Redefines the standard command {name!r}, so later uses of it do something else.",
            )
        if body is not None:
            self.visit(body)

    def _track_cd(self, cmd: Cmd) -> None:
        if cmd.name not in ("cd", "pushd"):
            return
        args = [w for w in cmd.args if not (w.value or "").startswith("-")]
        if not args:
            self.ctx.cwd = "~"
            return
        target = args[0].value
        if target is None or target == "-":
            self.ctx.cwd = None
        elif target.startswith(("/", "~")):
            self.ctx.cwd = target
        elif self.ctx.cwd is not None:
            self.ctx.cwd = self.ctx.cwd.rstrip("/") + "/" + target
