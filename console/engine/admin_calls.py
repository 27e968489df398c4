"""The control API's admin operations (`POST /admin/{service}/{operation}`): the
schedule, webhook and asset admins of `console.engine.client`, by name, each with the
JSON keys it takes (`console.engine.remote` sends them).

A request with a key missing, or one the operation does not know, is the client's
mistake: it is a UsageError (400) naming the key, raised before anything runs, not a
KeyError or TypeError from inside the call (a 500 that says nothing useful).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from console.changes.codec import change_to_dict
from console.engine.changes_wire import (
    alert_to_dict,
    collection_to_dict,
    packages_to_dicts,
    services_to_dicts,
    tracked_to_dict,
)
from console.engine.client import EngineClient
from console.engine.wire import asset_to_dict
from console.errors import UsageError
from console.schedules.model import Schedule

Run = Callable[[Mapping[str, Any]], Awaitable[object]]


@dataclass(frozen=True)
class AdminOperation:
    """One operation: what it runs with the checked arguments, and the keys it takes."""

    run: Run
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    async def __call__(self, where: str, arguments: object) -> object:
        return await self.run(self.checked(where, arguments))

    def checked(self, where: str, arguments: object) -> Mapping[str, Any]:
        """`arguments` when they are a JSON object with every required key and no other
        than the optional ones; else UsageError naming the keys at fault."""
        takes = ", ".join(self.required + self.optional) or "no arguments"
        if not isinstance(arguments, Mapping):
            raise UsageError(f"{where}: the body must be a JSON object (it takes: {takes})")
        missing = [key for key in self.required if key not in arguments]
        unknown = sorted(set(arguments) - {*self.required, *self.optional})
        problems = [
            f"{what} {', '.join(repr(key) for key in keys)}"
            for what, keys in (("missing", missing), ("unexpected", unknown))
            if keys
        ]
        if problems:
            raise UsageError(f"{where}: {'; '.join(problems)} (it takes: {takes})")
        return arguments


def admin_operations(engine: EngineClient, service: str) -> Mapping[str, AdminOperation]:
    """The operations of `service` (`schedules`, `webhooks`, `assets`, `changes`); {}
    for another."""
    if service == "schedules":
        return _schedule_operations(engine)
    if service == "webhooks":
        return _webhook_operations(engine)
    if service == "assets":
        return _asset_operations(engine)
    if service == "changes":
        return _changes_operations(engine)
    if service == "state":
        return _state_operations(engine)
    if service == "updates":
        return _updates_operations(engine)
    return {}


def _schedule_operations(engine: EngineClient) -> dict[str, AdminOperation]:
    book = engine.schedules
    return {
        "create": AdminOperation(lambda a: book.create(_schedule(a["schedule"])), ("schedule",)),
        "entries": AdminOperation(lambda a: book.entries()),
        "show": AdminOperation(
            lambda a: book.show(a["name"], int(a.get("decisions", 20))), ("name",), ("decisions",)
        ),
        "set_enabled": AdminOperation(
            lambda a: book.set_enabled(a["name"], bool(a["enabled"])), ("name", "enabled")
        ),
        "delete": AdminOperation(lambda a: book.delete(a["name"]), ("name",)),
        "next": AdminOperation(
            lambda a: book.next(a["name"], int(a.get("count", 5))), ("name",), ("count",)
        ),
    }


def _webhook_operations(engine: EngineClient) -> dict[str, AdminOperation]:
    hooks = engine.webhooks
    create_options = ("parameters", "expires", "signed", "allow_from", "rate_limit")
    return {
        "create": AdminOperation(
            lambda a: hooks.create(
                a["name"],
                a["runbook"],
                a["pattern"],
                dict(a.get("parameters") or {}),
                expires=a.get("expires"),
                signed=bool(a.get("signed", False)),
                allow_from=a.get("allow_from"),
                rate_limit=a.get("rate_limit"),
            ),
            ("name", "runbook", "pattern"),
            create_options,
        ),
        "entries": AdminOperation(lambda a: hooks.entries()),
        "set_enabled": AdminOperation(
            lambda a: hooks.set_enabled(a["name"], bool(a["enabled"])), ("name", "enabled")
        ),
        "rotate_secret": AdminOperation(
            lambda a: hooks.rotate_secret(a["name"], a.get("grace_hours")),
            ("name",),
            ("grace_hours",),
        ),
        "delete": AdminOperation(lambda a: hooks.delete(a["name"]), ("name",)),
    }


def _asset_operations(engine: EngineClient) -> dict[str, AdminOperation]:
    """`AssetAdmin`: secrets come in (the socket is the engine user's own), only
    AssetViews go out."""
    vault = engine.assets

    async def entries(_: Mapping[str, Any]) -> object:
        return [asset_to_dict(v) for v in await vault.entries()]

    return {
        "set_credential": _keywords(vault.set_credential, asset_to_dict),
        "set_variable": _keywords(vault.set_variable, asset_to_dict),
        "set_connection": _keywords(vault.set_connection, asset_to_dict),
        "set_certificate": _keywords(vault.set_certificate, asset_to_dict),
        "show": _keywords(vault.show, asset_to_dict),
        "delete": _keywords(vault.delete, asset_to_dict),
        "entries": AdminOperation(entries),
        "rotate_key": _keywords(vault.rotate_key, lambda count: count),
    }


def _changes_operations(engine: EngineClient) -> dict[str, AdminOperation]:
    """`ChangesAdmin`: collection, the latest snapshots, the change log, tracking."""
    data = engine.changes
    return {
        "collect": _keywords(data.collect, lambda found: [collection_to_dict(r) for r in found]),
        "facts": _keywords(data.facts, lambda facts: facts),
        "software": _keywords(data.software, packages_to_dicts),
        "services": _keywords(data.services, services_to_dicts),
        "changes": _keywords(data.changes, lambda found: [change_to_dict(c) for c in found]),
        "change": _keywords(data.change, change_to_dict),
        "add_file": _keywords(data.add_file, tracked_to_dict),
        "remove_file": _keywords(data.remove_file, tracked_to_dict),
        "files": _keywords(data.files, lambda found: [tracked_to_dict(t) for t in found]),
        "interval": _keywords(data.interval, lambda seconds: seconds),
        "set_interval": _keywords(data.set_interval, lambda seconds: seconds),
        "add_alert": _keywords(data.add_alert, alert_to_dict),
        "remove_alert": _keywords(data.remove_alert, alert_to_dict),
        "alerts": _keywords(data.alerts, lambda found: [alert_to_dict(a) for a in found]),
    }


def _state_operations(engine: EngineClient) -> dict[str, AdminOperation]:
    """`StateAdmin`: configurations, check and apply jobs, statuses and reports."""
    from console.state.codec import info_to_dict, node_state_to_dict, report_to_dict

    state = engine.state
    return {
        "configurations": _keywords(
            state.configurations, lambda found: [info_to_dict(i) for i in found]
        ),
        "check": _keywords(state.check, lambda jobs: [job.to_dict() for job in jobs]),
        "apply": _keywords(state.apply, lambda job: job.to_dict()),
        "status": _keywords(state.status, lambda rows: [node_state_to_dict(r) for r in rows]),
        "report": _keywords(state.report, lambda r: None if r is None else report_to_dict(r)),
        "reports": _keywords(state.reports, lambda found: [report_to_dict(r) for r in found]),
    }


def _updates_operations(engine: EngineClient) -> dict[str, AdminOperation]:
    """`UpdatesAdmin`: assessments, deployments and their results."""
    from console.updates.codec import (
        assessment_to_dict,
        deployment_from_dict,
        deployment_to_dict,
        host_result_to_dict,
    )

    updates = engine.updates

    async def assess(arguments: Mapping[str, Any]) -> object:
        job = await updates.assess(
            str(arguments.get("pattern", "all")), bool(arguments.get("refresh", True))
        )
        return job.to_dict()

    async def deploy(arguments: Mapping[str, Any]) -> object:
        job = await updates.deploy(_deployment(arguments["deployment"], deployment_from_dict))
        return job.to_dict()

    async def save(arguments: Mapping[str, Any]) -> object:
        saved = await updates.save_deployment(
            _deployment(arguments["deployment"], deployment_from_dict)
        )
        return deployment_to_dict(saved)

    async def schedule(arguments: Mapping[str, Any]) -> object:
        when = {key: _optional_text(arguments, key) for key in ("at", "cron", "tz")}
        deployment = _deployment(arguments["deployment"], deployment_from_dict)
        return await updates.schedule_deployment(deployment, **when)

    return {
        # Only what a client may choose (not the engine's own trigger and host list).
        "assess": AdminOperation(assess, (), ("pattern", "refresh")),
        "assessments": _keywords(
            updates.assessments, lambda found: [assessment_to_dict(a) for a in found]
        ),
        "deploy": AdminOperation(deploy, ("deployment",)),
        "save_deployment": AdminOperation(save, ("deployment",)),
        "schedule_deployment": AdminOperation(schedule, ("deployment",), ("at", "cron", "tz")),
        "deployments": _keywords(
            updates.deployments, lambda found: [deployment_to_dict(d) for d in found]
        ),
        "delete_deployment": _keywords(updates.delete_deployment, deployment_to_dict),
        "results": _keywords(
            updates.results, lambda found: [host_result_to_dict(r) for r in found]
        ),
    }


def _optional_text(arguments: Mapping[str, Any], key: str) -> str | None:
    """`arguments[key]` when given as a string; null or absent is None."""
    value = arguments.get(key)
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{key!r} must be a string")
    return value


def _deployment(data: object, decode: Callable[[dict[str, Any]], Any]) -> Any:
    """The deployment a client sent; a malformed one is the request's fault."""
    if not isinstance(data, dict):
        raise UsageError("'deployment' must be a JSON object")
    try:
        return decode(data)
    except KeyError as exc:
        raise UsageError(f"deployment: missing {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"deployment: {exc}") from None


def _keywords(
    method: Callable[..., Awaitable[Any]], answer: Callable[[Any], object]
) -> AdminOperation:
    """An operation that passes its arguments to `method` as keywords: it takes the keys
    `method`'s signature names, so the two cannot drift apart."""
    parameters = inspect.signature(method).parameters.values()
    required = tuple(p.name for p in parameters if p.default is p.empty)
    optional = tuple(p.name for p in parameters if p.default is not p.empty)

    async def run(arguments: Mapping[str, Any]) -> object:
        return answer(await method(**arguments))

    return AdminOperation(run, required, optional)


def _schedule(data: object) -> Schedule:
    """The schedule a client sent (as `Schedule.to_dict` writes it); a missing or
    malformed field is the request's fault."""
    if not isinstance(data, dict):
        raise UsageError("'schedule' must be a JSON object")
    try:
        return Schedule.from_dict(data)
    except KeyError as exc:
        raise UsageError(f"schedule: missing {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"schedule: {exc}") from None
