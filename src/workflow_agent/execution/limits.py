"""Resource limits for every run: a cgroup per run where possible, rlimits always.

The cgroup is the real limit. It covers the whole process tree, including children that leave
the process group, and the kernel reports when it acted (``oom_killed``, ``pids_limited``).
Rlimits are the fallback and the complement:

* ``RLIMIT_AS`` stands in for the memory cgroup only when there is none. It limits virtual
  address space, not memory, so runtimes that reserve large regions up front (the JVM, Go,
  some JITs) fail under it long before they use that much memory; and it is per process, so a
  script that forks ten workers may use ten times the limit.
* ``RLIMIT_NPROC`` stands in for the pids cgroup only when there is none, and it is weak: the
  kernel counts every task (thread) of the real uid system-wide, and never applies it to root
  (uid 0) at all. So it is skipped for root, and for other users it is set to the tasks the uid
  already has plus ``max_processes``, a best-effort bound on what the run adds.
* ``RLIMIT_FSIZE`` and ``RLIMIT_CPU`` have no cgroup equivalent and are always applied when
  asked for. Both are per process: a file larger than ``max_file_mb`` cannot be written by any
  one process (SIGXFSZ, or EFBIG where the signal is ignored, as Python does), and a process
  that uses ``cpu_seconds`` of CPU gets SIGXCPU, then SIGKILL ``CPU_GRACE_S`` seconds later.
* ``RLIMIT_CORE`` is always 0: a core dump of a script can hold its secrets.

Typical use (``preexec_for`` chains what runs in the child before exec)::

    with RunCgroup.create(limits, name) or contextlib.nullcontext() as cgroup:
        spec = ProcessSpec(..., preexec=preexec_for(limits, cgroup))
        result = run_process(spec, ...)
        if cgroup is not None and cgroup.oom_killed(): ...
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import resource
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

MIB = 1 << 20
CPU_GRACE_S = 2
WANTED = frozenset({"memory", "pids"})
_counter = itertools.count(1)


@dataclass(frozen=True)
class Limits:
    """What a run may use; None means no limit of that kind."""

    memory_mb: int | None = None  # memory cgroup limit, else address space (RLIMIT_AS)
    max_processes: int | None = None  # pids cgroup limit, else RLIMIT_NPROC (not for root)
    max_file_mb: int | None = None  # RLIMIT_FSIZE
    cpu_seconds: int | None = None  # RLIMIT_CPU


class CgroupError(OSError):
    """A run's cgroup could not be set up or torn down as promised."""


# ---------------------------------------------------------------------------------------------
# rlimits


def _count_tasks(uid: int) -> int:
    """Tasks (threads included, as RLIMIT_NPROC counts them) whose real uid is ``uid``."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        real = threads = None
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8", errors="replace") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        real = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
        except OSError:
            continue  # exited while we looked
        if real == uid:
            count += threads or 1
    return count


def nproc_limit(max_processes: int, uid: int | None = None) -> int | None:
    """The RLIMIT_NPROC value that lets ``uid`` start about ``max_processes`` more tasks.

    None for root, whom the kernel never holds to RLIMIT_NPROC.
    """
    uid = os.getuid() if uid is None else uid
    if uid == 0:
        return None
    return _count_tasks(uid) + max_processes


def _clamp(res: int, soft: int, hard: int) -> tuple[int, int]:
    # An unprivileged process may lower its hard limit but never raise it.
    _, current_hard = resource.getrlimit(res)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
    return min(soft, hard), hard


def rlimit_settings(limits: Limits, *, cgroup: RunCgroup | None = None) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) triples for ``limits``, leaving out what ``cgroup`` already enforces."""
    covered = cgroup.controllers if cgroup is not None else frozenset()
    wanted: list[tuple[int, int, int]] = [(resource.RLIMIT_CORE, 0, 0)]
    if limits.memory_mb is not None and "memory" not in covered:
        wanted.append((resource.RLIMIT_AS, limits.memory_mb * MIB, limits.memory_mb * MIB))
    if limits.max_file_mb is not None:
        wanted.append((resource.RLIMIT_FSIZE, limits.max_file_mb * MIB, limits.max_file_mb * MIB))
    if limits.cpu_seconds is not None:
        wanted.append((resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + CPU_GRACE_S))
    if limits.max_processes is not None and "pids" not in covered:
        nproc = nproc_limit(limits.max_processes)
        if nproc is not None:
            wanted.append((resource.RLIMIT_NPROC, nproc, nproc))
    return [(res, *_clamp(res, soft, hard)) for res, soft, hard in wanted]


