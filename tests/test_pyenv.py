"""PEP 723 metadata and the per-workflow environment cache, with real venvs and real pip.

No test reaches a network: pip runs with PIP_NO_INDEX, no config file and an empty find-links
directory, and dependencies are hand-made wheels referenced by file:// URL.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from workflow_agent.core.errors import Cancelled, ValidationError
from workflow_agent.core.types import FailureClass
from workflow_agent.execution import pyenv_support
from workflow_agent.execution.pyenv import (
    MARKER,
    DependencyError,
    EnvCache,
    MetadataError,
    ScriptMetadata,
    read_script_metadata,
)
from workflow_agent.execution.pyenv_support import (
    diagnose_install_failure,
    normalise_requirement,
    python_satisfies,
    requirement_name,
)

MISSING = "definitely-not-a-real-package-xyz"


# -- helpers -------------------------------------------------------------------------------------


def make_wheel(folder: Path, name: str, version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, written by hand so pip needs no build backend and no index."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VALUE = 42\n\ndef main():\n    print('hello from {name}')\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\n{name}-cli = {name}:main\n",
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wheel(tmp_path_factory.mktemp("wheels"), "wfdemo")


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cut pip (and uv) off from every index and from the machine's pip configuration."""
    empty = tmp_path / "no-links"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    for name in (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("UV_DEFAULT_INDEX", raising=False)
    monkeypatch.delenv("UV_INDEX", raising=False)
    return empty


@pytest.fixture
def cache(tmp_path: Path) -> EnvCache:
    return EnvCache(tmp_path / "envs", use_uv=False)


def demo(wheel: Path, requires_python: str | None = ">=3.11") -> ScriptMetadata:
    return ScriptMetadata(dependencies=(f"wfdemo @ {wheel.as_uri()}",), requires_python=requires_python)


def run_python(python: Path, code: str) -> str:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


def refuse(deps: list[str]) -> bool:
    raise AssertionError(f"approval must not be asked for {deps}")


def builds(cache: EnvCache, key: str) -> list[Path]:
    return sorted(p for p in cache.root.iterdir() if p.name.startswith(f"{key}."))


# -- PEP 723 metadata ----------------------------------------------------------------------------


PEP_EXAMPLE = """\
# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "requests<3",
#   "rich",
# ]
# ///

import requests
from rich.pretty import pprint
"""

PEP_TOOL_EXAMPLE = """\
# /// script
# dependencies = [
#   "requests<3",
#   "rich",
# ]
# [tool.my-runner]
# mode = "isolated"
# ///
"""

# From the PEP: a block closes at the *last* "# ///" before a non-comment line.
PEP_EMBEDDED_EXAMPLE = '''\
# /// script
# embedded-csharp = """
# /// <summary>
# /// text
# ///
# /// </summary>
# public class MyClass { }
# """
# dependencies = ["rich"]
# ///
'''


def test_pep_example_gives_dependencies_and_python() -> None:
    meta = read_script_metadata(PEP_EXAMPLE)
    assert meta == ScriptMetadata(dependencies=("requests<3", "rich"), requires_python=">=3.11")


def test_tool_table_is_ignored() -> None:
    assert read_script_metadata(PEP_TOOL_EXAMPLE) == ScriptMetadata(("requests<3", "rich"), None)


def test_block_closes_at_the_last_closing_line() -> None:
    assert read_script_metadata(PEP_EMBEDDED_EXAMPLE) == ScriptMetadata(("rich",), None)


def test_windows_line_endings_are_read() -> None:
    assert read_script_metadata(PEP_EXAMPLE.replace("\n", "\r\n")) == read_script_metadata(PEP_EXAMPLE)


def test_no_block_and_unclosed_block_mean_no_metadata() -> None:
    assert read_script_metadata("import sys\nprint(sys.argv)\n") is None
    assert read_script_metadata('# /// script\n# dependencies = ["rich"]\nimport rich\n') is None
    assert read_script_metadata('#/// script\n# dependencies = ["rich"]\n#///\n') is None


def test_other_block_types_are_ignored() -> None:
    other = '# /// pyproject\n# [project]\n# dependencies = ["rich"]\n# ///\n'
    assert read_script_metadata(other) is None
    both = other + '\n# /// script\n# dependencies = ["httpx"]\n# ///\n'
    assert read_script_metadata(both) == ScriptMetadata(("httpx",), None)


def test_block_without_dependencies_is_empty() -> None:
    meta = read_script_metadata('# /// script\n#\n# requires-python = ">=3.10"\n# ///\n')
    assert meta == ScriptMetadata((), ">=3.10")


def test_two_script_blocks_are_an_error_at_the_second() -> None:
    code = '# /// script\n# dependencies = []\n# ///\nx = 1\n# /// script\n# dependencies = ["a"]\n# ///\n'
    with pytest.raises(MetadataError) as caught:
        read_script_metadata(code)
    assert caught.value.line == 5
    assert "second" in str(caught.value)
    assert isinstance(caught.value, ValidationError)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("code", "line"),
    [
        # Missing comma: tomllib reports content line 3, which is script line 5.
        (
            '#!/usr/bin/env python\n# /// script\n# dependencies = [\n#   "rich"\n#   "requests",\n# ]\n# ///\n',
            5,
        ),
        ("# /// script\n# dependencies = = 1\n# ///\n", 2),
        # An error "at end of document" is reported on the closing line.
        ("x = 1\n# /// script\n# dependencies = [\n# ///\n", 4),
    ],
)
def test_invalid_toml_is_an_error_with_the_script_line(code: str, line: int) -> None:
    with pytest.raises(MetadataError) as caught:
        read_script_metadata(code)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert "TOML" in str(caught.value)
    assert "(at " not in str(caught.value)  # no second, block-relative position to confuse


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('dependencies = "rich"', "list of strings"),
        ("dependencies = [1]", "list of strings"),
        ('dependencies = ["--index-url=http://evil.example/"]', "package name"),
        ("requires-python = 3.11", "must be a string"),
        ('requires-python = ">=3.8b1"', "cannot understand"),
    ],
)
def test_fields_of_the_wrong_shape_are_errors(body: str, needle: str) -> None:
    with pytest.raises(MetadataError, match=needle) as caught:
        read_script_metadata(f"import os\n# /// script\n# {body}\n# ///\n")
    assert caught.value.line == 2


