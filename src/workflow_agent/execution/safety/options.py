"""Command-line shapes: option parsing that accepts flags in any order and grouping, and the
table of wrappers (sudo, env, timeout, xargs ...) that run another command."""

from __future__ import annotations

from dataclasses import dataclass, field

from .context import Cmd, norm_arg
from .words import Lit, Word


@dataclass
class Opts:
    """Parsed options: flags seen (``-r`` or ``--force``), option values, positional words."""

    flags: set[str] = field(default_factory=set)
    values: dict[str, list[Word]] = field(default_factory=dict)
    positional: list[Word] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        """Whether any of the flags was given."""
        return any(n in self.flags for n in names)

    def value(self, *names: str) -> Word | None:
        """Last value given to any of the options."""
        for name in names:
            if self.values.get(name):
                return self.values[name][-1]
        return None


def parse_opts(words: list[Word], with_arg: frozenset[str] = frozenset(), *, lower: bool = False) -> Opts:
    """Parse getopt-style options: ``-rf``, ``-r -f``, ``--force``, ``--force=true``, ``--``.

    ``with_arg`` lists options that take a value (``-o``, ``--output``); for a short option the
    value may be glued (``-ofile``). Words with run-time parts are positional.
    """
    opts = Opts()
    i = 0
    n = len(words)
    while i < n:
        word = words[i]
        text = word.value
        i += 1
        if text is None or len(text) < 2 or text[0] not in "-\u2010\u2011\u2012\u2013\u2014\u2212":
            opts.positional.append(word)
            continue
        text = norm_arg(text)
        if lower:
            text = text.lower()
        if text == "--":
            opts.positional.extend(words[i:])
            break
        if text.startswith("--"):
            name, eq, val = text.partition("=")
            opts.flags.add(name)
            if eq:
                opts.values.setdefault(name, []).append(Word([Lit(val, False)], word.point, val))
            elif name in with_arg and i < n:
                opts.values.setdefault(name, []).append(words[i])
                i += 1
            continue
        if text in with_arg:  # multi-letter single-dash options such as find's -exec or -name
            opts.flags.add(text)
            if i < n:
                opts.values.setdefault(text, []).append(words[i])
                i += 1
            continue
        for pos in range(1, len(text)):
            flag = "-" + text[pos]
            opts.flags.add(flag)
            if flag in with_arg:
                rest = text[pos + 1 :]
                if rest:
                    opts.values.setdefault(flag, []).append(Word([Lit(rest, False)], word.point, rest))
                elif i < n:
                    opts.values.setdefault(flag, []).append(words[i])
                    i += 1
                break
    return opts


@dataclass(frozen=True)
class Wrapper:
    """A program that runs another program given on its command line."""

    with_arg: frozenset[str] = frozenset()
    fixed: int = 0  # positional words before the command (timeout's duration, chroot's directory)
    shell_opts: frozenset[str] = frozenset()  # options whose value is a shell command string
    query_opts: frozenset[str] = frozenset()  # options that mean "do not run anything"
    shell_if_empty: bool = False  # with no command it starts an interactive shell
    elevates: bool = False
    assignments: bool = False  # NAME=value words come before the command (env)


def _fs(text: str) -> frozenset[str]:
    return frozenset(text.split())


