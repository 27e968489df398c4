"""`RemoteState`: the `StateAdmin` of an engine in another process, over its control
socket (`POST /admin/state/{operation}`, see `console.engine.admin_calls`)."""

from __future__ import annotations

from typing import Any

from console.engine.remote_changes import Call
from console.jobs.model import Job
from console.state.codec import info_from_dict, node_state_from_dict, report_from_dict
from console.state.model import ConfigurationInfo, NodeState, Report


class RemoteState:
    """`console.engine.client.StateAdmin` of the attached engine."""

    def __init__(self, call: Call) -> None:
        self._call = call

    async def _admin(self, operation: str, **arguments: object) -> Any:
        return await self._call("POST", f"/admin/state/{operation}", arguments)

    async def configurations(self) -> list[ConfigurationInfo]:
        return [info_from_dict(i) for i in await self._admin("configurations")]

    async def check(
        self, configuration: str | None = None, pattern: str | None = None
    ) -> list[Job]:
        found = await self._admin("check", configuration=configuration, pattern=pattern)
        return [Job.from_dict(j) for j in found]

    async def apply(self, configuration: str, pattern: str | None = None) -> Job:
        return Job.from_dict(
            await self._admin("apply", configuration=configuration, pattern=pattern)
        )

    async def status(self) -> list[NodeState]:
        return [node_state_from_dict(s) for s in await self._admin("status")]

    async def report(self, host: str, configuration: str) -> Report | None:
        found = await self._admin("report", host=host, configuration=configuration)
        return None if found is None else report_from_dict(found)

    async def reports(self, host: str) -> list[Report]:
        return [report_from_dict(r) for r in await self._admin("reports", host=host)]