def rlimit_preexec(limits: Limits, *, cgroup: RunCgroup | None = None) -> Callable[[], None]:
    """A ``ProcessSpec.preexec`` that applies ``limits`` as rlimits in the child.

    Pass the run's ``cgroup`` so memory and process counts are left to it (see the module notes
    on why RLIMIT_AS and RLIMIT_NPROC are only fallbacks). Values are computed here, in the
    parent, so the child only makes setrlimit calls.
    """
    settings = rlimit_settings(limits, cgroup=cgroup)

    def apply() -> None:
        for res, soft, hard in settings:
            resource.setrlimit(res, (soft, hard))

    return apply


def preexec_for(limits: Limits, cgroup: RunCgroup | None) -> Callable[[], None]:
    """Join the run's cgroup (when there is one), then apply the rlimits it does not cover."""
    attach = cgroup.attach_preexec() if cgroup is not None else None
    rlimits = rlimit_preexec(limits, cgroup=cgroup)

    def apply() -> None:
        if attach is not None:
            attach()
        rlimits()

    return apply


# ---------------------------------------------------------------------------------------------
# discovering cgroups


@dataclass(frozen=True)
class Hierarchy:
    """One cgroup hierarchy we may create run cgroups in."""

    path: Path  # our own cgroup's directory; run cgroups are created beneath it
    controllers: frozenset[str]  # usable ones among WANTED
    enable: frozenset[str] = frozenset()  # v2: controllers to switch on in path's subtree_control


@dataclass(frozen=True)
class CgroupSupport:
    """What cgroups can do for us here."""

    version: int | None  # 2 or 1: the hierarchy chosen or inspected; None: no cgroup fs at all
    controllers: frozenset[str]  # usable ones among WANTED
    hierarchies: tuple[Hierarchy, ...] = ()  # empty when unusable
    reason: str | None = None  # one line, set when unusable

    @property
    def usable(self) -> bool:
        """True when runs can get a cgroup here."""
        return bool(self.hierarchies)


@dataclass(frozen=True)
class _Mount:
    root: str
    point: str
    fstype: str
    options: frozenset[str]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[_Mount]:
    """The cgroup and cgroup2 mounts listed in a /proc/<pid>/mountinfo text."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(
            _Mount(_unescape(fields[3]), _unescape(fields[4]), tail[0], frozenset(tail[2].split(",")))
        )
    return mounts


def parse_proc_cgroup(text: str) -> list[tuple[frozenset[str], str]]:
    """(controllers, path) per hierarchy from /proc/<pid>/cgroup; v2's entry has no controllers."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out.append((frozenset(c for c in parts[1].split(",") if c), parts[2]))
    return out


def _locate(mount: _Mount, path: str) -> Path | None:
    """Where cgroup ``path`` (as /proc/self/cgroup names it) is in ``mount``, if visible there."""
    root = mount.root.rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None
    return Path(mount.point + path[len(root) :]) if path != "/" else Path(mount.point)


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _read_words(path: Path) -> frozenset[str]:
    try:
        return frozenset(path.read_text().split())
    except OSError:
        return frozenset()


def _probe_v1(mounts: list[_Mount], groups: list[tuple[frozenset[str], str]]) -> CgroupSupport:
    found: dict[Path, set[str]] = {}
    problems = []
    for controller in sorted(WANTED):
        entry = next((path for ctrls, path in groups if controller in ctrls), None)
        candidates = [m for m in mounts if m.fstype == "cgroup" and controller in m.options]
        if entry is None or not candidates:
            problems.append(f"no v1 {controller} hierarchy")
            continue
        located = [p for p in (_locate(m, entry) for m in candidates) if p is not None]
        usable = next((p for p in located if _writable(p)), None)
        if usable is None:
            where = (
                located[0] if located else f"{candidates[0].point} (our cgroup {entry} is outside this mount)"
            )
            problems.append(f"cannot create cgroups in {where}")
            continue
        found.setdefault(usable, set()).add(controller)
    if not found:
        return CgroupSupport(1, frozenset(), reason="cgroup v1: " + "; ".join(problems))
    hierarchies = tuple(Hierarchy(path, frozenset(ctrls)) for path, ctrls in found.items())
    return CgroupSupport(1, frozenset().union(*(h.controllers for h in hierarchies)), hierarchies)


