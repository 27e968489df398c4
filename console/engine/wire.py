"""JSON forms of the client-facing types, shared by the control API and its client.

Kept in one place so the socket protocol and the CLI's `--json` output cannot drift.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from console.assets.model import AssetKind, AssetView
from console.engine.client import HostProbe, ParameterInfo, RunbookInfo
from console.inventory.model import Host
from console.jobs.events import EngineEvent
from console.jobs.model import HostRun, Job, StreamRecord
from console.runbooks.plugin_api import Runbook


def host_to_dict(host: Host) -> dict[str, Any]:
    """The shape of `inventory list --json`."""
    return {
        "name": host.name,
        "address": host.address,
        "port": host.port,
        "user": host.user,
        "connection": host.connection,
        "groups": list(host.groups),
        "vars": dict(host.vars),
    }


def runbook_to_dict(info: RunbookInfo) -> dict[str, Any]:
    return asdict(info)


def runbook_from_dict(data: dict[str, Any]) -> RunbookInfo:
    params = tuple(
        ParameterInfo(**{**p, "choices": tuple(p.get("choices") or ())})
        for p in data.get("parameters", ())
    )
    return RunbookInfo(**{**data, "parameters": params})


def probe_to_dict(probe: HostProbe) -> dict[str, Any]:
    return asdict(probe)


def probe_from_dict(data: dict[str, Any]) -> HostProbe:
    return HostProbe(**data)


def record_from_dict(data: dict[str, Any]) -> StreamRecord:
    return StreamRecord(data["time"], data["host"], data["stream"], data["text"])


def event_to_dict(event: EngineEvent, seq: int) -> dict[str, Any]:
    """One line of `GET /events`. `seq` counts the events offered to this subscriber
    (1, 2, ...), so a client sees from a jump that it lost some (see `missed`)."""
    return {
        "seq": seq,
        "job_id": event.job_id,
        "job": event.job.to_dict() if event.job else None,
        "run": event.run.to_dict() if event.run else None,
        "records": [r.to_dict() for r in event.records],
    }


def event_from_dict(data: dict[str, Any]) -> EngineEvent:
    return EngineEvent(
        job_id=data["job_id"],
        job=Job.from_dict(data["job"]) if data.get("job") else None,
        run=HostRun.from_dict(data["run"]) if data.get("run") else None,
        records=[record_from_dict(r) for r in data.get("records", ())],
    )


def runbook_info(book: Runbook) -> RunbookInfo:
    meta = book.metadata
    return RunbookInfo(
        name=book.name,
        language=book.language,
        path=str(book.path),
        description=meta.description,
        target=meta.target,
        timeout=meta.timeout,
        parameters=tuple(
            ParameterInfo(
                name=p.name,
                type=p.type,
                required=p.required,
                default=p.default,
                choices=tuple(p.choices or ()),
                description=p.description,
            )
            for p in meta.parameters.values()
        ),
    )


def asset_to_dict(view: AssetView) -> dict[str, Any]:
    """The shape of `assets list/show --json` and of the control API's answers: an
    AssetView holds no secret value, so neither does this."""
    data = asdict(view)
    return {
        **data,
        "kind": view.kind.value,
        "secret_fields": list(view.secret_fields),
        "used_by": list(view.used_by),
    }


def asset_from_dict(data: dict[str, Any]) -> AssetView:
    return AssetView(
        **{
            **data,
            "kind": AssetKind(data["kind"]),
            "secret_fields": tuple(data.get("secret_fields", ())),
            "used_by": tuple(data.get("used_by", ())),
        }
    )
