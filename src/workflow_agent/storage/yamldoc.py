"""Round-trip YAML: a user's comments and hand edits in config files survive our writes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from workflow_agent.core.errors import ConfigError


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load_document(path: Path) -> CommentedMap:
    """Parse ``path`` as a YAML mapping, or raise ConfigError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"{where}: {problem}", hint="Fix the file by hand, or restore it from versions/."
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError(f"{path}:1: expected a mapping of keys to values, found {type(data).__name__}")
    return data


def key_line(doc: CommentedMap, location: tuple[int | str, ...]) -> int | None:
    """1-based line of the key at ``location`` (a pydantic error loc), as far as it can be found."""
    node: Any = doc
    line: int | None = None
    for part in location:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def merge(doc: CommentedMap, data: dict[str, Any]) -> CommentedMap:
    """Update ``doc`` in place to hold ``data``, touching only keys whose values changed."""
    for key in [k for k in doc if k not in data]:
        del doc[key]
    for key, value in data.items():
        current = doc.get(key)
        if isinstance(value, dict) and isinstance(current, CommentedMap):
            merge(current, value)
        elif to_plain(current) != value or key not in doc:
            doc[key] = value
    return doc


def to_plain(value: Any) -> Any:
    """Commented YAML containers as plain dicts and lists."""
    if isinstance(value, CommentedMap):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, CommentedSeq):
        return [to_plain(v) for v in value]
    return value


def dump(doc: CommentedMap) -> str:
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    return buffer.getvalue()
