"""YAML that remembers where everything was written, for errors that name the line.

Configuration files are written by hand, so each mistake must point at its line: this
SafeLoader keeps the 1-based line of every mapping key and list item (from PyYAML's node
marks), and refuses duplicate keys, which plain PyYAML silently drops (a second `mode:`
would win unseen).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import yaml

from console.errors import ConfigError

# libyaml's C parser where installed; construction stays in Python, so the marks are kept.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigurationError(ConfigError):
    """A configuration file that cannot be used: `path:line: problem` (exit 2)."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}" if line is not None else f"{path}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class MarkedMapping(dict[Any, Any]):
    """A YAML mapping that knows its own line and the line of each key."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list[Any]):
    """A YAML sequence that knows its own line and the line of each item."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    path = "<string>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[MarkedMapping]:
    data = MarkedMapping(node.start_mark.line + 1)
    yield data
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=False)
        if not isinstance(key, Hashable):
            raise ConfigurationError(loader.path, line, "a key must be a plain value")
        if key in data:
            first = data.key_lines[key]
            raise ConfigurationError(
                loader.path, line, f"duplicate key {key!r} (first on line {first})"
            )
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_lines[key] = line


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[MarkedList]:
    items = MarkedList(node.start_mark.line + 1)
    yield items
    for child in node.value:
        items.append(loader.construct_object(child, deep=False))
        items.lines.append(child.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def parse_marked_yaml(path: str, text: str) -> Any:
    loader = _Loader(text)
    loader.path = path
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigurationError(path, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(path, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
