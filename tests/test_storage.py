from __future__ import annotations

from pathlib import Path

import pytest

from workflow_agent.core.errors import AlreadyExistsError, ConfigError, NotFoundError, ValidationError
from workflow_agent.core.types import Language, WorkflowConfig
from workflow_agent.storage.workflows import MEMORY_LIMIT, WorkflowStore, validate_name


@pytest.fixture
def store(workflow_home: Path) -> WorkflowStore:
    return WorkflowStore(workflow_home)


@pytest.mark.parametrize("name", ["backup", "a", "disk-report_2", "x" * 64])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "../etc", "a/b", "Backup", "-x", "_x", "x" * 65, ".hidden", "a b", "name\n", "..", "é"]
)
def test_odd_names_are_refused_before_touching_disk(name: str, store: WorkflowStore) -> None:
    with pytest.raises(ValidationError, match="invalid workflow name"):
        store.folder(name)
    assert not store.home.exists()


def test_create_load_and_layout(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="hello", description="say hi"), "echo hi\n")
    folder = store.home / "hello"
    assert sorted(p.name for p in folder.iterdir()) == ["CLAUDE.md", "config.yaml", "versions", "workflow.sh"]
    assert (folder / "versions" / "001.sh").read_text() == "echo hi\n"
    loaded = store.load("hello")
    assert loaded.code == "echo hi\n"
    assert loaded.config.version == 1
    assert "say hi" in store.memory("hello")
    with pytest.raises(AlreadyExistsError):
        store.create(WorkflowConfig(name="hello"), "echo again\n")


def test_missing_workflow_is_not_found(store: WorkflowStore) -> None:
    with pytest.raises(NotFoundError, match="no workflow named 'nope'"):
        store.load("nope")


def test_versions_diff_and_rollback_keep_everything(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo one\n")
    store.save_version("w", "echo two\n")
    store.save_version("w", "print('three')\n", language=Language.PYTHON)
    infos = store.versions("w")
    assert [(v.version, v.language, v.current) for v in infos] == [
        (1, Language.BASH, False),
        (2, Language.BASH, False),
        (3, Language.PYTHON, True),
    ]
    assert not (store.home / "w" / "workflow.sh").exists(), (
        "old language file must go when the language changes"
    )
    rolled = store.rollback("w", 1)
    assert rolled.config.version == 4
    assert rolled.config.language is Language.BASH
    assert store.load("w").code == "echo one\n"
    assert store.version_code("w", 3) == ("print('three')\n", Language.PYTHON)
    with pytest.raises(NotFoundError, match="Versions: 1, 2, 3, 4"):
        store.version_code("w", 9)


def test_hand_edits_and_comments_in_config_survive_a_save(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w", description="first"), "echo 1\n")
    path = store.home / "w" / "config.yaml"
    text = path.read_text().replace(
        "timeout: 300", "# my own note about the timeout\ntimeout: 900  # slow disk"
    )
    path.write_text(text)
    store.save_version("w", "echo 2\n")
    after = path.read_text()
    assert "# my own note about the timeout" in after
    assert "timeout: 900  # slow disk" in after
    assert "version: 2" in after
    assert store.load_config("w").timeout == 900


def test_corrupt_yaml_names_file_and_line_and_spares_others(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="good"), "echo ok\n")
    store.create(WorkflowConfig(name="bad"), "echo bad\n")
    path = store.home / "bad" / "config.yaml"
    lines = path.read_text().splitlines()
    lines[2] = "timeout: [unclosed"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        store.load("bad")
    assert str(path) in info.value.message
    assert f"{path}:" in info.value.message
    listing = {row.name: row for row in store.listing()}
    assert listing["good"].workflow is not None
    assert listing["bad"].workflow is None and listing["bad"].error


def test_invalid_value_names_the_line_of_the_key(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo\n")
    path = store.home / "w" / "config.yaml"
    lines = path.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("timeout:"))
    lines[number] = "timeout: -5"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=rf"config.yaml:{number + 1}: timeout"):
        store.load_config("w")


def test_config_that_is_not_a_mapping(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo\n")
    (store.home / "w" / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        store.load_config("w")


def test_name_mismatch_and_missing_code_are_explained(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo\n")
    (store.home / "w" / "workflow.sh").unlink()
    with pytest.raises(ConfigError, match="workflow.sh is missing"):
        store.load("w")
    path = store.home / "w" / "config.yaml"
    path.write_text(path.read_text().replace("name: w", "name: other"))
    with pytest.raises(ConfigError, match="folder is 'w'"):
        store.load_config("w")


def test_delete_removes_folder(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo\n")
    store.delete("w")
    assert store.names() == []
    assert list(store.home.iterdir()) == []
    with pytest.raises(NotFoundError):
        store.delete("w")


def test_memory_is_deduplicated_and_bounded(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo\n")
    assert store.append_memory("w", "the  API needs   a retry")
    assert not store.append_memory("w", "the API needs a retry")
    assert not store.append_memory("w", "   ")
    for i in range(3000):
        store.append_memory("w", f"fact number {i} " + "x" * 20)
    text = store.memory("w")
    assert len(text.encode()) <= MEMORY_LIMIT
    assert text.startswith("# w")
    assert "fact number 2999" in text
    assert "the API needs a retry" not in text


def test_save_version_rejects_bad_settings(store: WorkflowStore) -> None:
    store.create(WorkflowConfig(name="w"), "echo\n")
    with pytest.raises(ValidationError, match="invalid settings"):
        store.save_version("w", "echo\n", timeout=-1)
    assert store.load_config("w").version == 1
