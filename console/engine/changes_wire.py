"""The JSON shapes of inventory data over the control API and in `--json` output:
apart from `console.engine.wire` so that a command that never reads inventory data
(`exec`, the engine's start) does not import the change-tracking modules."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from console.changes.codec import package_to_dict, service_to_dict
from console.changes.model import Package, Service, TrackedPath
from console.changes.tracking import Alert
from console.engine.inventory_data import HostCollection


def collection_to_dict(result: HostCollection) -> dict[str, Any]:
    """The shape of `inventory collect --json`: one object per host."""
    return {
        **asdict(result),
        "unmatched": list(result.unmatched),
        "alert_jobs": list(result.alert_jobs),
    }


def collection_from_dict(data: dict[str, Any]) -> HostCollection:
    return HostCollection(
        **{
            **data,
            "unmatched": tuple(data["unmatched"]),
            "alert_jobs": tuple(data["alert_jobs"]),
        }
    )


def tracked_to_dict(tracked: TrackedPath) -> dict[str, Any]:
    """The shape of `tracking list --json`."""
    return asdict(tracked)


def tracked_from_dict(data: dict[str, Any]) -> TrackedPath:
    return TrackedPath(**data)


def packages_to_dicts(packages: list[Package]) -> list[dict[str, Any]]:
    return [package_to_dict(p) for p in packages]


def packages_from_dicts(data: list[dict[str, Any]]) -> list[Package]:
    return [Package(**p) for p in data]


def services_to_dicts(services: list[Service]) -> list[dict[str, Any]]:
    return [service_to_dict(s) for s in services]


def services_from_dicts(data: list[dict[str, Any]]) -> list[Service]:
    return [Service(**s) for s in data]


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """The shape of `tracking alerts --json`."""
    return {**asdict(alert), "parameters": dict(alert.parameters)}


def alert_from_dict(data: dict[str, Any]) -> Alert:
    return Alert(**data)
