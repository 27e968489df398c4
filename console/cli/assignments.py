"""NAME=VALUE on the command line (`-p`, `--param-file`): the one parser of it."""

from __future__ import annotations

from collections.abc import Iterable

from console.errors import UsageError


def parse_assignments(items: Iterable[str] | None, option: str = "-p") -> dict[str, str]:
    """`["NAME=VALUE", ...]` as a dict: the value keeps any '=' after the first (a query
    string is one value) and the last assignment of a name wins, so a later `-p`
    overrides an earlier one. A bad item is a UsageError naming `option`."""
    result: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option}: {item!r} is not NAME=VALUE")
        result[name.strip()] = value
    return result
