"""The tracking configuration: which files to collect where, how often, and alerts.

Kept in store tables (`console.store.tables`), so it survives restarts and is written
atomically: `tracked-files` (by path or glob), `change-alerts` (by name) and
`tracking-settings` (the collection interval, or None: off). `Tracking` validates every edit and
raises a UsageError naming what to fix; `files_for` says what to collect on a host
(the `TrackedPath` list the collector takes); `matching` says which
alerts a change sets off.

An alert's `when` is an AND of `key=value` terms separated by spaces, e.g.
`type=file name=/etc/passwd change=modified`: `type` is software|service|file|fact,
`change` added|removed|modified, `name` a glob on the package, service, path or fact
name, `host` a glob on the host name or, given the inventory, a host pattern
(`web:&prod`). An alert's `pattern` is where its runbook runs; None means the host
the change happened on.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from console.changes.model import Change, ChangeKind, ChangeType, TrackedPath
from console.errors import UsageError
from console.inventory.model import Inventory
from console.inventory.patterns import parse_pattern
from console.store import Store
from console.windows.paths import check_windows_path, is_windows_path

DEFAULT_INTERVAL_S = 15 * 60
MIN_INTERVAL_S = 60
WHEN_KEYS = ("type", "change", "name", "host")
_ALERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Term:
    key: str
    value: str


@dataclass(frozen=True)
class Alert:
    name: str
    when: str  # the expression as the user wrote it; `terms` is its parsed form
    runbook: str
    pattern: str | None = None  # where the runbook runs; None: the changed host
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def terms(self) -> tuple[Term, ...]:
        return parse_when(self.when)


def parse_when(expression: str) -> tuple[Term, ...]:
    """`type=file name=/etc/passwd` as terms; a UsageError naming the bad term."""
    words = expression.split()
    if not words:
        raise UsageError("an alert needs a --when expression, e.g. 'type=software change=added'")
    return tuple(_term(word) for word in words)


def _term(word: str) -> Term:
    key, equals, value = word.partition("=")
    if not equals or not value:
        raise UsageError(f"alert term {word!r} is not key=value (keys: {', '.join(WHEN_KEYS)})")
    if key not in WHEN_KEYS:
        raise UsageError(f"alert term {word!r}: unknown key {key!r} (keys: {', '.join(WHEN_KEYS)})")
    allowed = {"type": ChangeType, "change": ChangeKind}.get(key)
    if allowed is not None and value not in {member.value for member in allowed}:
        choices = "|".join(member.value for member in allowed)
        raise UsageError(f"alert term {word!r}: {key} is one of {choices}")
    if key == "host":
        parse_pattern(value)  # a UsageError when the pattern cannot be understood
    return Term(key, value)


def matching(
    alerts: list[Alert], change: Change, inventory: Inventory | None = None
) -> list[Alert]:
    """The alerts whose every term matches `change`, in the order given."""
    return [a for a in alerts if all(_matches(t, change, inventory) for t in a.terms)]


def _matches(term: Term, change: Change, inventory: Inventory | None) -> bool:
    if term.key == "type":
        return change.type.value == term.value
    if term.key == "change":
        return change.change.value == term.value
    if term.key == "name":
        return fnmatch.fnmatchcase(change.name, term.value)
    if fnmatch.fnmatchcase(change.host, term.value):
        return True
    return inventory is not None and any(
        host.name == change.host for host in inventory.select(term.value)
    )


class Tracking:
    """The tracking configuration of one data directory's store."""

    def __init__(self, store: Store) -> None:
        self._files = store.table("tracked-files")
        self._alerts = store.table("change-alerts")
        self._settings = store.table("tracking-settings")

    # -- tracked files --------------------------------------------------------------

    def add_file(self, path: str, pattern: str = "all", content: bool = True) -> TrackedPath:
        """Track `path` (absolute; a glob is allowed) on the hosts of `pattern`."""
        _check_path(path)
        parse_pattern(pattern)
        if self._files.get(path) is not None:
            raise UsageError(f"{path} is tracked already (remove it first to change it)")
        tracked = TrackedPath(path, pattern, content)
        self._files.upsert(path, asdict(tracked))
        return tracked

    def remove_file(self, path: str) -> None:
        if not self._files.delete(path):
            known = ", ".join(self._files.all()) or "none"
            raise UsageError(f"{path} is not tracked (tracked: {known})")

    def files(self) -> list[TrackedPath]:
        """The tracked paths and globs, in the order they were added."""
        return [TrackedPath(**doc) for doc in self._files.all().values()]

    def files_for(self, host_name: str, inventory: Inventory) -> list[TrackedPath]:
        """What to collect on `host_name`: every tracked path whose pattern selects it."""
        return self.files_by_host([host_name], inventory)[host_name]

    def files_by_host(
        self, host_names: list[str], inventory: Inventory
    ) -> dict[str, list[TrackedPath]]:
        """`files_for` of many hosts, each pattern selected once (a collection of
        10,000 hosts must not select every pattern 10,000 times)."""
        plan: dict[str, list[TrackedPath]] = {name: [] for name in host_names}
        selected: dict[str, set[str]] = {}
        for tracked in self.files():
            if tracked.pattern not in selected:
                selected[tracked.pattern] = {h.name for h in inventory.select(tracked.pattern)}
            for name in selected[tracked.pattern] & plan.keys():
                plan[name].append(tracked)
        return plan

    # -- the collection interval ----------------------------------------------------

    def interval(self) -> float | None:
        """Seconds between a host's collections (default 15 minutes); None when the
        periodic collection is off (`tracking interval off`)."""
        doc = self._settings.get("interval")
        if doc is None:
            return float(DEFAULT_INTERVAL_S)
        return None if doc["seconds"] is None else float(doc["seconds"])

    def set_interval(self, seconds: float | None) -> None:
        """None turns the periodic collection off; `inventory collect` still works."""
        if seconds is not None and seconds < MIN_INTERVAL_S:
            raise UsageError(
                f"a collection interval of {seconds:g}s is too short (at least {MIN_INTERVAL_S}s)"
            )
        self._settings.upsert("interval", {"seconds": seconds})

    # -- alerts ---------------------------------------------------------------------

    def add_alert(
        self,
        name: str,
        when: str,
        runbook: str,
        pattern: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Alert:
        """Start `runbook` (on `pattern`, else the changed host) when a change matches
        `when`. The runbook's existence is the caller's to check (it has the catalog)."""
        self.check_alert_name(name)
        parse_when(when)
        if not runbook:
            raise UsageError(f"alert {name!r} needs a --runbook")
        if pattern is not None:
            parse_pattern(pattern)
        alert = Alert(name, when, runbook, pattern, dict(parameters or {}))
        self._alerts.upsert(name, {**asdict(alert), "parameters": dict(alert.parameters)})
        return alert

    def check_alert_name(self, name: str) -> None:
        """A well-formed name no other alert has."""
        if not _ALERT_NAME.match(name):
            raise UsageError(
                f"{name!r} is not an alert name (letters, digits, '_', '.', '-'; up to 64)"
            )
        if self._alerts.get(name) is not None:
            raise UsageError(f"alert {name!r} exists already (remove it first to change it)")

    def remove_alert(self, name: str) -> None:
        if not self._alerts.delete(name):
            known = ", ".join(self._alerts.all()) or "none"
            raise UsageError(f"no alert {name!r} (alerts: {known})")

    def alerts(self) -> list[Alert]:
        return [Alert(**doc) for doc in self._alerts.all().values()]


def _check_path(path: str) -> None:
    """A tracked path is absolute, one line, and free of `..` (which would make two
    spellings of one file, or a glob that climbs out of its directory). Windows paths
    (`C:\\...`) and registry keys (`HKLM:\\...`) are tracked on Windows hosts."""
    if is_windows_path(path):
        check_windows_path(path)
        return
    if not path.startswith("/"):
        raise UsageError(
            f"{path!r} is not an absolute path (start it with /, or C:\\ or HKLM:\\ on Windows)"
        )
    if any(ch in path for ch in "\n\r\0"):
        raise UsageError(f"{path!r} holds a newline or NUL byte")
    if ".." in path.split("/"):
        raise UsageError(f"{path!r} holds '..': give the path without it")
