"""Resource limits, exercised with real processes: memory and fork bombs, big files, CPU hogs.

Every test must leave no process and no cgroup directory behind; the autouse fixture checks.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workflow_agent.execution.confine import confine_argv, landlock_abi
from workflow_agent.execution.limits import (
    CPU_GRACE_S,
    MIB,
    CgroupError,
    CgroupSupport,
    Hierarchy,
    Limits,
    RunCgroup,
    cgroup_support,
    nproc_limit,
    parse_mountinfo,
    parse_proc_cgroup,
    preexec_for,
    remove_stale,
    rlimit_preexec,
    rlimit_settings,
    support_from,
)

SUPPORT = cgroup_support()
needs_cgroups = pytest.mark.skipif(not SUPPORT.usable, reason=f"cgroups unusable here: {SUPPORT.reason}")
MARK = f"WORKFLOW_LIMITS_TEST={uuid.uuid4().hex}"
ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "LC_ALL": "C",
    MARK.partition("=")[0]: MARK.partition("=")[2],
}
# Lets helper Pythons that import our modules report coverage (an explicit env= drops it).
COVERAGE_ENV = {k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")}
MEMORY_BOMB = (
    "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], flush=True); b = b'x' * (2 << 30)"
)


def _marked() -> list[int]:
    needle = (MARK + "\0").encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _our_leaves() -> list[Path]:
    leaves: list[Path] = []
    for hierarchy in SUPPORT.hierarchies:
        leaves += hierarchy.path.glob(f"workflow-*-{os.getpid()}-*")
    return leaves


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    leftovers = _marked()
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"test left processes behind: {leftovers}"
    leaves = _our_leaves()
    for leaf in leaves:
        leaf.rmdir()
    assert not leaves, f"test left cgroups behind: {leaves}"


def spawn(argv: list[str], preexec: Callable[[], None] | None, **kw: object) -> subprocess.Popen[str]:
    options: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        argv,
        env=ENV,
        preexec_fn=preexec,  # noqa: PLW1509 - the point of these tests
        start_new_session=True,
        text=True,
        **options,
    )


def run(
    argv: list[str], preexec: Callable[[], None] | None, timeout: float = 20, **kw: object
) -> tuple[int, str, str]:
    proc = spawn(argv, preexec, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when a limit failed to act
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, out, err


def python(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", code]


# --- discovery on this machine -----------------------------------------------------------------


@needs_cgroups
def test_support_locates_our_own_cgroups() -> None:
    assert SUPPORT.reason is None
    assert SUPPORT.version in (1, 2)
    assert SUPPORT.controllers <= {"memory", "pids"}
    assert SUPPORT.controllers, "a usable support has at least one controller"
    for hierarchy in SUPPORT.hierarchies:
        # The directory found is the one the kernel lists us in.
        assert str(os.getpid()) in (hierarchy.path / "cgroup.procs").read_text().split()


def test_this_machine_offers_memory_and_pids_cgroups() -> None:
    # CI runs on this kernel; if this fails every cgroup test above was skipped, so say so here.
    assert SUPPORT.usable, SUPPORT.reason
    assert SUPPORT.controllers == {"memory", "pids"}


# --- memory -------------------------------------------------------------------------------------


@needs_cgroups
def test_memory_bomb_is_oom_killed_in_the_cgroup() -> None:
    limits = Limits(memory_mb=200)
    cgroup = RunCgroup.create(limits, "ltest")
    assert cgroup is not None
    with cgroup:
        assert not cgroup.oom_killed()
        code, out, _ = run(python(MEMORY_BOMB), preexec_for(limits, cgroup))
        assert code == -signal.SIGKILL
        assert cgroup.oom_killed()
    assert int(out) == resource.RLIM_INFINITY, "the cgroup, not RLIMIT_AS, limited memory"


def test_memory_rlimit_fallback_gives_memory_error() -> None:
    code, out, err = run(python(MEMORY_BOMB), rlimit_preexec(Limits(memory_mb=200)))
    assert code == 1
    assert "MemoryError" in err
    assert int(out) == 200 * MIB


@needs_cgroups
def test_cgroup_without_a_memory_limit_does_not_kill() -> None:
    with RunCgroup.create(Limits(max_processes=20), "ltest") as cgroup:  # type: ignore[union-attr]
        code, _, err = run(python("b = b'x' * (300 << 20)"), preexec_for(Limits(max_processes=20), cgroup))
        assert code == 0, err
        assert not cgroup.oom_killed()


# --- processes -------------------------------------------------------------------------------


@needs_cgroups
def test_fork_bomb_is_held_at_the_pids_limit_and_cleaned_up() -> None:
    limits = Limits(max_processes=50)
    cgroup = RunCgroup.create(limits, "ltest")
    assert cgroup is not None
    pids_dir = next(path for path, ctrls in cgroup.dirs.items() if "pids" in ctrls)
    with cgroup:
        proc = spawn(["bash", "-c", ":(){ :|:& };:"], preexec_for(limits, cgroup), stderr=subprocess.DEVNULL)
        peak = 0
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            peak = max(peak, int((pids_dir / "pids.current").read_text()))
            time.sleep(0.02)
        assert cgroup.pids_limited()
        assert 40 <= peak <= 50, peak
        cgroup.kill_all()
        assert cgroup.pids() == set()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    # The machine still forks.
    assert subprocess.run(["true"], check=False).returncode == 0


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch to an unprivileged uid")
def test_nproc_rlimit_binds_an_unprivileged_user() -> None:
    nobody = 65534
    limit = nproc_limit(3, nobody)
    assert limit is not None

    def become_nobody_with_limit() -> None:
        os.setgroups([])
        os.setgid(nobody)
        os.setuid(nobody)
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))

    script = "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait"
    proc = spawn(["sh", "-c", script], become_nobody_with_limit, cwd="/")
    time.sleep(0.5)
    try:
        started = [pid for pid in _marked() if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    assert len(started) <= 3, started
    assert "fork" in err.lower()


def test_nproc_is_not_used_for_root() -> None:
    assert nproc_limit(10, 0) is None
    if os.getuid() == 0:
        names = [res for res, _, _ in rlimit_settings(Limits(max_processes=10))]
        assert resource.RLIMIT_NPROC not in names


# --- files and cpu -----------------------------------------------------------------------------


def test_file_size_limit_stops_a_big_file(tmp_path: Path) -> None:
    target = tmp_path / "big"
    code, _, _ = run(
        ["sh", "-c", f"exec head -c 5000000 /dev/zero > {target}"], rlimit_preexec(Limits(max_file_mb=1))
    )
    assert code == -signal.SIGXFSZ
    assert target.stat().st_size == MIB
    # Python ignores SIGXFSZ, so it sees EFBIG instead of dying.
    code, _, err = run(
        python(f"open({str(target)!r}, 'wb').write(bytes(3 << 20))"), rlimit_preexec(Limits(max_file_mb=1))
    )
    assert code == 1
    assert "File too large" in err


def test_cpu_limit_stops_a_busy_loop() -> None:
    started = time.monotonic()
    code, _, _ = run(python("while True: pass"), rlimit_preexec(Limits(cpu_seconds=1)), timeout=10)
    assert code == -signal.SIGXCPU
    assert time.monotonic() - started < 1 + CPU_GRACE_S + 2


def test_core_dumps_are_always_off() -> None:
    code, out, _ = run(
        python("import resource; print(resource.getrlimit(resource.RLIMIT_CORE))"), rlimit_preexec(Limits())
    )
    assert code == 0
    assert out.strip() == "(0, 0)"


def test_rlimits_never_raise_an_existing_hard_limit() -> None:
    def low_hard_limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (100, 100))

    code = "from workflow_agent.execution.limits import *\nprint(rlimit_settings(Limits(cpu_seconds=500)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=low_hard_limit,
        capture_output=True,
        text=True,
        check=True,
        env=ENV | COVERAGE_ENV,
    )
    assert f"({resource.RLIMIT_CPU}, 100, 100)" in result.stdout


@needs_cgroups
def test_rlimits_leave_memory_and_processes_to_the_cgroup() -> None:
    limits = Limits(memory_mb=100, max_processes=10, max_file_mb=1, cpu_seconds=5)
    with RunCgroup.create(limits, "ltest") as cgroup:  # type: ignore[union-attr]
        kinds = {res for res, _, _ in rlimit_settings(limits, cgroup=cgroup)}
    assert resource.RLIMIT_AS not in kinds
    assert {resource.RLIMIT_FSIZE, resource.RLIMIT_CPU, resource.RLIMIT_CORE} <= kinds
    assert resource.RLIMIT_AS in {res for res, _, _ in rlimit_settings(limits)}


# --- cgroup lifecycle ---------------------------------------------------------------------------


@needs_cgroups
def test_close_kills_escaped_processes_and_removes_the_cgroups() -> None:
    limits = Limits(memory_mb=100, max_processes=20)
    cgroup = RunCgroup.create(limits, "ltest")
    assert cgroup is not None
    paths = cgroup.paths
    assert all(p.is_dir() and p.name.startswith(f"workflow-ltest-{os.getpid()}-") for p in paths)
    # The child leaves its session and process group; only the cgroup still knows it.
    code, out, _ = run(["bash", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"], cgroup.attach_preexec())
    assert code == 0
    escaped = int(out)
    assert escaped in cgroup.pids()
    cgroup.close()
    assert not any(p.exists() for p in paths)
    assert (
        not Path(f"/proc/{escaped}").exists() or "Z" in Path(f"/proc/{escaped}/stat").read_text().split()[2]
    )
    cgroup.close()  # idempotent


@needs_cgroups
def test_limits_are_written_to_the_cgroup_files() -> None:
    with RunCgroup.create(Limits(memory_mb=64, max_processes=7), "ltest") as cgroup:  # type: ignore[union-attr]
        files = {p.name: p for path in cgroup.paths for p in path.iterdir()}
        if cgroup.version == 1:
            assert int(files["memory.limit_in_bytes"].read_text()) == 64 * MIB
        else:  # pragma: no cover - this machine is cgroup v1
            assert int(files["memory.max"].read_text()) == 64 * MIB
        assert files["pids.max"].read_text().strip() == "7"


@needs_cgroups
def test_failed_setup_raises_and_cleans_up() -> None:
    with pytest.raises(CgroupError, match="cannot write"):
        RunCgroup.create(Limits(memory_mb=-1), "ltest")
    assert _our_leaves() == []


@needs_cgroups
def test_names_cannot_escape_the_parent_cgroup() -> None:
    with RunCgroup.create(Limits(), "../../evil name") as cgroup:  # type: ignore[union-attr]
        for path, hierarchy in zip(cgroup.paths, SUPPORT.hierarchies, strict=True):
            assert path.parent == hierarchy.path
            assert path.name.startswith("workflow-______evil_name-")


def test_unusable_support_gives_no_cgroup() -> None:
    assert (
        RunCgroup.create(Limits(memory_mb=10), "ltest", support=CgroupSupport(None, frozenset(), reason="x"))
        is None
    )
    run_pre = preexec_for(Limits(max_file_mb=1), None)
    code, out, _ = run(
        python("import resource; print(resource.getrlimit(resource.RLIMIT_FSIZE)[0])"), run_pre
    )
    assert (code, int(out)) == (0, MIB)


@needs_cgroups
def test_stale_cgroups_of_dead_owners_are_removed() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [h.path / f"workflow-old-{dead.pid}-1" for h in SUPPORT.hierarchies]
    live = [h.path / f"workflow-old-{os.getpid()}-999" for h in SUPPORT.hierarchies]
    for path in stale + live:
        path.mkdir()
    try:
        removed = remove_stale()
        # Other tests may have left cgroups of killed `workflow` processes; those go too.
        assert set(stale) <= set(removed)
        assert all(p.is_dir() for p in live)
    finally:
        for path in stale + live:
            if path.exists():
                path.rmdir()


def _unified_v2() -> Path | None:
    for mount in parse_mountinfo(Path("/proc/self/mountinfo").read_text()):
        if mount.fstype == "cgroup2":
            for ctrls, path in parse_proc_cgroup(Path("/proc/self/cgroup").read_text()):
                if not ctrls:
                    where = Path(mount.point + (path if path != "/" else ""))
                    if os.access(where, os.W_OK):
                        return where
    return None  # pragma: no cover - this machine has a writable unified hierarchy


@pytest.mark.skipif(_unified_v2() is None, reason="no writable cgroup v2 hierarchy")
def test_v2_cgroup_attach_and_kill_on_the_real_unified_hierarchy() -> None:
    # Here the v2 hierarchy has no controllers (they are bound to v1), but cgroup.procs and
    # cgroup.kill, which this exercises, are the same on a fully v2 system.
    where = _unified_v2()
    assert where is not None
    support = CgroupSupport(2, frozenset(), (Hierarchy(where, frozenset()),))
    cgroup = RunCgroup.create(Limits(), "ltest", support=support)
    assert cgroup is not None
    try:
        proc = spawn(["bash", "-c", "sleep 300 & sleep 300 & wait"], cgroup.attach_preexec())
        deadline = time.monotonic() + 5
        while len(cgroup.pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cgroup.pids()) == 3
        assert not cgroup.oom_killed()
        assert not cgroup.pids_limited()
        cgroup.kill_all()
        assert proc.wait(timeout=5) == -signal.SIGKILL
        proc.communicate()
    finally:
        cgroup.close()
    assert not cgroup.paths
    assert not any(where.glob(f"workflow-ltest-{os.getpid()}-*"))


# --- discovery logic, on made-up /proc texts and directory trees ------------------------------


def _mountinfo(*mounts: tuple[str, str, str, str]) -> str:
    return "\n".join(
        f"{30 + i} 23 0:{40 + i} {root} {point} rw,relatime shared:{i} - {fstype} cgroup rw,{opts}"
        for i, (root, point, fstype, opts) in enumerate(mounts)
    )


def _tree(base: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)


def test_v1_nested_and_namespaced_paths(tmp_path: Path) -> None:
    (tmp_path / "memory" / "a" / "b").mkdir(parents=True)
    (tmp_path / "pids with space" / "b").mkdir(parents=True)
    info = _mountinfo(
        ("/", f"{tmp_path}/memory", "cgroup", "memory"),
        ("/a", str(tmp_path / "pids\\040with\\040space"), "cgroup", "pids"),
        ("/", "/unused", "tmpfs", "x"),
    )
    support = support_from("5:pids:/a/b\n4:memory:/a/b\n0::/\nbogus line\n", info + "\nno separator here")
    assert support.version == 1
    assert support.controllers == {"memory", "pids"}
    assert {h.path: h.controllers for h in support.hierarchies} == {
        tmp_path / "memory" / "a" / "b": {"memory"},
        tmp_path / "pids with space" / "b": {"pids"},
    }


def test_v1_unusable_explains_why(tmp_path: Path) -> None:
    info = _mountinfo(
        ("/other", f"{tmp_path}/memory", "cgroup", "memory"), ("/", f"{tmp_path}/gone", "cgroup", "pids")
    )
    support = support_from("4:memory:/a/b\n3:pids:/x\n", info)
    assert not support.usable
    assert support.version == 1
    assert "outside this mount" in (support.reason or "")
    assert f"cannot create cgroups in {tmp_path}/gone/x" in (support.reason or "")
    only_cpu = support_from("1:cpu:/\n", _mountinfo(("/", str(tmp_path), "cgroup", "cpu")))
    assert "no v1 memory hierarchy" in (only_cpu.reason or "")


def test_v2_delegated_subtree(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "user.slice/cgroup.controllers": "cpu io memory pids\n",
            "user.slice/cgroup.subtree_control": "memory pids\n",
            "user.slice/cgroup.type": "domain\n",
        },
    )
    support = support_from("0::/user.slice\n", _mountinfo(("/", str(tmp_path), "cgroup2", "nsdelegate")))
    assert support == CgroupSupport(
        2, frozenset({"memory", "pids"}), (Hierarchy(tmp_path / "user.slice", frozenset({"memory", "pids"})),)
    )


def test_v2_no_internal_processes_is_explained(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "session.scope/cgroup.controllers": "memory pids\n",
            "session.scope/cgroup.subtree_control": "\n",
            "session.scope/cgroup.type": "domain\n",
        },
    )
    support = support_from("0::/session.scope\n", _mountinfo(("/", str(tmp_path), "cgroup2", "")))
    assert not support.usable
    assert support.version == 2
    assert "no-internal-processes" in (support.reason or "")
    assert "Delegate=yes" in (support.reason or "")


def test_v2_root_cgroup_enables_controllers(tmp_path: Path) -> None:
    _tree(tmp_path, {"cgroup.controllers": "memory pids cpu\n", "cgroup.subtree_control": "pids\n"})
    support = support_from("0::/\n", _mountinfo(("/", str(tmp_path), "cgroup2", "")))
    assert support.hierarchies == (Hierarchy(tmp_path, frozenset({"memory", "pids"}), frozenset({"memory"})),)
    # Creating a run writes the enable request, then the limits (a plain directory stands in for
    # cgroupfs here, so this checks which files are written, not what the kernel does with them).
    cgroup = RunCgroup.create(Limits(memory_mb=5, max_processes=3), "fake", support=support)
    assert cgroup is not None
    (leaf,) = cgroup.paths
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory"
    assert (leaf / "memory.max").read_text() == str(5 * MIB)
    assert (leaf / "pids.max").read_text() == "3"
    assert not cgroup.oom_killed(), "no memory.events yet"
    _tree(leaf, {"memory.events": "low 0\nhigh 0\nmax 4\noom 0\n"})
    assert not cgroup.oom_killed(), "limit reached, nothing killed"
    _tree(leaf, {"memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n", "pids.events": "max 2\n"})
    assert cgroup.oom_killed()
    assert cgroup.pids_limited()


def test_v2_memory_extras_are_set_when_the_kernel_offers_them(tmp_path: Path) -> None:
    # In cgroupfs mkdir creates these files; a plain directory needs them made by hand.
    _tree(tmp_path, {"memory.swap.max": "max", "memory.oom.group": "0"})
    cgroup = RunCgroup(2, {tmp_path: frozenset({"memory"})}, frozenset({"memory"}))
    cgroup._configure(Limits(memory_mb=5))
    assert (tmp_path / "memory.max").read_text() == str(5 * MIB)
    assert (tmp_path / "memory.swap.max").read_text() == "0"
    assert (tmp_path / "memory.oom.group").read_text() == "1"


def test_v2_unusable_cases(tmp_path: Path) -> None:
    _tree(tmp_path, {"a/cgroup.controllers": "cpu io\n"})
    info = _mountinfo(("/", str(tmp_path), "cgroup2", ""))
    assert "not delegated" in (support_from("0::/a\n", info).reason or "")
    outside = support_from("0::/a\n", _mountinfo(("/b", str(tmp_path), "cgroup2", "")))
    assert "outside" in (outside.reason or "")
    assert "not delegated" in (support_from("0::/missing\n", info).reason or "")
    assert support_from("", "").reason == "no cgroup filesystem is mounted"
    assert support_from("0::/\n", "").version is None


def test_hybrid_prefers_the_hierarchy_with_controllers(tmp_path: Path) -> None:
    _tree(tmp_path, {"unified/cgroup.controllers": "\n", "memory/cgroup.procs": "", "pids/cgroup.procs": ""})
    info = _mountinfo(
        ("/", f"{tmp_path}/unified", "cgroup2", ""),
        ("/", f"{tmp_path}/memory", "cgroup", "memory"),
        ("/", f"{tmp_path}/pids", "cgroup", "pids"),
    )
    support = support_from("0::/\n4:memory:/\n8:pids:/\n", info)
    assert support.version == 1
    assert support.controllers == {"memory", "pids"}
    # Neither usable: both reasons are kept.
    neither = support_from(
        "0::/\n", _mountinfo(("/", f"{tmp_path}/unified", "cgroup2", ""), ("/", "/x", "cgroup", "cpu"))
    )
    assert "cgroup v2" in (neither.reason or "")
    assert "cgroup v1" in (neither.reason or "")


def test_v1_without_swap_accounting_turns_swap_off(tmp_path: Path) -> None:
    cgroup = RunCgroup(1, {tmp_path: frozenset({"memory"})}, frozenset({"memory"}))
    cgroup._configure(Limits(memory_mb=5))
    assert (tmp_path / "memory.limit_in_bytes").read_text() == str(5 * MIB)
    assert (tmp_path / "memory.swappiness").read_text() == "0"


def test_create_reports_a_cgroup_it_cannot_make(tmp_path: Path) -> None:
    support = CgroupSupport(2, frozenset({"pids"}), (Hierarchy(tmp_path / "absent", frozenset({"pids"})),))
    with pytest.raises(CgroupError, match="cannot create cgroup"):
        RunCgroup.create(Limits(max_processes=5), "ltest", support=support)


def test_kill_all_gives_up_on_processes_that_do_not_die(tmp_path: Path) -> None:
    # A zombie ignores SIGKILL until reaped; a plain directory listing it stands in for a cgroup
    # holding a task stuck in the kernel.
    zombie = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while "Z" not in Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[:1]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (tmp_path / "cgroup.procs").write_text(f"{zombie.pid}\n")
        cgroup = RunCgroup(1, {tmp_path: frozenset()}, frozenset())
        with pytest.raises(CgroupError, match="survived SIGKILL"):
            cgroup.kill_all(timeout=0.05)
    finally:
        zombie.wait()


def test_close_reports_a_cgroup_it_cannot_remove(tmp_path: Path) -> None:
    leaf = tmp_path / "leaf"
    _tree(leaf, {"stray-file": ""})
    with pytest.raises(CgroupError, match="cannot remove cgroup"):
        RunCgroup(1, {leaf: frozenset()}, frozenset()).close()
    gone = RunCgroup(1, {tmp_path / "already-gone": frozenset()}, frozenset())
    gone.close()
    assert gone.paths == []


def test_nproc_limit_counts_the_users_existing_tasks() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to start a process as another uid")
    nobody = 65534
    before = nproc_limit(0, nobody)
    assert before is not None

    def become_nobody() -> None:
        os.setgroups([])
        os.setgid(nobody)
        os.setuid(nobody)

    proc = spawn(["sleep", "30"], become_nobody, cwd="/")
    try:
        assert nproc_limit(0, nobody) == before + 1
    finally:
        proc.kill()
        proc.communicate()


@needs_cgroups
def test_preexec_joins_the_cgroup_and_sets_rlimits_in_the_calling_process() -> None:
    # The preexec closures run here in a helper Python itself (not in a fork about to exec), so
    # what they did can be read back from /proc and getrlimit.
    limits = Limits(memory_mb=100, max_processes=10, max_file_mb=2)
    with RunCgroup.create(limits, "ltest") as cgroup:  # type: ignore[union-attr]
        code = (
            "import pickle, resource, sys\n"
            "from workflow_agent.execution.limits import *\n"
            "cgroup = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
            "preexec_for(Limits(memory_mb=100, max_processes=10, max_file_mb=2), cgroup)()\n"
            "print(open('/proc/self/cgroup').read())\n"
            "print('FSIZE', resource.getrlimit(resource.RLIMIT_FSIZE)[0])\n"
            "print('AS', resource.getrlimit(resource.RLIMIT_AS)[0])\n"
        )
        import pickle

        result = subprocess.run(
            [sys.executable, "-c", code, pickle.dumps(cgroup).hex()],
            capture_output=True,
            text=True,
            check=True,
            env=ENV | COVERAGE_ENV,
        )
        lines = [line.split(":", 2) for line in result.stdout.splitlines() if line.count(":") >= 2]
        for path, controllers in cgroup.dirs.items():
            (joined,) = [cg for _, names, cg in lines if controllers <= set(names.split(","))]
            assert joined.endswith("/" + path.name), (joined, path)
        assert f"FSIZE {2 * MIB}" in result.stdout
        assert f"AS {resource.RLIM_INFINITY}" in result.stdout, "memory is the cgroup's job"


@needs_cgroups
@pytest.mark.skipif(landlock_abi() < 1, reason="kernel lacks Landlock")
def test_runner_with_confinement_and_cgroup_composes(tmp_path: Path) -> None:
    from workflow_agent.execution.runner import CaptureSpec, ProcessSpec, run_process

    limits = Limits(memory_mb=150, max_processes=30, max_file_mb=1)
    script = f"echo start; head -c 2000000 /dev/zero > {tmp_path}/f; echo fsize=$?; python3 -I -S -c \"b = b'x' * (1 << 30)\""
    with RunCgroup.create(limits, "ltest") as cgroup:  # type: ignore[union-attr]
        spec = ProcessSpec(
            argv=[*confine_argv([], [tmp_path], False), "bash", "-c", script],
            env=dict(ENV),
            cwd=tmp_path,
            timeout=30,
            preexec=preexec_for(limits, cgroup),
        )
        result = run_process(spec, CaptureSpec(head=10_000, tail=10_000))
        assert result.stdout.text.splitlines() == ["start", f"fsize={128 + signal.SIGXFSZ}"], (
            result.stderr.text
        )
        assert result.exit_code == 128 + signal.SIGKILL, result.stderr.text
        assert cgroup.oom_killed()
    assert (tmp_path / "f").stat().st_size == MIB
