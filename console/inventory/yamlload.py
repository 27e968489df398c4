"""Load YAML (or JSON) keeping the line of every mapping key, and refusing duplicates.

Ansible silently keeps the last of two equal keys; for an operations console that hides
mistakes (a second `hosts:` drops the first group of hosts), so a duplicate key at any
level is an error here. Every mapping is returned as a `LineDict`, which remembers the
line of each of its keys so that later validation can point at the exact line.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import yaml

from console.errors import InventoryError

# libyaml's C parser where installed (large inventories load in a fraction of the time);
# construction stays in Python, so line numbers and merge keys work the same.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LineDict(dict[Any, Any]):
    """A dict that knows the 1-based line of itself and of each of its keys."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        """The line of `key`, or of the mapping itself when the key is unknown."""
        return self.key_lines.get(key, self.line)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    path = "<string>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict(node.start_mark.line + 1)
    yield data
    explicit = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=False)
        if not isinstance(key, Hashable):
            raise InventoryError(loader.path, line, "a mapping key must be a plain value")
        if id(key_node) in explicit:
            if key in seen:
                first = data.key_lines.get(key)
                raise InventoryError(
                    loader.path, line, f"duplicate key {key!r} (first defined on line {first})"
                )
            seen.add(key)
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_lines[key] = line


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def load_yaml(path: str, text: str) -> Any:
    """Parse `text` (read from `path`, used in messages) into plain data and LineDicts."""
    loader = _Loader(text)
    loader.path = path
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InventoryError(path, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(path, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
