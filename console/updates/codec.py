"""The JSON shapes of assessments, deployments and their results: one module, so the
store, the CLI's `--json`, the control API and the console read the same shapes.

`updates list --json` rows are `host, name, installed, available, classification,
source`; `updates summary --json` rows `host, critical, security, other, total,
reboot_pending, assessed, error`; a run's host results `host, status, rebooted,
packages[{name, from, to, classification, status}]` (the issue's keys).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from console.updates.model import (
    Assessment,
    Classification,
    Deployment,
    HostDeployment,
    PackageResult,
    PackageStatus,
    PendingUpdate,
    RebootSetting,
    Selection,
)


def update_to_dict(update: PendingUpdate) -> dict[str, Any]:
    return {**asdict(update), "classification": str(update.classification)}


def update_from_dict(raw: dict[str, Any]) -> PendingUpdate:
    return PendingUpdate(**{**raw, "classification": Classification(raw["classification"])})


def assessment_to_dict(assessment: Assessment) -> dict[str, Any]:
    return {
        "host": assessment.host,
        "assessed": assessment.assessed,
        "manager": assessment.manager,
        "updates": [update_to_dict(u) for u in assessment.updates],
        "reboot_pending": assessment.reboot_pending,
        "reboot_packages": list(assessment.reboot_packages),
        "error": assessment.error,
    }


def assessment_from_dict(raw: dict[str, Any]) -> Assessment:
    return Assessment(
        host=raw["host"],
        assessed=float(raw["assessed"]),
        manager=raw["manager"],
        updates=tuple(update_from_dict(u) for u in raw["updates"]),
        reboot_pending=bool(raw["reboot_pending"]),
        reboot_packages=tuple(raw["reboot_packages"]),
        error=raw["error"],
    )


def summary_row(assessment: Assessment) -> dict[str, Any]:
    """One row of `updates summary --json` (Critical and Security apart; the rest Other)."""
    critical = assessment.count(Classification.CRITICAL)
    security = assessment.count(Classification.SECURITY)
    return {
        "host": assessment.host,
        "critical": critical,
        "security": security,
        "other": len(assessment.updates) - critical - security,
        "total": len(assessment.updates),
        "reboot_pending": assessment.reboot_pending,
        "assessed": assessment.assessed,
        "error": assessment.error,
    }


def list_row(host: str, update: PendingUpdate) -> dict[str, Any]:
    """One row of `updates list --json`."""
    return {
        "host": host,
        "name": update.name,
        "installed": update.installed,
        "available": update.available,
        "classification": str(update.classification),
        "source": update.source,
    }


def deployment_to_dict(deployment: Deployment) -> dict[str, Any]:
    return {
        "name": deployment.name,
        "pattern": deployment.pattern,
        "classifications": [str(c) for c in deployment.selection.classifications],
        "include": list(deployment.selection.include),
        "exclude": list(deployment.selection.exclude),
        "window_s": deployment.window_s,
        "reboot": str(deployment.reboot),
        "pre": deployment.pre,
        "post": deployment.post,
        "stop_on_pre_failure": deployment.stop_on_pre_failure,
    }


def deployment_from_dict(raw: dict[str, Any]) -> Deployment:
    return Deployment(
        name=raw["name"],
        pattern=raw["pattern"],
        selection=Selection(
            tuple(Classification(c) for c in raw["classifications"]),
            tuple(raw["include"]),
            tuple(raw["exclude"]),
        ),
        window_s=float(raw["window_s"]),
        reboot=RebootSetting(raw["reboot"]),
        pre=raw.get("pre"),
        post=raw.get("post"),
        stop_on_pre_failure=bool(raw.get("stop_on_pre_failure", False)),
    )


def package_to_dict(result: PackageResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "from": result.from_version,
        "to": result.to_version,
        "classification": str(result.classification),
        "status": str(result.status),
        "message": result.message,
    }


def package_from_dict(raw: dict[str, Any]) -> PackageResult:
    return PackageResult(
        name=raw["name"],
        from_version=raw["from"],
        to_version=raw["to"],
        classification=Classification(raw["classification"]),
        status=PackageStatus(raw["status"]),
        message=raw.get("message", ""),
    )


def host_result_to_dict(result: HostDeployment) -> dict[str, Any]:
    return {
        "host": result.host,
        "status": result.status,
        "rebooted": result.rebooted,
        "reboot_note": result.reboot_note,
        "error": result.error,
        "packages": [package_to_dict(p) for p in result.packages],
    }


def host_result_from_dict(raw: dict[str, Any]) -> HostDeployment:
    return HostDeployment(
        host=raw["host"],
        status=raw["status"],
        packages=tuple(package_from_dict(p) for p in raw["packages"]),
        rebooted=bool(raw["rebooted"]),
        reboot_note=raw.get("reboot_note", ""),
        error=raw.get("error", ""),
    )