def _probe_v2(mount: _Mount, path: str) -> CgroupSupport:
    where = _locate(mount, path)
    if where is None:
        return CgroupSupport(2, frozenset(), reason=f"cgroup v2: our cgroup {path} is outside {mount.point}")
    available = _read_words(where / "cgroup.controllers") & WANTED
    if not available:
        return CgroupSupport(
            2,
            frozenset(),
            reason=f"cgroup v2: memory and pids controllers are not delegated to {where}",
        )
    if not _writable(where):
        return CgroupSupport(
            2, frozenset(), reason=f"cgroup v2: no write access to {where} (not delegated to us)"
        )
    enabled = _read_words(where / "cgroup.subtree_control") & available
    # Only the root cgroup (which has no cgroup.type) may hold processes and also give
    # controllers to children; anywhere else we, being in it, keep them from being enabled.
    is_root = not (where / "cgroup.type").exists()
    enable = available - enabled if is_root else frozenset()
    usable = enabled | enable
    if not usable:
        return CgroupSupport(
            2,
            frozenset(),
            reason=(
                f"cgroup v2: {where} holds processes (ours), so the no-internal-processes rule "
                f"keeps {'/'.join(sorted(available))} from being enabled for child cgroups; "
                "run workflow in a delegated cgroup (systemd-run --user --scope -p Delegate=yes)"
            ),
        )
    return CgroupSupport(2, usable, (Hierarchy(where, usable, enable),))


def support_from(proc_cgroup: str, mountinfo: str) -> CgroupSupport:
    """cgroup_support() for given /proc/self/cgroup and /proc/self/mountinfo texts."""
    mounts = parse_mountinfo(mountinfo)
    groups = parse_proc_cgroup(proc_cgroup)
    results: list[CgroupSupport] = []
    v2_mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    v2_path = next((path for ctrls, path in groups if not ctrls), None)
    if v2_mount is not None and v2_path is not None:
        results.append(_probe_v2(v2_mount, v2_path))
    if any(m.fstype == "cgroup" for m in mounts):
        results.append(_probe_v1(mounts, groups))
    if not results:
        return CgroupSupport(None, frozenset(), reason="no cgroup filesystem is mounted")
    # Hybrid systems mount both; take whichever can do more, v2 on a tie.
    best = max(results, key=lambda r: len(r.controllers))
    if best.usable:
        return best
    return CgroupSupport(best.version, frozenset(), reason="; ".join(r.reason or "" for r in results))


def cgroup_support() -> CgroupSupport:
    """Which cgroup version and controllers this process can use for runs, or why none."""
    try:
        proc_cgroup = Path("/proc/self/cgroup").read_text()
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError as exc:  # pragma: no cover - /proc is mounted wherever this tool can run
        return CgroupSupport(None, frozenset(), reason=f"cannot read /proc: {exc.strerror}")
    return support_from(proc_cgroup, mountinfo)


# ---------------------------------------------------------------------------------------------
# a run's cgroup


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "run"


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise CgroupError(exc.errno, f"cannot write {value!r} to {path}: {exc.strerror}") from exc


def _counter_in(path: Path, key: str) -> int:
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