# -- requirement names and the cache key ---------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Requests", "requests"),
        ("requests >= 2.0 , <3", "requests>=2.0,<3"),
        ("Foo_Bar.baz[Socks, Security]", "foo-bar-baz[security,socks]"),
        ("rich; python_version  <  '3.12'", "rich ;python_version < '3.12'"),
        (
            "wfdemo @ file:///w/x.whl ; sys_platform == 'linux'",
            "WFDEMO@ file:///w/x.whl  ;  sys_platform  ==  'linux'",
        ),
    ],
)
def test_equivalent_requirements_normalise_alike(a: str, b: str) -> None:
    assert normalise_requirement(a) == normalise_requirement(b)


def test_requirement_names() -> None:
    assert requirement_name("rich>=13") == "rich"
    assert requirement_name("  foo.bar[x] ; extra") == "foo.bar"
    assert requirement_name("-e .") is None
    # PEP 508: in "name @ url" only a ";" after whitespace starts the markers.
    assert normalise_requirement("a @ http://h/x;y") == "a@http://h/x;y"
    with pytest.raises(ValueError, match="package name"):
        normalise_requirement("--pre")


def test_key_ignores_order_case_and_whitespace(cache: EnvCache) -> None:
    one = ScriptMetadata(("Requests", "rich >= 13"), ">=3.11")
    two = ScriptMetadata(("rich>=13", "requests", "requests"), " >= 3.11 ")
    assert cache.key(one) == cache.key(two)
    assert len(cache.key(one)) == 24
    assert int(cache.key(one), 16) >= 0


