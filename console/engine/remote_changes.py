"""`RemoteChanges`: the `ChangesAdmin` of an engine in another process, over its
control socket (`POST /admin/changes/{operation}`, see `console.engine.admin_calls`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from console.changes.codec import change_from_dict
from console.changes.model import Change, Package, Service, TrackedPath
from console.changes.tracking import Alert
from console.engine.changes_wire import (
    alert_from_dict,
    collection_from_dict,
    packages_from_dicts,
    services_from_dicts,
    tracked_from_dict,
)
from console.engine.inventory_data import HostCollection

# `RemoteClient._call`: (method, path, JSON body) -> the decoded answer, or the typed error.
Call = Callable[[str, str, object], Awaitable[Any]]


class RemoteChanges:
    """`console.engine.client.ChangesAdmin` of the attached engine."""

    def __init__(self, call: Call) -> None:
        self._call = call

    async def _admin(self, operation: str, **arguments: object) -> Any:
        return await self._call("POST", f"/admin/changes/{operation}", arguments)

    async def collect(self, pattern: str = "all") -> list[HostCollection]:
        return [collection_from_dict(r) for r in await self._admin("collect", pattern=pattern)]

    async def facts(self, host: str) -> dict[str, Any]:
        facts: dict[str, Any] = await self._admin("facts", host=host)
        return facts

    async def software(self, host: str, text: str | None = None) -> list[Package]:
        return packages_from_dicts(await self._admin("software", host=host, text=text))

    async def services(self, host: str) -> list[Service]:
        return services_from_dicts(await self._admin("services", host=host))

    async def changes(
        self,
        host: str | None = None,
        type: str | None = None,
        since: float | None = None,
        text: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Change]:
        found = await self._admin(
            "changes",
            host=host,
            type=type,
            since=since,
            text=text,
            limit=limit,
            before_id=before_id,
        )
        return [change_from_dict(c) for c in found]

    async def change(self, change_id: str) -> Change:
        return change_from_dict(await self._admin("change", change_id=change_id))

    async def add_file(self, path: str, pattern: str = "all", content: bool = True) -> TrackedPath:
        added = await self._admin("add_file", path=path, pattern=pattern, content=content)
        return tracked_from_dict(added)

    async def remove_file(self, path: str) -> TrackedPath:
        return tracked_from_dict(await self._admin("remove_file", path=path))

    async def files(self) -> list[TrackedPath]:
        return [tracked_from_dict(t) for t in await self._admin("files")]

    async def interval(self) -> float | None:
        seconds: float | None = await self._admin("interval")
        return seconds

    async def set_interval(self, seconds: float | None) -> float | None:
        now: float | None = await self._admin("set_interval", seconds=seconds)
        return now

    async def add_alert(
        self,
        name: str,
        when: str,
        runbook: str,
        pattern: str | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> Alert:
        added = await self._admin(
            "add_alert",
            name=name,
            when=when,
            runbook=runbook,
            pattern=pattern,
            parameters=dict(parameters or {}),
        )
        return alert_from_dict(added)

    async def remove_alert(self, name: str) -> Alert:
        return alert_from_dict(await self._admin("remove_alert", name=name))

    async def alerts(self) -> list[Alert]:
        return [alert_from_dict(a) for a in await self._admin("alerts")]
