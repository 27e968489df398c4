"""The engine's side of update management (`UpdatesAdmin`): assessments and
deployments as jobs, their results, and the deployments kept for schedules.

An assessment is one job (runbook `(updates assess)`) whose host runs are engine steps
(`console.jobs.host_run.Work.step`): `console.updates.assess` in one round trip, the
result kept in the `UpdateStore`, a summary line in the job's output.

A deployment run is one job (runbook `(updates deploy)`, parameter `deployment`);
on each host, in order: the pre-runbook (a failure skips the host, or with
`stop_on_pre_failure` every host that has not started), a fresh assessment, the
selected packages installed within the window (`console.updates.deploy`), the reboot
its setting calls for (`console.updates.reboot`: the host must come back), the
post-runbook (after the reboot), and a new assessment without refreshing, so the
summary is current when the run ends. The window starts when the job is created; a
package starts only with `PACKAGE_MARGIN_S` left and a reboot with `REBOOT_MARGIN_S`.
Each host's result is appended to the run's record as it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from console.engine.client import ScheduleAdmin
from console.engine.job_building import UPDATES_ASSESS_RUNBOOK, UPDATES_DEPLOY_RUNBOOK
from console.errors import HostError, UsageError
from console.inventory.model import Host, Inventory
from console.jobs.host_run import Work, execute
from console.jobs.model import Job, Trigger, default_starter, new_job_id
from console.jobs.time_limit import TimeLimit
from console.schedules.building import ScheduleOptions, build_schedule
from console.schedules.model import Schedule
from console.schedules.views import ScheduleView
from console.store import Store
from console.transports.base import ExitStatus, StreamName, Transport
from console.updates.assess import assess
from console.updates.codec import deployment_from_dict, deployment_to_dict
from console.updates.deploy import install_updates
from console.updates.model import (
    REBOOT_MARGIN_S,
    Assessment,
    Classification,
    Deployment,
    HostDeployment,
    PackageResult,
    PackageStatus,
    RebootSetting,
)
from console.updates.reboot import reboot_and_wait, reboot_command_for, reboot_fits
from console.updates.store import UpdateStore

Submit = Callable[[Job, Work], Awaitable[None]]
RunbookWork = Callable[[str, Mapping[str, str]], Work]
OnLine = Callable[[StreamName, bytes], None]

REBOOT_TIMEOUT_S = 600.0


class UpdatesService:
    """`console.engine.client.UpdatesAdmin` of the engine that owns the data directory."""

    def __init__(
        self,
        data_dir: Path,
        store: Store,
        inventory: Callable[[], Inventory],
        submit: Submit,
        runbook_work: RunbookWork,
        schedules: Callable[[], ScheduleAdmin],
    ) -> None:
        self._data_dir = data_dir
        self._schedules = schedules
        self._deployments = store.table("update-deployments")
        self._inventory = inventory
        self._submit = submit
        self._runbook_work = runbook_work
        self._store: UpdateStore | None = None
        self._stopped: set[str] = set()  # runs a failed pre-runbook stopped

    @property
    def store(self) -> UpdateStore:
        if self._store is None:
            self._store = UpdateStore(self._data_dir)
        return self._store

    def _hosts(self, pattern: str) -> list[Host]:
        inventory = self._inventory()
        hosts = inventory.select(pattern)
        if not hosts:
            raise UsageError(f"the pattern {pattern!r} matches no host in {inventory.path}")
        return hosts

    # -- assessment -----------------------------------------------------------------

    def host_names(self) -> list[str]:
        return list(self._inventory().hosts)

    async def assess(
        self,
        pattern: str = "all",
        refresh: bool = True,
        trigger: Trigger = Trigger.CLI,
        only: list[str] | None = None,
    ) -> Job:
        """Assess the hosts of `pattern` (those of them in `only`, when given)."""
        hosts = self._hosts(pattern)
        if only is not None:
            wanted = set(only)
            hosts = [h for h in hosts if h.name in wanted]
        ref = "updates" if trigger is Trigger.SCHEDULE else None
        job = _job(UPDATES_ASSESS_RUNBOOK, pattern, hosts, {"refresh": refresh}, trigger, ref)
        await self._submit(job, self._assess_work(refresh))
        return job

    def _assess_work(self, refresh: bool) -> Work:
        async def step(
            transport: Transport,
            host: Host,
            seconds: float | None,
            on_line: OnLine,
            _env: Mapping[str, str],
        ) -> ExitStatus:
            found = await self._assess(transport, host, refresh)
            on_line("stdout", _assessment_line(found).encode())
            return ExitStatus(1 if found.error else 0)

        async def host_failed(host: Host, error: HostError) -> None:
            failed = Assessment(host.name, time.time(), error=f"{error.kind}: {error.detail}")
            await asyncio.to_thread(self.store.record, failed)

        return Work(step=step, needs_workdir=False, host_failed=host_failed)

    async def _assess(self, transport: Transport, host: Host, refresh: bool) -> Assessment:
        found = await assess(transport, host.name, refresh=refresh)
        await asyncio.to_thread(self.store.record, found)
        return found

    async def assessments(self, pattern: str = "all") -> list[Assessment]:
        """The latest assessment of each host of `pattern` (a host never assessed has
        `assessed` 0 and says so in `error`)."""
        latest = self.store.all_latest()
        return [
            latest.get(h.name) or Assessment(h.name, 0.0, error="not assessed yet")
            for h in self._hosts(pattern)
        ]

    # -- deployments ----------------------------------------------------------------

    async def deploy(self, deployment: Deployment, trigger: Trigger = Trigger.CLI) -> Job:
        """Start a run of `deployment` now."""
        self.check(deployment)
        hosts = self._hosts(deployment.pattern)
        ref = deployment.name if trigger is Trigger.SCHEDULE else None
        job = _job(
            UPDATES_DEPLOY_RUNBOOK,
            deployment.pattern,
            hosts,
            {"deployment": deployment_to_dict(deployment)},
            trigger,
            ref,
        )
        await self._submit(job, self._deploy_work(deployment, job))
        return job

    def check(self, deployment: Deployment) -> None:
        """What can be known before a run: the pre and post runbooks exist and take no
        required parameter, the pattern selects hosts."""
        for runbook in (deployment.pre, deployment.post):
            if runbook is not None:
                self._runbook_work(runbook, {})
        self._hosts(deployment.pattern)

    def work_for(self, job: Job) -> Work:
        """The work of a stored assess/deploy job (queued when an engine stopped)."""
        if job.runbook == UPDATES_ASSESS_RUNBOOK:
            return self._assess_work(bool(job.parameters.get("refresh", True)))
        return self._deploy_work(deployment_from_dict(dict(job.parameters["deployment"])), job)

    def _deploy_work(self, deployment: Deployment, job: Job) -> Work:
        window_end = job.created + deployment.window_s

        async def step(
            transport: Transport,
            host: Host,
            seconds: float | None,
            on_line: OnLine,
            env: Mapping[str, str],
        ) -> ExitStatus:
            context = {**env, **run_context(deployment, job), "OPS_HOST": host.name}
            result = await self._deploy_host(
                deployment, job.id, window_end, transport, host, on_line, context
            )
            await asyncio.to_thread(self.store.add_result, job.id, result)
            for line in host_result_lines(result):
                on_line("stdout", line.encode())
            return ExitStatus(0 if result.status == "Succeeded" else 1)

        async def host_failed(host: Host, error: HostError) -> None:
            failed = HostDeployment(host.name, "Failed", error=f"{error.kind}: {error.detail}")
            await asyncio.to_thread(self.store.add_result, job.id, failed)

        return Work(step=step, needs_workdir=False, host_failed=host_failed)

    async def _deploy_host(
        self,
        deployment: Deployment,
        job_id: str,
        window_end: float,
        transport: Transport,
        host: Host,
        on_line: OnLine,
        context: Mapping[str, str],
    ) -> HostDeployment:
        stopped = HostDeployment(host.name, "Skipped", error="a pre-runbook failed on another host")
        if job_id in self._stopped:
            return stopped
        if deployment.pre is not None:
            pre_context = {**context, "OPS_DEPLOYMENT_PHASE": "pre"}
            status = await self._run_runbook(deployment.pre, transport, host, on_line, pre_context)
            if not status.ok:
                if deployment.stop_on_pre_failure:
                    self._stopped.add(job_id)
                return HostDeployment(
                    host.name,
                    "Skipped",
                    error=f"pre-runbook {deployment.pre} failed ({_ended(status)})",
                )
            if job_id in self._stopped:  # another host's pre failed while this one ran
                return stopped
        packages: tuple[PackageResult, ...] = ()
        reboot_required = False
        if deployment.reboot is not RebootSetting.REBOOT_ONLY:
            assessment = await self._assess(transport, host, refresh=True)
            if assessment.error:
                return HostDeployment(host.name, "Failed", error=f"assessment: {assessment.error}")
            outcome = await install_updates(
                transport, host.name, assessment.updates, deployment.selection, window_end
            )
            packages, reboot_required = outcome.results, outcome.reboot_required
        rebooted, note, error = await self._maybe_reboot(
            deployment.reboot, reboot_required, window_end, transport, host
        )
        if deployment.post is not None and not error:
            post_context = {**context, "OPS_DEPLOYMENT_PHASE": "post"}
            status = await self._run_runbook(
                deployment.post, transport, host, on_line, post_context
            )
            if not status.ok:
                error = f"post-runbook {deployment.post} failed ({_ended(status)})"
        if not error:
            await self._assess(transport, host, refresh=False)  # the summary, current
        attempted = [p for p in packages if p.status is not PackageStatus.NOT_SELECTED]
        ok = not error and all(p.status is PackageStatus.SUCCEEDED for p in attempted)
        return HostDeployment(
            host.name, "Succeeded" if ok else "Failed", tuple(packages), rebooted, note, error
        )

    async def _maybe_reboot(
        self,
        setting: RebootSetting,
        required: bool,
        window_end: float,
        transport: Transport,
        host: Host,
    ) -> tuple[bool, str, str]:
        """(rebooted, note, error) as the setting says."""
        wanted = setting in (RebootSetting.ALWAYS, RebootSetting.REBOOT_ONLY) or (
            setting is RebootSetting.IF_REQUIRED and required
        )
        if not wanted:
            return False, "not required" if not required else "required, not allowed (Never)", ""
        if not reboot_fits(window_end):
            minutes = REBOOT_MARGIN_S // 60
            return False, f"not started: less than {minutes} minutes of the window left", ""
        try:
            note = await reboot_and_wait(
                transport, host.name, reboot_command_for(host), REBOOT_TIMEOUT_S
            )
        except HostError as exc:  # it may be down for good: the post-runbook cannot run
            return False, f"{exc.kind}: {exc.detail}", f"reboot: {exc.detail}"
        return True, note, ""

    async def _run_runbook(
        self,
        runbook: str,
        transport: Transport,
        host: Host,
        on_line: OnLine,
        context: Mapping[str, str],
    ) -> ExitStatus:
        work = self._runbook_work(runbook, {})
        return await execute(transport, host, work, TimeLimit(None), on_line, context)

    # -- deployments kept for schedules ---------------------------------------------

    async def save_deployment(self, deployment: Deployment) -> Deployment:
        self.check(deployment)
        self._deployments.upsert(deployment.name, deployment_to_dict(deployment))
        return deployment

    async def schedule_deployment(
        self,
        deployment: Deployment,
        at: str | None = None,
        cron: str | None = None,
        tz: str | None = None,
    ) -> ScheduleView:
        """Keep `deployment` and a schedule of its name that runs it once `at` a time or
        on `cron` (wall clock of `tz`, default UTC). Both or neither are kept: a
        schedule that cannot be made leaves no deployment behind."""
        schedule = deployment_schedule(deployment, at, cron, tz)
        if self._deployments.get(deployment.name) is not None:
            raise UsageError(
                f"a deployment named {deployment.name!r} is already scheduled; delete it "
                f"first (updates deployments delete {deployment.name})"
            )
        await self.save_deployment(deployment)
        try:
            return await self._schedules().create(schedule)
        except Exception:
            self._deployments.delete(deployment.name)
            raise

    async def deployments(self) -> list[Deployment]:
        return [deployment_from_dict(d) for d in self._deployments.all().values()]

    def deployment(self, name: str) -> Deployment:
        found = self._deployments.get(name)
        if found is None:
            known = ", ".join(self._deployments.all()) or "none"
            raise UsageError(f"no deployment {name!r} (deployments: {known})")
        return deployment_from_dict(found)

    async def delete_deployment(self, name: str) -> Deployment:
        deployment = self.deployment(name)
        self._deployments.delete(name)
        return deployment

    # -- runs -----------------------------------------------------------------------

    async def results(self, job_id: str) -> list[HostDeployment]:
        """The host results of deployment run `job_id` so far."""
        return self.store.results(job_id)


def run_context(deployment: Deployment, job: Job) -> dict[str, str]:
    """What a pre or post runbook is told of its run (Azure's
    SoftwareUpdateConfigurationRunContext): the deployment, the run's job id and its
    hosts; `OPS_HOST` and `OPS_DEPLOYMENT_PHASE` (pre|post) are added per call."""
    return {
        "OPS_DEPLOYMENT": deployment.name,
        "OPS_JOB_ID": job.id,
        "OPS_DEPLOYMENT_HOSTS": ",".join(job.hosts),
    }


def deployment_schedule(
    deployment: Deployment, at: str | None, cron: str | None, tz: str | None
) -> Schedule:
    """The schedule (named like the deployment) that starts its runs: the
    `(updates deploy)` runbook on the deployment's hosts with `deployment=NAME`.
    Mistakes name the CLI's options (`--at`, `--cron`, `--tz`)."""
    options = ScheduleOptions(
        once=at,
        cron=cron,
        tz=tz,
        parameters={"deployment": deployment.name},
        description=f"update deployment {deployment.name}",
    )
    if not (at or cron):
        raise UsageError("--at / --cron: give the time of a run or a cron expression")
    try:
        return build_schedule(deployment.name, UPDATES_DEPLOY_RUNBOOK, deployment.pattern, options)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--once", "--at")) from None