@dataclass
class RunCgroup:
    """The cgroup(s) of one run: created empty, joined by the child, removed on close."""

    version: int
    dirs: dict[Path, frozenset[str]]  # one directory per hierarchy -> controllers it carries
    controllers: frozenset[str]
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, limits: Limits, name: str, *, support: CgroupSupport | None = None) -> RunCgroup | None:
        """Create ``workflow-<name>-<pid>-<n>`` under our own cgroup in each usable hierarchy.

        Returns None when cgroups are unusable here (``cgroup_support().reason`` says why);
        raises CgroupError when they should have worked but setting up failed.
        """
        support = cgroup_support() if support is None else support
        if not support.usable:
            return None
        assert support.version is not None
        leaf = f"workflow-{_safe(name)}-{os.getpid()}-{next(_counter)}"
        run = cls(support.version, {}, support.controllers)
        try:
            for hierarchy in support.hierarchies:
                if hierarchy.enable:
                    _write(
                        hierarchy.path / "cgroup.subtree_control",
                        " ".join(f"+{c}" for c in sorted(hierarchy.enable)),
                    )
                path = hierarchy.path / leaf
                try:
                    path.mkdir()
                except OSError as exc:
                    raise CgroupError(exc.errno, f"cannot create cgroup {path}: {exc.strerror}") from exc
                run.dirs[path] = hierarchy.controllers
            run._configure(limits)
        except BaseException:
            run.close()
            raise
        return run

    def _dir_for(self, controller: str) -> Path | None:
        return next((path for path, ctrls in self.dirs.items() if controller in ctrls), None)

    def _configure(self, limits: Limits) -> None:
        memory = self._dir_for("memory")
        if memory is not None and limits.memory_mb is not None:
            value = str(limits.memory_mb * MIB)
            if self.version == 2:
                _write(memory / "memory.max", value)
                # Swap would let the run exceed the limit and slow the machine instead of failing.
                if (memory / "memory.swap.max").exists():
                    _write(memory / "memory.swap.max", "0")
                # On OOM, kill the whole run, not one process that leaves the others half-done.
                if (memory / "memory.oom.group").exists():
                    _write(memory / "memory.oom.group", "1")
            else:
                _write(memory / "memory.limit_in_bytes", value)
                if (memory / "memory.memsw.limit_in_bytes").exists():
                    _write(memory / "memory.memsw.limit_in_bytes", value)
                else:
                    with contextlib.suppress(OSError):
                        (memory / "memory.swappiness").write_text("0")
        pids = self._dir_for("pids")
        if pids is not None and limits.max_processes is not None:
            _write(pids / "pids.max", str(limits.max_processes))

    @property
    def paths(self) -> list[Path]:
        """The run's cgroup directories (one per hierarchy)."""
        return list(self.dirs)

    def attach_preexec(self) -> Callable[[], None]:
        """A preexec that moves the child into the run's cgroup(s) before it execs.

        Everything the child starts afterwards is born inside, so limits and kill_all cover the
        whole tree. A failure raises in the child, so the run does not start at all.
        """
        procs = [os.fsencode(path / "cgroup.procs") for path in self.dirs]

        def attach() -> None:
            pid = str(os.getpid()).encode()
            for target in procs:
                fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)

        return attach

    def oom_killed(self) -> bool:
        """True when the memory limit made the kernel kill something in the run."""
        memory = self._dir_for("memory")
        if memory is None:
            return False
        if self.version == 2:
            events = memory / "memory.events"
            return _counter_in(events, "oom_kill") > 0 or _counter_in(events, "oom_group_kill") > 0
        control = memory / "memory.oom_control"
        if "oom_kill" in control.read_text():
            return _counter_in(control, "oom_kill") > 0
        # Kernels before 4.13 do not count kills; the limit having been hit is the best we know.
        return int((memory / "memory.failcnt").read_text()) > 0  # pragma: no cover - old kernels

    def pids_limited(self) -> bool:
        """True when a fork or clone failed because the run reached max_processes."""
        pids = self._dir_for("pids")
        return pids is not None and _counter_in(pids / "pids.events", "max") > 0

    def pids(self) -> set[int]:
        """Every process currently in the run's cgroup(s)."""
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(FileNotFoundError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return found

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the run until none is left (a fork bomb may refill it)."""
        for path in self.dirs:
            kill_file = path / "cgroup.kill"
            if self.version == 2 and kill_file.exists():
                # Kills atomically, so nothing can fork its way out between reading and killing.
                _write(kill_file, "1")
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            if time.monotonic() > deadline:
                raise CgroupError(errno.EBUSY, f"processes {sorted(pids)} survived SIGKILL in {self.paths}")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def close(self) -> None:
        """Kill what is left and remove the run's cgroup directories."""
        if self._closed:
            return
        self.kill_all()
        for path in self.paths:
            _rmdir(path)
            del self.dirs[path]
        self._closed = True

    def __enter__(self) -> RunCgroup:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _rmdir(path: Path, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            # Just-killed tasks can keep a cgroup busy for a moment while they exit.
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(exc.errno, f"cannot remove cgroup {path}: {exc.strerror}") from exc
            time.sleep(0.01)


_LEAF = re.compile(r"workflow-.+-(\d+)-\d+")


def _stale(support: CgroupSupport) -> Iterator[Path]:
    for hierarchy in support.hierarchies:
        with contextlib.suppress(OSError):
            for child in hierarchy.path.iterdir():
                match = _LEAF.fullmatch(child.name)
                if match and child.is_dir() and not _alive(int(match.group(1))):
                    yield child


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def remove_stale(support: CgroupSupport | None = None) -> list[Path]:
    """Kill the leftovers of runs whose `workflow` process died, and remove their cgroups."""
    support = cgroup_support() if support is None else support
    removed = []
    for path in _stale(support):
        leftover = RunCgroup(support.version or 1, {path: frozenset()}, frozenset())
        leftover.close()
        removed.append(path)
    return removed
