"""The JSON shapes of reports, node states and configuration infos: one module, so the
store, the CLI's `--json`, the control API and the console read the same shapes.

`state check --json` prints reports in the issue's shape: `host, configuration, status,
resources[{resource, type, status, expected, actual, diff, message}]`, plus what a
report also records (kind, time, job_id, digest, intentional, error, drifted).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from console.state.model import (
    ConfigurationInfo,
    NodeState,
    NodeStatus,
    Report,
    ResourceResult,
    ResourceStatus,
)


def result_to_dict(result: ResourceResult) -> dict[str, Any]:
    return {**asdict(result), "status": str(result.status)}


def result_from_dict(raw: dict[str, Any]) -> ResourceResult:
    return ResourceResult(**{**raw, "status": ResourceStatus(raw["status"])})


def report_to_dict(report: Report) -> dict[str, Any]:
    return {
        "host": report.host,
        "configuration": report.configuration,
        "status": str(report.status),
        "kind": report.kind,
        "time": report.time,
        "drifted": report.drifted,
        "job_id": report.job_id,
        "digest": report.digest,
        "intentional": report.intentional,
        "error": report.error,
        "resources": [result_to_dict(r) for r in report.resources],
    }


def report_from_dict(raw: dict[str, Any]) -> Report:
    """A report from its JSON; KeyError/TypeError/ValueError when malformed."""
    return Report(
        host=raw["host"],
        configuration=raw["configuration"],
        kind=raw["kind"],
        status=NodeStatus(raw["status"]),
        time=float(raw["time"]),
        resources=tuple(result_from_dict(r) for r in raw["resources"]),
        job_id=raw.get("job_id", ""),
        digest=raw.get("digest", ""),
        intentional=bool(raw.get("intentional", False)),
        error=raw.get("error", ""),
    )


def node_state_to_dict(state: NodeState) -> dict[str, Any]:
    """The shape of `state status --json`."""
    return {**asdict(state), "status": str(state.status)}


def node_state_from_dict(raw: dict[str, Any]) -> NodeState:
    return NodeState(**{**raw, "status": NodeStatus(raw["status"])})


def info_to_dict(info: ConfigurationInfo) -> dict[str, Any]:
    """The shape of `state validate --json`."""
    return asdict(info)


def info_from_dict(raw: dict[str, Any]) -> ConfigurationInfo:
    return ConfigurationInfo(**raw)
