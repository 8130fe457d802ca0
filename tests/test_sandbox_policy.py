"""How a workflow's policy becomes bubblewrap arguments: which paths stay read-only inside
writable ones, and what /run keeps. The escape suite proves the effects in the real sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_agent.execution import sandbox
from workflow_agent.execution.sandbox import (
    SandboxPolicy,
    bwrap_argv,
    protected_targets,
    startup_changes,
    startup_snapshot,
)


def policy(home: Path, workdir: Path, **kw: object) -> SandboxPolicy:
    return SandboxPolicy(
        workdir=workdir,
        home=home,
        state_dir=home / ".workflow",
        code_path=workdir / "w.sh",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".config" / "systemd").mkdir(parents=True)
    (home / ".bashrc").write_text("# rc\n")
    return home


def test_start_up_files_are_protected_only_inside_writable_paths(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    assert protected_targets(policy(home, elsewhere)) == [], "read-only already: nothing to add"
    found = protected_targets(policy(home, home))
    assert found == [home / ".bashrc", home / ".config" / "systemd"], "missing ones are not created"


def test_repository_hooks_in_every_writable_root(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git" / "hooks").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[core]\n")
    found = protected_targets(policy(home, tmp_path / "repo"))
    assert found == [repo / ".git" / "config", repo / ".git" / "hooks"]
    nested = tmp_path / "work"
    nested.mkdir()
    found = protected_targets(policy(home, nested, write=(repo,)))
    assert repo / ".git" / "hooks" in found, "a declared write path gets the same protection"


def test_a_symlinked_start_up_file_is_protected_at_its_target(home: Path, tmp_path: Path) -> None:
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "zshrc").write_text("# zsh\n")
    (home / ".zshrc").symlink_to(dotfiles / "zshrc")
    assert dotfiles / "zshrc" in protected_targets(policy(home, home))
    outside = tmp_path / "elsewhere-dotfiles"
    outside.mkdir()
    (outside / "profile").write_text("# p\n")
    (home / ".profile").symlink_to(outside / "profile")
    assert outside / "profile" not in protected_targets(policy(home, home)), "its target is read-only anyway"


def test_declaring_a_protected_path_makes_it_writable(home: Path) -> None:
    units = home / ".config" / "systemd"
    assert units in protected_targets(policy(home, home))
    assert units not in protected_targets(policy(home, home, write=(units / "user",)))
    assert home / ".bashrc" in protected_targets(policy(home, home, write=(home,))), (
        "the home folder is not a name"
    )


def test_protections_come_after_every_writable_bind(home: Path) -> None:
    args = bwrap_argv("bwrap", policy(home, home), ["true"], {}, seccomp=None)
    last_rw = max(i for i, a in enumerate(args) if a == "--bind")
    protect = args.index(str(home / ".bashrc"))
    assert args[protect - 1] == "--ro-bind"
    assert protect > last_rw


def test_run_is_private_unless_unix_sockets_are_declared(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = bwrap_argv("bwrap", policy(home, home), ["true"], {}, seccomp=3)
    assert args[args.index("/run") - 1] == "--tmpfs"
    assert args[args.index("--seccomp") + 1] == "3"
    granted = bwrap_argv("bwrap", policy(home, home, unix_sockets=True), ["true"], {}, seccomp=3)
    assert "/run" not in granted
    # A resolver file outside /run is part of the read-only root already.
    monkeypatch.setattr(sandbox, "RESOLV_CONF", tmp_path / "resolv.conf")
    (tmp_path / "resolv.conf").write_text("nameserver 10.0.0.1\n")
    assert sandbox._private_run() == ["--tmpfs", "/run"]


def test_start_up_changes_are_named(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git" / "hooks").mkdir(parents=True)
    before = startup_snapshot(policy(home, home, write=(repo,)))
    assert startup_changes(before, home) is None
    (home / ".bashrc").write_text("# rc, and more\n")
    (home / ".zshrc").write_text("evil\n")
    (home / ".config" / "systemd").rmdir()
    (repo / ".git" / "config").write_text("[core]\n")
    note = startup_changes(before, home)
    assert note is not None
    assert "changed ~/.bashrc" in note
    assert "created ~/.zshrc" in note
    assert "removed ~/.config/systemd" in note
    assert f"created {repo}/.git/config" in note


def test_running_from_inside_a_protected_folder_keeps_it_writable(home: Path) -> None:
    units = home / ".config" / "systemd"
    assert units not in protected_targets(policy(home, units)), "the work dir stays writable"
    assert home / ".bashrc" not in protected_targets(policy(home, units)), "outside the work dir anyway"
