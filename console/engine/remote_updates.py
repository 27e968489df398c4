"""`RemoteUpdates`: the `UpdatesAdmin` of an engine in another process, over its
control socket (`POST /admin/updates/{operation}`, see `console.engine.admin_calls`)."""

from __future__ import annotations

from typing import Any

from console.engine.remote_changes import Call
from console.jobs.model import Job
from console.schedules.views import ScheduleView
from console.updates.codec import (
    assessment_from_dict,
    deployment_from_dict,
    deployment_to_dict,
    host_result_from_dict,
)
from console.updates.model import Assessment, Deployment, HostDeployment


class RemoteUpdates:
    """`console.engine.client.UpdatesAdmin` of the attached engine."""

    def __init__(self, call: Call) -> None:
        self._call = call

    async def _admin(self, operation: str, **arguments: object) -> Any:
        return await self._call("POST", f"/admin/updates/{operation}", arguments)

    async def assess(self, pattern: str = "all", refresh: bool = True) -> Job:
        return Job.from_dict(await self._admin("assess", pattern=pattern, refresh=refresh))

    async def assessments(self, pattern: str = "all") -> list[Assessment]:
        return [assessment_from_dict(a) for a in await self._admin("assessments", pattern=pattern)]

    async def deploy(self, deployment: Deployment) -> Job:
        return Job.from_dict(await self._admin("deploy", deployment=deployment_to_dict(deployment)))

    async def save_deployment(self, deployment: Deployment) -> Deployment:
        saved = await self._admin("save_deployment", deployment=deployment_to_dict(deployment))
        return deployment_from_dict(saved)

    async def schedule_deployment(
        self,
        deployment: Deployment,
        at: str | None = None,
        cron: str | None = None,
        tz: str | None = None,
    ) -> ScheduleView:
        sent = deployment_to_dict(deployment)
        view: ScheduleView = await self._admin(
            "schedule_deployment", deployment=sent, at=at, cron=cron, tz=tz
        )
        return view

    async def deployments(self) -> list[Deployment]:
        return [deployment_from_dict(d) for d in await self._admin("deployments")]

    async def delete_deployment(self, name: str) -> Deployment:
        return deployment_from_dict(await self._admin("delete_deployment", name=name))

    async def results(self, job_id: str) -> list[HostDeployment]:
        return [host_result_from_dict(r) for r in await self._admin("results", job_id=job_id)]
