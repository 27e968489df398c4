"""Desired state: configurations, their resources, and what a check or apply found.

Azure State Configuration's vocabulary: a configuration (one YAML file in the
configurations folder, named by its stem) targets an inventory pattern in a mode, at a
frequency; a node's status is Compliant, NotCompliant, Failed, Pending or Unresponsive.
A resource is one thing a host should have (a file, a package...), named by its type
and identity (`file:/etc/motd`); `properties` holds the other keys of its YAML entry,
checked by `console.state.config` against `RESOURCE_KEYS`, so the check and apply
scripts (`console.state.checks`, `console.state.apply`) can read them without checking
again.

Plain data: the engine, the CLI, the control API and the console all pass these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

DEFAULT_FREQUENCY_S = 15 * 60


class Mode(StrEnum):
    APPLY_ONLY = "ApplyOnly"  # apply once, then only on request
    APPLY_AND_MONITOR = "ApplyAndMonitor"  # apply once, then check and report drift
    APPLY_AND_AUTOCORRECT = "ApplyAndAutoCorrect"  # check and correct at every run


class NodeStatus(StrEnum):
    COMPLIANT = "Compliant"
    NOT_COMPLIANT = "NotCompliant"
    FAILED = "Failed"  # the check or apply itself failed on the host
    PENDING = "Pending"  # assigned, never checked
    UNRESPONSIVE = "Unresponsive"  # the host could not be reached at the last run


class ResourceStatus(StrEnum):
    COMPLIANT = "compliant"  # as declared (apply: nothing to change)
    DRIFTED = "drifted"  # not as declared (a check found it; apply will change it)
    CHANGED = "changed"  # apply changed it, and it is now as declared
    FAILED = "failed"  # could not be checked or changed (message says why)
    SKIPPED = "skipped"  # apply: a resource it requires failed, so it was not touched
    UNKNOWN = "unknown"  # cannot be told (a `command` without `check`)


# The keys each resource type takes beside its type key (whose value is its identity)
# and `requires`, with the Python type of each value. `console.state.config` refuses
# any other key, a wrong type, and values outside the choices below.
RESOURCE_KEYS: Mapping[str, Mapping[str, type | tuple[type, ...]]] = {
    "file": {
        "content": str,
        "source": str,  # a file beside the configuration; read into `content`
        "mode": str,  # octal, e.g. "0644"
        "owner": str,
        "group": str,
        "state": str,  # present | absent
    },
    "directory": {"mode": str, "owner": str, "group": str, "state": str},
    "package": {"state": str, "version": str},  # present | absent | latest; or a version
    "service": {"running": bool, "enabled": bool},
    "lineinfile": {"line": str, "match": str, "state": str},  # match: an ERE
    "user": {"state": str, "shell": str, "home": str, "groups": list},
    "group": {"state": str},
    "command": {"check": str},  # the type key's value is the command that applies
}
STATE_CHOICES: Mapping[str, tuple[str, ...]] = {
    "file": ("present", "absent"),
    "directory": ("present", "absent"),
    "package": ("present", "absent", "latest"),
    "lineinfile": ("present", "absent"),
    "user": ("present", "absent"),
    "group": ("present", "absent"),
}
RESOURCE_TYPES = tuple(RESOURCE_KEYS)


@dataclass(frozen=True)
class Resource:
    type: str  # one of RESOURCE_TYPES
    identity: str  # the type key's value: a path, package, service, user, command...
    properties: Mapping[str, Any] = field(default_factory=dict)  # `source` already read
    requires: tuple[str, ...] = ()  # ids of earlier resources of the configuration
    line: int = 0  # its line in the configuration file (1-based), for messages

    @property
    def id(self) -> str:
        return f"{self.type}:{self.identity}"


@dataclass(frozen=True)
class Configuration:
    name: str  # the file stem
    path: Path
    targets: str  # an inventory pattern
    mode: Mode = Mode.APPLY_AND_MONITOR
    frequency_s: float = DEFAULT_FREQUENCY_S
    description: str = ""
    resources: tuple[Resource, ...] = ()
    # sha256 of the file and every `source` it reads: a report made under another
    # digest was made under another configuration (an intentional change, not drift).
    digest: str = ""


@dataclass(frozen=True)
class ResourceResult:
    """One resource on one host: `expected` and `actual` are short, readable values
    (e.g. {"mode": "0644", "owner": "root"}), `diff` a unified diff for file content,
    mode and owner (empty when none), `message` what a person should know."""

    resource: str  # Resource.id
    type: str
    status: ResourceStatus
    expected: Any = None
    actual: Any = None
    diff: str = ""
    message: str = ""


@dataclass(frozen=True)
class Report:
    """One check or apply of one configuration on one host."""

    host: str
    configuration: str
    kind: str  # "check" | "apply"
    status: NodeStatus
    time: float
    resources: tuple[ResourceResult, ...] = ()
    job_id: str = ""
    digest: str = ""  # the Configuration.digest it ran under
    # apply: the changes were intentional (the configuration changed since this host's
    # last report) rather than corrective (drift repaired), as Puppet tells them apart.
    intentional: bool = False
    error: str = ""  # why the host is Failed or Unresponsive

    @property
    def drifted(self) -> int:
        return sum(r.status is ResourceStatus.DRIFTED for r in self.resources)


def node_status(results: tuple[ResourceResult, ...] | list[ResourceResult]) -> NodeStatus:
    """Failed when a resource failed, NotCompliant when one drifted, else Compliant
    (changed, skipped-without-failure and unknown resources do not make drift)."""
    statuses = {r.status for r in results}
    if ResourceStatus.FAILED in statuses:
        return NodeStatus.FAILED
    if ResourceStatus.DRIFTED in statuses:
        return NodeStatus.NOT_COMPLIANT
    return NodeStatus.COMPLIANT


@dataclass(frozen=True)
class NodeState:
    """A row of the Drift pane and of `state status`: a host under a configuration."""

    host: str
    configuration: str
    status: NodeStatus
    last_check: float | None = None  # None: Pending
    drifted: int = 0
    job_id: str = ""


@dataclass(frozen=True)
class ConfigurationInfo:
    """A configuration file as `state validate` and the console list it: its settings,
    or why it cannot be used (`problem`: the file, line and key to fix)."""

    name: str
    path: str
    targets: str = ""
    mode: str = ""
    frequency_s: float = DEFAULT_FREQUENCY_S
    description: str = ""
    resources: int = 0
    problem: str = ""
