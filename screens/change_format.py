"""How a change reads in a list, and the Changes view's filter syntax.

A list row says what changed in a few words (`1.2 -> 1.3`, `active/enabled ->
failed/enabled`, `content, mode 0644 -> 0600`); the whole before and after are in the
diff view (`unified_diff`). Plain ASCII only, like the rest of the console.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from console.changes.model import Change, ChangeKind, ChangeType

FILE_FIELDS = ("mode", "owner", "group")  # besides the content, what a file change names
SERVICE_FIELDS = ("state", "enabled")


@dataclass(frozen=True)
class ChangeFilter:
    """What the filter field asks the engine for: `host:NAME type:TYPE words...`."""

    host: str | None = None
    type: str | None = None
    text: str | None = None


def parse_filter(text: str) -> ChangeFilter:
    """`host:web01 type:file passwd` -> host web01, type file, text "passwd". Words
    without a known prefix are the text (case-insensitive, searched in host, name and
    the before/after values); the last `host:` or `type:` wins. A bad type is left for
    the engine, whose error names the types it knows."""
    host = kind = None
    words = []
    for word in text.split():
        prefix, colon, value = word.partition(":")
        if colon and value and prefix.lower() == "host":
            host = value
        elif colon and value and prefix.lower() == "type":
            kind = value.lower()
        else:
            words.append(word)
    return ChangeFilter(host, kind, " ".join(words) or None)


def change_cells(change: Change, with_host: bool = True) -> tuple[str, ...]:
    """Time, (host,) type, change, name, and the short before -> after."""
    cells = (
        time.strftime("%m-%d %H:%M", time.localtime(change.time)),
        change.host,
        change.type.value,
        change.change.value,
        change.name,
        summary(change),
    )
    return cells if with_host else cells[:1] + cells[2:]


def summary(change: Change) -> str:
    """A few words for what changed; the diff view has the rest."""
    if change.type is ChangeType.FILE:
        return _file_summary(change)
    if change.type is ChangeType.SERVICE and change.change is ChangeKind.MODIFIED:
        return _service_summary(change.before or {}, change.after or {})
    before, after = _short(change.type, change.before), _short(change.type, change.after)
    if change.change is ChangeKind.ADDED:
        return f"+ {after}"
    if change.change is ChangeKind.REMOVED:
        return f"- {before}"
    return f"{before} -> {after}"


def _short(kind: ChangeType, value: Any) -> str:
    if value is None:
        return "-"
    if kind is ChangeType.SOFTWARE and isinstance(value, dict):
        return str(value.get("version", ""))
    if kind is ChangeType.SERVICE and isinstance(value, dict):
        return f"{value.get('state', '')}/{value.get('enabled', '') or '?'}"
    if isinstance(value, list):
        return ", ".join(_short(kind, item) for item in value) or "(none)"
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values())
    return str(value)


def _service_summary(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Only what moved: `active -> failed`, `enabled -> disabled`; a service that
    started again between two collections (same state, new start time) `restarted`."""
    moved = [f for f in SERVICE_FIELDS if before.get(f) != after.get(f)]
    if not moved:
        return f"{after.get('state') or '?'}, restarted"
    return ", ".join(f"{before.get(f) or '?'} -> {after.get(f) or '?'}" for f in moved)


def _file_summary(change: Change) -> str:
    before, after = change.before or {}, change.after or {}
    if change.change is ChangeKind.ADDED:
        return f"+ {_file_meta(after)}"
    if change.change is ChangeKind.REMOVED:
        return f"- {_file_meta(before)}"
    parts = []
    if before.get("sha256") != after.get("sha256"):
        parts.append(f"content, {before.get('size', '?')} -> {after.get('size', '?')} B")
    parts += [
        f"{field} {before.get(field)} -> {after.get(field)}"
        for field in FILE_FIELDS
        if before.get(field) != after.get(field)
    ]
    if before.get("status") != after.get("status"):
        parts.append(f"{before.get('status')} -> {after.get('status')}")
    return ", ".join(parts) or "modified"


def _file_meta(side: dict[str, Any]) -> str:
    return f"{side.get('mode', '')} {side.get('owner', '')}:{side.get('group', '')} " + (
        f"{side.get('size', 0)} B"
    )