def _job(
    runbook: str,
    pattern: str,
    hosts: list[Host],
    parameters: dict,
    trigger: Trigger,
    ref: str | None = None,
) -> Job:
    return Job(
        id=new_job_id(),
        runbook=runbook,
        pattern=pattern,
        hosts=[h.name for h in hosts],
        parameters=parameters,
        runbook_hash="",
        trigger=trigger,
        trigger_ref=ref,
        started_by=default_starter(trigger, ref),
    )


def _ended(status: ExitStatus) -> str:
    return f"signal {status.signal}" if status.signal else f"exit status {status.code}"


def _assessment_line(found: Assessment) -> str:
    if found.error:
        return f"assessment failed: {found.error}"
    counts = ", ".join(
        f"{found.count(c)} {c.lower()}" for c in (Classification.CRITICAL, Classification.SECURITY)
    )
    reboot = "; reboot pending" if found.reboot_pending else ""
    return f"{len(found.updates)} updates pending ({counts}) via {found.manager}{reboot}"


def host_result_lines(result: HostDeployment) -> list[str]:
    """What a deployment job's output says of one host."""
    head = f"deployment {result.status}"
    if result.error:
        head += f": {result.error}"
    lines = [head]
    for package in result.packages:
        if package.status is PackageStatus.NOT_SELECTED:
            continue
        lines.append(
            f"  {package.status:<9} {package.name} {package.from_version or '(new)'} -> "
            f"{package.to_version}" + (f": {package.message}" if package.message else "")
        )
    not_selected = sum(p.status is PackageStatus.NOT_SELECTED for p in result.packages)
    if not_selected:
        lines.append(f"  {not_selected} pending update(s) not selected")
    lines.append(f"  reboot: {'rebooted, ' if result.rebooted else ''}{result.reboot_note or '-'}")
    return lines
