"""What changed between two snapshots of a host: `changes_between` and `unified_diff`.

Rules (what a user would call a change, and nothing else):

- the first snapshot of a host is the baseline: it yields no change, not thousands of
  "added". A failed collection makes no snapshot, so it yields none either;
- software by (name, arch): added, removed, or modified when the version changes;
- services by name: modified when the state or the enabled state differs, or when a
  running service started again since the last collection (its start time moved: a
  flap that both collections saw as running). Every collection is compared with the
  one before, never debounced, so a service that went down at one collection and came
  back by the next gives two changes;
- files by path: added, removed (a tracked path now missing counts as gone), modified
  when the sha256, mode, owner or group changes, or the file became (un)readable. The
  mtime alone is not a change (a `touch` changes nothing a user cares about). before
  and after carry the metadata and the content when it was kept, for `unified_diff`;
- facts by name (the `Facts` field): modified when the value differs. Not compared:
  `uptime_s` (grows every second) and a disk's `used_mb` (moves all day); `ipv4`,
  `ipv6` and disks are compared as sets. `boot_time` is compared with a tolerance of
  `REBOOT_TOLERANCE_S`: computed from the clock and the uptime, it wobbles by a second
  or two between collections, while a change beyond that means the host rebooted, so
  a reboot is reported as one `fact modified boot_time` change (before/after the boot
  times) and nothing else.

Speed: an unchanged section (the usual case) is found equal by comparing its items'
keys and identities in order, in C; otherwise by dicts keyed by name, so the cost is
linear whatever changed (bench/changes: ~0.94 s of CPU per 1,000 hosts of 2,000
packages).
"""

from __future__ import annotations

import difflib
import random
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import asdict
from operator import attrgetter, eq
from typing import Any, TypeVar

from console.changes.codec import file_to_dict, package_to_dict, service_to_dict
from console.changes.model import (
    Change,
    ChangeKind,
    ChangeType,
    Facts,
    FileStatus,
    Package,
    Snapshot,
    TrackedFile,
)

REBOOT_TOLERANCE_S = 60.0
START_TOLERANCE_S = 0.05  # start times are kept to the millisecond
PLAIN_FACTS = (
    "hostname",
    "fqdn",
    "os_name",
    "os_version",
    "os_family",
    "kernel",
    "arch",
    "cpus",
    "memory_mb",
    "machine_id",
    "virtualization",
)

Item = TypeVar("Item")
# (kind, name, before, after) before a change gets its id, time and host.
Found = tuple[ChangeKind, str, Any, Any]

_id_lock = threading.Lock()
_last_id_us = 0


def new_change_id(now: float) -> str:
    """An id that sorts by time: 14 hex digits of microseconds, then 4 random ones.
    Strictly increasing within the process, so the changes of one collection keep
    their order and two collections in the same microsecond never share an id."""
    global _last_id_us
    with _id_lock:
        micros = max(int(now * 1_000_000), _last_id_us + 1)
        _last_id_us = micros
    return f"{micros:014x}{random.getrandbits(16):04x}"


def changes_between(old: Snapshot | None, new: Snapshot, now: float) -> list[Change]:
    """Every change from `old` to `new` (both of one host), stamped `now`; none when
    `old` is None (the first snapshot is the baseline)."""
    if old is None:
        return []
    sections: list[tuple[ChangeType, Iterable[Found]]] = [
        (ChangeType.SOFTWARE, _software(old.software, new.software)),
        (ChangeType.SERVICE, _services(old, new)),
        (ChangeType.FILE, _files(old.files, new.files)),
        (ChangeType.FACT, _facts(old.facts, new.facts)),
    ]
    return [
        Change(new_change_id(now), now, new.host, kind_of, change, name, before, after)
        for kind_of, found in sections
        for change, name, before, after in found
    ]


def _keyed(
    old: Sequence[Item],
    new: Sequence[Item],
    key: Callable[[Item], Hashable],
    identity: Callable[[Item], Hashable],
    to_dict: Callable[[Item], Any],
    whole: Callable[[Item], Hashable] | None = None,
) -> Iterator[Found]:
    """Added, removed and modified items (same key, other identity), in key order.
    Nothing changed (the usual case) is decided in C: the items in the same order
    (a collector lists them the same way each time) with equal keys and identities
    (`whole`, when given, gets both in one pass: an attrgetter of all their fields),
    else key -> identity dicts compared in one `==`."""
    if _same_in_order(old, new, key, identity, whole):
        return
    old_ids = dict(zip(map(key, old), map(identity, old), strict=True))
    new_ids = dict(zip(map(key, new), map(identity, new), strict=True))
    if old_ids == new_ids:
        return
    modified = {k for k in old_ids.keys() & new_ids.keys() if old_ids[k] != new_ids[k]}
    touched = sorted((old_ids.keys() ^ new_ids.keys()) | modified, key=str)
    old_items = dict(zip(map(key, old), old, strict=True))
    new_items = dict(zip(map(key, new), new, strict=True))
    for k in touched:
        before, after = old_items.get(k), new_items.get(k)
        kind = ChangeKind.MODIFIED if k in modified else ChangeKind.ADDED
        if after is None:
            kind = ChangeKind.REMOVED
        yield (
            kind,
            _name_of(k),
            None if before is None else to_dict(before),
            None if after is None else to_dict(after),
        )