def test_dependency_that_is_an_option_is_refused(cache: EnvCache) -> None:
    with pytest.raises(ValidationError, match="bad dependency"):
        cache.ensure(ScriptMetadata(("--index-url=http://evil.example/",), None), approve=refuse)
    assert not cache.root.exists()


def test_key_differs_with_the_dependencies_or_python(cache: EnvCache) -> None:
    base = cache.key(ScriptMetadata(("requests",), None))
    assert cache.key(ScriptMetadata(("httpx",), None)) != base
    assert cache.key(ScriptMetadata(("requests<3",), None)) != base
    assert cache.key(ScriptMetadata(("requests",), ">=3.11")) != base
    # The key is a pure function of its input: another cache object agrees.
    assert EnvCache(Path("/elsewhere")).key(ScriptMetadata(("requests",), None)) == base


# -- requires-python -----------------------------------------------------------------------------

SPECS = [
    ">=3.11",
    ">=3.12",
    "<3.11",
    "<=3.11",
    "<=3.11.7",
    "==3.11",
    "==3.11.7",
    "==3.11.*",
    "!=3.11.*",
    "!=3.11.7",
    ">3.11",
    ">3.11.7",
    "~=3.10",
    "~=3.11.0",
    "~=3.11.8",
    "~=3.12",
    ">=3.8, <4",
    ">=3.8,<3.11",
    "===3.11.7",
    "==3",
    "==3.*",
    "!=2.*",
    " >= 3.11 , < 3.13 ",
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("version", [(3, 11, 7), (3, 12, 0), (3, 10, 14), (3, 11, 0), (4, 0, 0)])
def test_requires_python_agrees_with_packaging(spec: str, version: tuple[int, int, int]) -> None:
    text = ".".join(map(str, version))
    assert python_satisfies(spec, version) == SpecifierSet(spec).contains(text)


def test_empty_requires_python_allows_everything() -> None:
    assert python_satisfies("  ", (3, 11, 7))


@pytest.mark.parametrize("spec", [">=3.8b1", ">=3.*", "~=3", "3.11", ">=", "=>3.11", ">=3.11,,<4"])
def test_requires_python_that_cannot_be_understood(spec: str) -> None:
    with pytest.raises(ValueError, match=r"cannot|needs"):
        python_satisfies(spec, (3, 11, 7))


def test_unsatisfiable_requires_python_is_refused_before_anything(cache: EnvCache, wheel: Path) -> None:
    with pytest.raises(ValidationError, match="requires Python <3") as caught:
        cache.ensure(demo(wheel, "<3"), approve=refuse)
    assert caught.value.exit_code == 2
    assert not cache.root.exists()


def test_malformed_requires_python_given_directly_is_refused(cache: EnvCache, wheel: Path) -> None:
    # ScriptMetadata built by hand skips read_script_metadata's check; ensure() repeats it.
    with pytest.raises(ValidationError, match="cannot be understood"):
        cache.ensure(demo(wheel, ">=3.8b1"), approve=refuse)


# -- installer output ----------------------------------------------------------------------------

PIP_MISSING = [
    "Looking in links: /tmp/empty",
    f"ERROR: Could not find a version that satisfies the requirement {MISSING}>=1 (from versions: none)",
    f"ERROR: No matching distribution found for {MISSING}>=1",
]
PIP_OFFLINE = [
    "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
    "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to "
    "establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/requests/",
    "ERROR: Could not find a version that satisfies the requirement requests (from versions: none)",
    "ERROR: No matching distribution found for requests",
]
UV_MISSING = [
    "  × No solution found when resolving dependencies:",
    f"  ╰─▶ Because {MISSING} was not found in the package registry and you require {MISSING}, we can",
]
UV_MISSING_NEW = [
    "error: No solution found when resolving dependencies",
    f"  cause: Because {MISSING} was not found in the provided package locations and you require {MISSING}>=1",
]
PIP_BUILD = [
    "  Building wheel for lxml (pyproject.toml): finished with status 'error'",
    "  ERROR: Failed building wheel for lxml",
    "ERROR: Failed to build installable wheels for some pyproject.toml based projects (lxml)",
]
UV_BUILD = ["  × Failed to build `pycairo==1.26.0`", "  ╰─▶ The build backend returned an error"]
PIP_CONFLICT = [
    "ERROR: Cannot install a==1 and b==2 because these package versions have conflicting dependencies.",
    "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/...",
]
PIP_INVALID = ["ERROR: Invalid requirement: 'rich>>1': Expected end or semicolon"]
PIP_AUTH = ["ERROR: HTTP error 401 while getting https://index.example/simple/private/"]
PIP_OSERROR = ["ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"]


@pytest.mark.parametrize(
    ("lines", "declared", "packages", "reason", "hint"),
    [
        (PIP_MISSING, [f"{MISSING}>=1", "rich"], (MISSING,), "no matching distribution", "package name"),
        (PIP_OFFLINE, ["requests", "rich"], ("requests",), "could not be reached", "network connection"),
        (UV_MISSING, [MISSING], (MISSING,), "no matching distribution", "package name"),
        (UV_MISSING_NEW, [f"{MISSING}>=1"], (MISSING,), "no matching distribution", "package name"),
        (PIP_BUILD, ["lxml", "rich"], ("lxml",), "building it failed", "compiler"),
        (UV_BUILD, ["pycairo"], ("pycairo",), "building it failed", "compiler"),
        (PIP_CONFLICT, ["a==1", "b==2"], ("a", "b"), "constraints conflict", "Loosen"),
        (PIP_INVALID, ["rich>>1"], ("rich",), "not valid", "PEP 508"),
        (PIP_AUTH, ["private"], ("private",), "refused access", "credentials"),
        (PIP_OSERROR, ["rich"], ("rich",), "No space left on device", "package name"),
        ([], ["rich"], ("rich",), "the installer failed", "package name"),
        (["Killed"], ["rich"], ("rich",), "Killed", "package name"),
    ],
)
def test_install_failures_are_explained(
    lines: list[str], declared: list[str], packages: tuple[str, ...], reason: str, hint: str
) -> None:
    found = diagnose_install_failure(lines, declared)
    assert found.packages == packages
    assert reason in found.reason
    assert hint in found.hint


def test_hints_name_the_configuration_of_the_installer_used() -> None:
    assert "pip.conf" in diagnose_install_failure(PIP_MISSING, [MISSING]).hint
    assert "uv.toml" in diagnose_install_failure(UV_MISSING, [MISSING], "uv").hint


def test_pip_python_flag_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pyenv_support.pip_has_python_flag()  # pip 26 in the project venv
    monkeypatch.setattr(importlib.metadata, "version", lambda _name: "22.2.2")
    assert not pyenv_support.pip_has_python_flag()
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    assert not pyenv_support.pip_has_python_flag()


# -- building environments -----------------------------------------------------------------------


def test_build_then_cache_hit(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    asked: list[list[str]] = []
    lines: list[str] = []
    assert cache.interpreter(meta) is None

    def approve(deps: list[str]) -> bool:
        asked.append(deps)
        return True

    python = cache.ensure(meta, approve=approve, output=lines.append)
    assert asked == [list(meta.dependencies)]
    assert any("Successfully installed wfdemo-1.0" in line for line in lines)
    assert (
        run_python(python, "import wfdemo, sys; print(wfdemo.VALUE, sys.prefix != sys.base_prefix)")
        == "42 True"
    )
    # Console scripts carry absolute #! paths; the env was never moved, so they still run.
    assert subprocess.run(
        [str(python.parent / "wfdemo-cli")], check=False, capture_output=True, text=True
    ).stdout == ("hello from wfdemo\n")
    marker = json.loads((python.parent.parent / MARKER).read_text())
    assert marker["deps"] == list(meta.dependencies)
    assert marker["python"] == ".".join(map(str, sys.version_info[:3]))
    assert marker["installer"] == "pip"
    assert marker["created_at"]

    started = time.perf_counter()
    assert cache.ensure(meta, approve=refuse) == python
    assert time.perf_counter() - started < 0.5
    assert cache.interpreter(meta) == python

    [info] = cache.list()
    assert info.key == cache.key(meta)
    assert info.deps == meta.dependencies
    assert info.size > 1000
    assert info.created_at.tzinfo is not None


def test_remove_deletes_the_environment(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    python = cache.ensure(meta, approve=lambda _deps: True)
    assert cache.remove(meta)
    assert cache.interpreter(meta) is None
    assert not python.exists()
    assert cache.list() == []
    assert not cache.remove(meta)


def test_missing_base_interpreter_makes_the_environment_unusable(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    python = cache.ensure(meta, approve=lambda _deps: True)
    # As after uninstalling the Python the venv was made from: bin/python dangles.
    python.unlink()
    python.symlink_to(cache.root / "gone" / "python3")
    assert cache.interpreter(meta) is None
    assert cache.list() == []


def test_empty_cache_lists_nothing(cache: EnvCache) -> None:
    assert cache.list() == []


def test_remove_key_checks_its_argument(cache: EnvCache) -> None:
    with pytest.raises(ValidationError):
        cache.remove_key("../../etc")
    assert not cache.remove_key("0" * 24)  # no cache directory yet


def test_missing_package_fails_cleanly(cache: EnvCache) -> None:
    meta = ScriptMetadata((f"{MISSING}>=1", "Requests"), None)
    lines: list[str] = []
    with pytest.raises(DependencyError) as caught:
        cache.ensure(meta, approve=lambda _deps: True, output=lines.append)
    error = caught.value
    assert error.packages == (MISSING,)
    assert str(error).startswith(f"could not install {MISSING}: no matching distribution")
    assert error.hint is not None and "index URL" in error.hint
    assert error.failure_class is FailureClass.MISSING_DEPENDENCY
    assert error.exit_code == 1
    assert MISSING in error.output
    assert any(MISSING in line for line in lines)
    assert cache.interpreter(meta) is None
    assert [p.name for p in cache.root.iterdir()] == [".locks"]


def test_declined_approval_creates_nothing(cache: EnvCache, wheel: Path) -> None:
    with pytest.raises(Cancelled, match="not approved") as caught:
        cache.ensure(demo(wheel), approve=lambda _deps: False)
    assert caught.value.exit_code == 130
    assert not cache.root.exists()


def test_no_dependencies_needs_no_approval(cache: EnvCache) -> None:
    python = cache.ensure(ScriptMetadata((), ">=3.11"), approve=refuse)
    assert run_python(python, "import sys; print(sys.prefix != sys.base_prefix)") == "True"


def test_concurrent_ensure_builds_once(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    # Both callers pass the "already built?" check before either may build: only the lock separates them.
    gate = threading.Barrier(2, timeout=30)

    def approve(_deps: list[str]) -> bool:
        gate.wait()
        return True

    outputs: list[list[str]] = [[], []]
    results: list[Path | None] = [None, None]
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            results[index] = cache.ensure(meta, approve=approve, output=outputs[index].append)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert results[0] is not None and results[0] == results[1]
    installs = sorted(sum("Successfully installed" in line for line in out) for out in outputs)
    assert installs == [0, 1]
    assert len(builds(cache, cache.key(meta))) == 1


def test_waiting_for_another_process_times_out(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    lock = cache.root / ".locks" / cache.key(meta)
    lock.parent.mkdir(parents=True)
    lock.touch()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,sys,time; f=open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(DependencyError, match="waiting for another process"):
            cache.ensure(meta, approve=lambda _deps: True, timeout=0.3)
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert cache.interpreter(meta) is None
    # With the other process gone the lock is free again.
    assert cache.ensure(meta, approve=lambda _deps: True).exists()


def test_broken_environment_and_leftovers_are_rebuilt(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    first = cache.ensure(meta, approve=lambda _deps: True)
    key = cache.key(meta)
    # A build killed with SIGKILL leaves a directory no link points to.
    (cache.root / f"{key}.deadbeef" / "bin").mkdir(parents=True)
    (cache.root / f".{key}.deadbeef.link").symlink_to(f"{key}.deadbeef")
    (first.parent.parent / MARKER).write_text("{not json")
    assert cache.interpreter(meta) is None
    assert cache.list() == []
    asked: list[list[str]] = []

    def approve(deps: list[str]) -> bool:
        asked.append(deps)
        return True

    second = cache.ensure(meta, approve=approve)
    assert asked == [list(meta.dependencies)]
    assert second != first
    assert builds(cache, key) == [second.parent.parent]
    assert not (cache.root / f".{key}.deadbeef.link").is_symlink()
    assert run_python(second, "import wfdemo; print(wfdemo.VALUE)") == "42"


def test_only_links_to_our_own_builds_are_trusted(cache: EnvCache, wheel: Path, tmp_path: Path) -> None:
    meta = demo(wheel)
    cache.root.mkdir(parents=True)
    (cache.root / cache.key(meta)).symlink_to(tmp_path)
    assert cache.interpreter(meta) is None
    assert cache.list() == []
    # A plain directory where the link belongs is cleared away by the next build.
    (cache.root / cache.key(meta)).unlink()
    (cache.root / cache.key(meta)).mkdir()
    assert cache.ensure(meta, approve=lambda _deps: True).exists()


def test_interrupted_build_leaves_nothing(cache: EnvCache, wheel: Path) -> None:
    def interrupt(line: str) -> None:
        if "Processing" in line:
            raise KeyboardInterrupt

    meta = demo(wheel)
    with pytest.raises(KeyboardInterrupt):
        cache.ensure(meta, approve=lambda _deps: True, output=interrupt)
    assert builds(cache, cache.key(meta)) == []
    assert cache.interpreter(meta) is None


def test_pip_without_python_flag_falls_back_to_venv_with_pip(
    cache: EnvCache, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pyenv_support, "pip_has_python_flag", lambda: False)
    python = cache.ensure(demo(wheel), approve=lambda _deps: True)
    assert (python.parent / "pip").exists()
    assert run_python(python, "import wfdemo; print(wfdemo.VALUE)") == "42"
    assert json.loads((python.parent.parent / MARKER).read_text())["installer"] == "venv-pip"


# -- uv ------------------------------------------------------------------------------------------

FAKE_UV = """#!{python}
# Stands in for uv: logs how it was called, then does the job with venv and pip.
import json, os, subprocess, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_UV_LOG"], "a") as log:
    log.write(json.dumps({{"argv": args, "pid": os.getpid(), "find_links": os.environ.get("UV_FIND_LINKS"),
                          "index": os.environ.get("UV_INDEX_URL")}}) + "\\n")
if args[0] == "venv":
    if os.environ.get("FAKE_UV_FAIL_VENV"):
        print("error: no interpreter found", file=sys.stderr)
        sys.exit(2)
    sys.exit(subprocess.call([args[args.index("--python") + 1], "-m", "venv", "--without-pip", args[-1]]))
if os.environ.get("FAKE_UV_SLEEP"):
    print("Resolving dependencies", flush=True)
    time.sleep(float(os.environ["FAKE_UV_SLEEP"]))
rest = args[2:]
at = rest.index("--python")
target = rest[at + 1]
del rest[at : at + 2]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "--python", target, "install", *rest]))
"""


@pytest.fixture
def fake_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, object]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text(FAKE_UV.format(python=sys.executable))
    uv.chmod(0o755)
    log = tmp_path / "uv.log"
    monkeypatch.setenv("FAKE_UV_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def calls() -> list[dict[str, object]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


def test_uv_is_preferred_when_on_path(
    tmp_path: Path,
    wheel: Path,
    fake_uv: Callable[[], list[dict[str, object]]],
    offline: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://index.example/simple")
    cache = EnvCache(tmp_path / "envs")
    python = cache.ensure(demo(wheel), approve=lambda _deps: True)
    assert run_python(python, "import wfdemo; print(wfdemo.VALUE)") == "42"
    venv, install = fake_uv()
    home = str(python.parent.parent)
    assert venv["argv"] == ["venv", "--python", sys.executable, home]
    assert install["argv"] == [
        "pip",
        "install",
        "--python",
        str(python),
        "--no-index",
        *demo(wheel).dependencies,
    ]
    # The user's pip settings reach uv under uv's own names.
    assert install["find_links"] == str(offline)
    assert install["index"] == "https://index.example/simple"
    assert json.loads((Path(home) / MARKER).read_text())["installer"] == "uv"


def test_uv_failure_names_the_package(tmp_path: Path, fake_uv: Callable[[], list[dict[str, object]]]) -> None:
    cache = EnvCache(tmp_path / "envs", use_uv=True)
    with pytest.raises(DependencyError, match=MISSING) as caught:
        cache.ensure(ScriptMetadata((MISSING,), None), approve=lambda _deps: True)
    assert caught.value.hint is not None and "uv.toml" in caught.value.hint
    assert [p.name for p in cache.root.iterdir()] == [".locks"]


def test_failed_venv_creation_is_reported(
    tmp_path: Path,
    wheel: Path,
    fake_uv: Callable[[], list[dict[str, object]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_UV_FAIL_VENV", "1")
    cache = EnvCache(tmp_path / "envs")
    with pytest.raises(
        DependencyError, match=r"could not create a virtual environment \(uv\): error: no interp"
    ):
        cache.ensure(demo(wheel), approve=lambda _deps: True)
    assert [p.name for p in cache.root.iterdir()] == [".locks"]


def test_timeout_kills_the_installer(
    tmp_path: Path,
    wheel: Path,
    fake_uv: Callable[[], list[dict[str, object]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_UV_SLEEP", "60")
    cache = EnvCache(tmp_path / "envs")
    started = time.monotonic()
    with pytest.raises(DependencyError, match=r"timed out after 1 s") as caught:
        cache.ensure(demo(wheel), approve=lambda _deps: True, timeout=1)
    assert time.monotonic() - started < 10
    assert caught.value.packages == ("wfdemo",)
    installer_pid = int(str(fake_uv()[-1]["pid"]))
    with pytest.raises(ProcessLookupError):
        os.kill(installer_pid, 0)
    assert [p.name for p in cache.root.iterdir()] == [".locks"]


def test_uv_required_but_missing(tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    cache = EnvCache(tmp_path / "envs", use_uv=True)
    with pytest.raises(DependencyError, match="uv was asked for"):
        cache.ensure(demo(wheel), approve=lambda _deps: True)


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed")
def test_real_uv_builds_an_environment(tmp_path: Path, wheel: Path) -> None:
    cache = EnvCache(tmp_path / "envs", use_uv=True)
    python = cache.ensure(demo(wheel), approve=lambda _deps: True)
    assert run_python(python, "import wfdemo; print(wfdemo.VALUE)") == "42"
    with pytest.raises(DependencyError, match=MISSING):
        cache.ensure(ScriptMetadata((MISSING,), None), approve=lambda _deps: True)


def test_lock_is_released_for_the_next_process(cache: EnvCache, wheel: Path) -> None:
    meta = demo(wheel)
    cache.ensure(meta, approve=lambda _deps: True)
    with open(cache.root / ".locks" / cache.key(meta), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held


def test_sigkill_of_the_builder_leaves_nothing_ready(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "envs"
    meta = demo(wheel)
    script = (
        "import sys, os, signal\n"
        "from pathlib import Path\n"
        "from workflow_agent.execution.pyenv import EnvCache, ScriptMetadata\n"
        "def die(line):\n"
        "    if 'Successfully installed' in line: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"EnvCache(Path({str(root)!r}), use_uv=False).ensure(ScriptMetadata({meta.dependencies!r}, None),"
        " approve=lambda d: True, output=die)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    cache = EnvCache(root, use_uv=False)
    other = ScriptMetadata(meta.dependencies, None)
    key = cache.key(other)
    assert builds(cache, key)  # the half-built directory is there...
    assert cache.interpreter(other) is None  # ...but does not count as an environment
    assert cache.ensure(other, approve=lambda _deps: True).exists()
    assert len(builds(cache, key)) == 1