WRAPPERS: dict[str, Wrapper] = {
    "sudo": Wrapper(
        _fs("-u -g -p -C -D -h -r -t -U -T --user --group --prompt --chdir --host --role --type"),
        query_opts=_fs("-l -v -k -K -V --list --validate --version --help"),
        shell_if_empty=True,
        elevates=True,
    ),
    "doas": Wrapper(_fs("-u -C"), shell_if_empty=True, elevates=True),
    "pkexec": Wrapper(_fs("--user"), shell_if_empty=True, elevates=True),
    "run0": Wrapper(_fs("-u --user -D --chdir"), shell_if_empty=True, elevates=True),
    "runuser": Wrapper(_fs("-u -g -G --user --group"), shell_opts=_fs("-c --command"), elevates=True),
    "env": Wrapper(
        _fs("-u -C -S --unset --chdir --split-string"), shell_opts=_fs("-S --split-string"), assignments=True
    ),
    "nice": Wrapper(_fs("-n --adjustment")),
    "nohup": Wrapper(),
    "setsid": Wrapper(),
    "timeout": Wrapper(_fs("-s -k --signal --kill-after"), fixed=1),
    "command": Wrapper(query_opts=_fs("-v -V")),
    "builtin": Wrapper(),
    "exec": Wrapper(_fs("-a")),
    "time": Wrapper(_fs("-f -o --format --output")),
    "stdbuf": Wrapper(_fs("-i -o -e --input --output --error")),
    "ionice": Wrapper(_fs("-c -n -p -P -u --class --classdata --pid")),
    "chrt": Wrapper(_fs("-p"), fixed=1),
    "taskset": Wrapper(_fs("-c --cpu-list"), fixed=1),
    "chroot": Wrapper(_fs("--userspec --groups"), fixed=1, shell_if_empty=True, elevates=True),
    "xargs": Wrapper(
        _fs("-I -n -L -l -P -s -d -E -e -a --arg-file --max-args --max-procs --delimiter --replace"),
    ),
    "watch": Wrapper(_fs("-n -d --interval --differences")),
    "nsenter": Wrapper(_fs("-t -S -G --target --setuid --setgid"), shell_if_empty=True, elevates=True),
    "unshare": Wrapper(_fs("--map-user --map-group"), shell_if_empty=True),
    "flock": Wrapper(_fs("-w -E --timeout --conflict-exit-code"), fixed=1, shell_opts=_fs("-c --command")),
    "cpulimit": Wrapper(_fs("-l -p -e --limit --pid --exe")),
    "choom": Wrapper(_fs("-n -p --adjust --pid")),
    "strace": Wrapper(_fs("-o -e -p -s -u -E -a -P -I")),
    "ltrace": Wrapper(_fs("-o -e -p -s -u -n -a -A -D -l -x")),
    "script": Wrapper(
        _fs("-t -T -I -O -B -E -m"), fixed=1, shell_opts=_fs("-c --command"), shell_if_empty=True
    ),
    "screen": Wrapper(_fs("-S -c -t -p -e -h -L -Logfile"), shell_if_empty=True),
    "rlwrap": Wrapper(_fs("-f -H -l -P -S")),
    "firejail": Wrapper(shell_if_empty=True),
    "aa-exec": Wrapper(_fs("-p -n --profile --namespace")),
    "caffeinate": Wrapper(_fs("-t -w")),
    "proxychains": Wrapper(_fs("-f")),
    "proxychains4": Wrapper(_fs("-f")),
    "torsocks": Wrapper(),
    "fakeroot": Wrapper(),
    "unbuffer": Wrapper(),
    "catchsegv": Wrapper(),
    "logsave": Wrapper(fixed=1),
    "capsh": Wrapper(shell_if_empty=True),
    "busybox": Wrapper(),
    "toybox": Wrapper(),
    "valgrind": Wrapper(),
    "faketime": Wrapper(fixed=1),
    "systemd-run": Wrapper(_fs("-p -u -E --unit --property --setenv")),
    "parallel": Wrapper(_fs("-j -S --jobs --sshlogin")),
}


@dataclass
class Unwrapped:
    """Result of peeling one wrapper off a command."""

    inner: list[Word]
    shell_strings: list[Word]
    assignments: list[tuple[str, Word]]
    spec: Wrapper
    queried: bool = False


def unwrap(cmd: Cmd) -> Unwrapped | None:
    """Split ``sudo -u x rm -rf /`` into the wrapper's options and the command it runs."""
    spec = WRAPPERS.get(cmd.name)
    if spec is None:
        return None
    words = cmd.args
    out = Unwrapped([], [], [], spec)
    i = 0
    fixed = spec.fixed
    while i < len(words):
        text = words[i].value
        if text is None:
            break
        text = norm_arg(text)
        if (
            spec.assignments
            and "=" in text
            and not text.startswith("-")
            and text.split("=", 1)[0].isidentifier()
        ):
            name, _, _val = text.partition("=")
            out.assignments.append((name, words[i]))
            i += 1
            continue
        if text == "--":
            i += 1
            break
        if len(text) > 1 and text.startswith("-") and fixed == spec.fixed:
            name = text.split("=", 1)[0]
            if name in spec.query_opts or (
                len(name) > 2 and not name.startswith("--") and _any_short(name, spec.query_opts)
            ):
                out.queried = True
            if name in spec.shell_opts and "=" not in text and i + 1 < len(words):
                out.shell_strings.append(words[i + 1])
                i += 2
                continue
            i += 2 if name in spec.with_arg and "=" not in text else 1
            continue
        if fixed > 0:
            fixed -= 1
            i += 1
            continue
        break
    out.inner = words[i:]
    return out


def _any_short(cluster: str, names: frozenset[str]) -> bool:
    return any("-" + c in names for c in cluster[1:])