def _same_in_order(
    old: Sequence[Item],
    new: Sequence[Item],
    key: Callable[[Item], Hashable],
    identity: Callable[[Item], Hashable],
    whole: Callable[[Item], Hashable] | None,
) -> bool:
    if len(old) != len(new):
        return False
    if whole is not None:  # pairwise, stopping at the first difference, no lists built
        return all(map(eq, map(whole, old), map(whole, new)))
    return list(map(key, old)) == list(map(key, new)) and list(map(identity, old)) == list(
        map(identity, new)
    )


def _name_of(key: Hashable) -> str:
    """The change's name from an item key: a package's key is (name, arch)."""
    return str(key[0]) if isinstance(key, tuple) else str(key)


def _software(old: Sequence[Package], new: Sequence[Package]) -> Iterator[Found]:
    return _keyed(
        old,
        new,
        attrgetter("name", "arch"),
        attrgetter("version"),
        package_to_dict,
        attrgetter("name", "arch", "version"),
    )


def _services(old: Snapshot, new: Snapshot) -> Iterator[Found]:
    """Added, removed, and modified in state, enabled state or start time (a flap: it
    stopped and started again between the collections)."""
    found = _keyed(
        old.services,
        new.services,
        attrgetter("name"),
        attrgetter("state", "enabled", "started"),
        service_to_dict,
        attrgetter("name", "state", "enabled", "started"),
    )
    same_start = _same_start(old.facts.boot_time, new.facts.boot_time)
    return (item for item in found if not same_start(item))


def _same_start(old_boot: float, new_boot: float) -> Callable[[Found], bool]:
    """Whether a found service change is only its start time seen again. Start times
    are the boot time plus a time since boot; the boot time the kernel reports moves
    when the clock is adjusted, so they are compared as times since boot. Not a change:
    a start time known on one side only (a pid file appeared), or every service's new
    start after a reboot (the reboot is the one `boot_time` change)."""
    rebooted = abs(new_boot - old_boot) > REBOOT_TOLERANCE_S

    def same(item: Found) -> bool:
        kind, _name, before, after = item
        if kind is not ChangeKind.MODIFIED or any(
            before[key] != after[key] for key in ("state", "enabled")
        ):
            return False
        if before["started"] is None or after["started"] is None or rebooted:
            return True
        moved = (after["started"] - new_boot) - (before["started"] - old_boot)
        return abs(moved) <= START_TOLERANCE_S

    return same


def _file_identity(tracked: TrackedFile) -> tuple[str, str, str, str, bool]:
    """What makes a file changed: content hash, mode, owner, group, readability."""
    unreadable = tracked.status is FileStatus.UNREADABLE
    return tracked.sha256, tracked.mode, tracked.owner, tracked.group, unreadable


def _files(old: Sequence[TrackedFile], new: Sequence[TrackedFile]) -> Iterator[Found]:
    return _keyed(
        [f for f in old if f.status is not FileStatus.MISSING],
        [f for f in new if f.status is not FileStatus.MISSING],
        attrgetter("path"),
        _file_identity,
        file_to_dict,
    )


def comparable_facts(facts: Facts) -> dict[str, Any]:
    """The facts that count as changes, JSON-shaped (lists, sorted where order is
    noise), without uptime and disk usage; boot_time is handled on its own."""
    values: dict[str, Any] = {name: getattr(facts, name) for name in PLAIN_FACTS}
    values["ipv4"] = sorted(facts.ipv4)
    values["ipv6"] = sorted(facts.ipv6)
    values["disks"] = sorted(
        ({k: v for k, v in asdict(d).items() if k != "used_mb"} for d in facts.disks),
        key=lambda disk: disk["mount"],
    )
    return values


def _facts(old: Facts, new: Facts) -> Iterator[Found]:
    before, after = comparable_facts(old), comparable_facts(new)
    for name, value in after.items():
        if before[name] != value:
            yield ChangeKind.MODIFIED, name, before[name], value
    if abs(new.boot_time - old.boot_time) > REBOOT_TOLERANCE_S:
        yield ChangeKind.MODIFIED, "boot_time", old.boot_time, new.boot_time


def unified_diff(change: Change) -> str:
    """The change as a unified diff, for `changes show`: a file's metadata lines then
    its content diff (when the content was kept on both sides it existed on); for other
    changes the before/after values, one `key: value` line each."""
    label = f"{change.host}:{change.name}"
    old_lines = _describe(change.before)
    new_lines = _describe(change.after)
    text = "".join(
        difflib.unified_diff(old_lines, new_lines, f"{label} (before)", f"{label} (after)")
    )
    if change.type is ChangeType.FILE:
        text += _content_diff(change, label)
    return text


def _describe(value: Any) -> list[str]:
    """A value as diffable lines; a file's content is left to `_content_diff`."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{key}: {item}\n" for key, item in value.items() if key != "content"]
    return [f"{value}\n"]


def _content_diff(change: Change, label: str) -> str:
    before, after = change.before or {}, change.after or {}
    old_text, new_text = before.get("content"), after.get("content")
    missing_side = (change.before is not None and old_text is None) or (
        change.after is not None and new_text is None
    )
    if missing_side:
        return "(content not kept: binary, over the size limit, unreadable or --no-content)\n"
    return "".join(
        difflib.unified_diff(
            _lines(old_text or ""),
            _lines(new_text or ""),
            f"{label} content (before)",
            f"{label} content (after)",
        )
    )


def _lines(text: str) -> list[str]:
    """Lines each ending in a newline, so a last line without one stays on its own."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines
