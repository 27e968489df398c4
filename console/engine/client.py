"""The one interface the console UI and the CLI use to talk to an engine.

It is the same whether the engine runs in-process (the TUI started it) or in another
process (`opsconsole serve`, reached over the control socket). The UI holds no business
logic: everything it shows or does goes through these calls.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.runbooks.parameters import value_text

if TYPE_CHECKING:  # only annotations: `exec` does not load the schedule and webhook domains
    from console.assets.model import AssetView
    from console.changes.model import Change, Package, Service, TrackedPath
    from console.changes.tracking import Alert
    from console.engine.inventory_data import HostCollection
    from console.inventory.model import Host
    from console.jobs.events import EventCallback
    from console.schedules.model import Schedule
    from console.schedules.views import ScheduleDetail, ScheduleDict, ScheduleView
    from console.state.model import ConfigurationInfo, NodeState, Report
    from console.updates.model import Assessment, Deployment, HostDeployment
    from console.webhooks.views import CreatedWebhook, RotatedSecret, WebhookView

# A typed parameter value as the engine parsed it (string, number, bool, list or JSON
# object): opaque to a client, which shows it or hands it back, never looks inside.
ParameterValue = object


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    type: str  # string, int, float, bool, choice, list, json, credential
    required: bool = False
    default: ParameterValue = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def text(self, value: ParameterValue) -> str:
        """`value` written as `-p NAME=VALUE` (and the run form) reads it back."""
        return value_text(self.type, value)


@dataclass(frozen=True)
class RunbookInfo:
    name: str
    language: str
    path: str
    description: str = ""
    target: str | None = None
    timeout: float | None = None
    parameters: tuple[ParameterInfo, ...] = ()


@dataclass(frozen=True)
class HostProbe:
    """The result of a cheap reachability probe: is it up, and what OS it runs."""

    host: str
    reachable: bool
    os: str = ""
    error: str = ""
    checked: float = 0.0


class ScheduleAdmin(Protocol):
    """What `opsconsole schedules ...` does: `console.schedules.book.ScheduleBook` in
    the engine, `console.engine.remote.RemoteSchedules` over the control socket."""

    async def create(self, schedule: Schedule) -> ScheduleView:
        """Store a new schedule (UsageError when the name is taken or it cannot run)."""

    async def entries(self) -> list[ScheduleView]: ...

    async def show(self, name: str, decisions: int = 20) -> ScheduleDetail: ...

    async def set_enabled(self, name: str, enabled: bool) -> ScheduleView: ...

    async def delete(self, name: str) -> ScheduleDict: ...

    async def next(self, name: str, count: int = 5) -> list[str]:
        """The next `count` fire times, ISO 8601."""


class WebhookAdmin(Protocol):
    """What `opsconsole webhooks ...` does: `console.webhooks.service.WebhookService`
    in the engine, `console.engine.remote.RemoteWebhooks` over the control socket."""

    async def create(
        self,
        name: str,
        runbook: str,
        pattern: str,
        parameters: dict[str, str],
        expires: float | None = None,
        signed: bool = False,
        allow_from: list[str] | None = None,
        rate_limit: int | None = None,
    ) -> CreatedWebhook:
        """The new webhook with its URL (and HMAC secret), both shown this once."""

    async def entries(self) -> list[WebhookView]: ...

    async def set_enabled(self, name: str, enabled: bool) -> WebhookView: ...

    async def rotate_secret(self, name: str, grace_hours: float | None = None) -> RotatedSecret:
        """A new HMAC secret, shown this once; `None` keeps the default grace period."""

    async def delete(self, name: str) -> WebhookView: ...


class AssetAdmin(Protocol):
    """What `opsconsole assets ...` and the console's Assets view do:
    `console.assets.vault.AssetVault` in the engine, a remote twin over the control
    socket. Secret values go in, never out: every answer is an `AssetView`."""

    async def set_credential(
        self,
        name: str,
        username: str,
        *,
        password: str | None = None,
        private_key: str | None = None,
        passphrase: str | None = None,
        description: str = "",
    ) -> AssetView:
        """Create or replace; exactly one of `password` and `private_key`."""

    async def set_variable(
        self, name: str, value: Any, *, encrypted: bool = False, description: str = ""
    ) -> AssetView:
        """Create or replace; an encrypted variable cannot become plain (UsageError)."""

    async def set_connection(
        self,
        name: str,
        fields: Mapping[str, str],
        *,
        secret: Collection[str] = (),
        description: str = "",
    ) -> AssetView: ...

    async def set_certificate(self, name: str, pem: str, *, description: str = "") -> AssetView:
        """`pem`: the certificate chain and its private key, PEM."""

    async def entries(self) -> list[AssetView]: ...

    async def show(self, name: str) -> AssetView: ...

    async def delete(self, name: str, *, force: bool = False) -> AssetView:
        """Refused (UsageError) while a schedule, webhook or host uses it, unless forced."""

    async def rotate_key(self) -> int:
        """Re-encrypt every stored secret under a new key; how many were re-encrypted."""


class ChangesAdmin(Protocol):
    """What `opsconsole inventory collect/facts/software/services`, `changes ...` and
    `tracking ...` do: `console.engine.inventory_data.InventoryData` in the engine,
    `console.engine.remote.RemoteChanges` over the control socket."""

    async def collect(self, pattern: str = "all") -> list[HostCollection]:
        """Collect the pattern's hosts now; one result per host (a failed one says why)."""

    async def facts(self, host: str) -> dict[str, Any]:
        """The issue's facts JSON of the host's latest snapshot."""

    async def software(self, host: str, text: str | None = None) -> list[Package]: ...

    async def services(self, host: str) -> list[Service]: ...

    async def changes(
        self,
        host: str | None = None,
        type: str | None = None,
        since: float | None = None,
        text: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Change]:
        """Newest first; page with `before_id`."""

    async def change(self, change_id: str) -> Change: ...

    async def add_file(
        self, path: str, pattern: str = "all", content: bool = True
    ) -> TrackedPath: ...

    async def remove_file(self, path: str) -> TrackedPath: ...

    async def files(self) -> list[TrackedPath]: ...

    async def interval(self) -> float | None:
        """Seconds between a host's periodic collections; None: off."""

    async def set_interval(self, seconds: float | None) -> float | None: ...

    async def add_alert(
        self,
        name: str,
        when: str,
        runbook: str,
        pattern: str | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> Alert: ...

    async def remove_alert(self, name: str) -> Alert: ...

    async def alerts(self) -> list[Alert]: ...


class StateAdmin(Protocol):
    """What `opsconsole state ...` and the Drift pane do: `console.engine.state_service.
    StateService` in the engine, `console.engine.remote_state.RemoteState` over the
    control socket. Check and apply run as jobs (trigger manual/cli, runbook
    `(state check)` / `(state apply)`, parameter `configuration`); their reports are
    read with `report`/`reports` once the job has finished."""

    async def configurations(self) -> list[ConfigurationInfo]:
        """Every configuration file, each with its problem when it does not parse."""

    async def check(
        self, configuration: str | None = None, pattern: str | None = None
    ) -> list[Job]:
        """Start a check job per configuration (all when None) on its targets (narrowed
        by `pattern`); UsageError for an unknown or broken configuration."""

    async def apply(self, configuration: str, pattern: str | None = None) -> Job:
        """Start an apply job of `configuration` on its targets (narrowed by `pattern`)."""

    async def status(self) -> list[NodeState]:
        """Every (host, configuration) assignment with its latest status (Pending when
        never checked), by host then configuration."""

    async def report(self, host: str, configuration: str) -> Report | None:
        """The latest report of `configuration` on `host` (None: Pending)."""

    async def reports(self, host: str) -> list[Report]:
        """The latest report of each configuration assigned to `host`."""


class UpdatesAdmin(Protocol):
    """What `opsconsole updates ...` and the Updates pane do: `console.engine.
    updates_service.UpdatesService` in the engine, `console.engine.remote_updates.
    RemoteUpdates` over the control socket. Assessments and deployments run as jobs
    (runbooks `(updates assess)` and `(updates deploy)`)."""

    async def assess(self, pattern: str = "all", refresh: bool = True) -> Job:
        """Start assessing the hosts of `pattern`."""

    async def assessments(self, pattern: str = "all") -> list[Assessment]:
        """The latest assessment of each host of `pattern` (never assessed: assessed 0)."""

    async def deploy(self, deployment: Deployment) -> Job:
        """Start a run of `deployment` now."""

    async def save_deployment(self, deployment: Deployment) -> Deployment:
        """Keep `deployment` for schedules (checked as a run would be)."""

    async def schedule_deployment(
        self,
        deployment: Deployment,
        at: str | None = None,
        cron: str | None = None,
        tz: str | None = None,
    ) -> ScheduleView:
        """Keep `deployment` with a schedule of its name: once `at` an ISO time or on
        `cron`, in the wall clock of `tz` (default UTC)."""

    async def deployments(self) -> list[Deployment]: ...

    async def delete_deployment(self, name: str) -> Deployment: ...

    async def results(self, job_id: str) -> list[HostDeployment]:
        """The host results of a deployment run so far."""


class EngineClient(Protocol):
    """Implemented by `console.engine.core.Engine` (in-process) and
    `console.engine.remote.RemoteClient` (attached); mypy checks both where
    `console.engine.connect.engine_client` hands them out as this type."""

    # True when the engine runs in another process (`opsconsole serve`): quitting this
    # client then leaves its jobs running. False for the engine inside this process.
    is_attached: bool

    @property
    def schedules(self) -> ScheduleAdmin: ...

    @property
    def webhooks(self) -> WebhookAdmin: ...

    @property
    def assets(self) -> AssetAdmin: ...

    @property
    def changes(self) -> ChangesAdmin: ...

    @property
    def state(self) -> StateAdmin: ...

    @property
    def updates(self) -> UpdatesAdmin: ...

    def hosts(self, pattern: str = "all") -> list[Host]:
        """Hosts matching an Ansible pattern (raises UsageError for a bad pattern)."""

    async def probe(self, hosts: Sequence[str]) -> list[HostProbe]: ...

    async def runbooks(self) -> list[RunbookInfo]: ...

    async def check_parameters(
        self, runbook: str, raw: Mapping[str, str]
    ) -> dict[str, ParameterValue]:
        """Typed values for the raw strings, or UsageError naming the parameter and reason."""

    async def start_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger = Trigger.MANUAL,
        *,
        trigger_ref: str | None = None,
        timeout: float | None = None,
        parent_token: str | None = None,
    ) -> Job:
        """`timeout` overrides the runbook's own. A child job (trigger PARENT, its
        parent's id as `trigger_ref`) needs the parent's OPS_JOB_TOKEN."""

    async def start_command(
        self,
        pattern: str,
        command: str,
        trigger: Trigger = Trigger.MANUAL,
        *,
        timeout: float | None = None,
    ) -> Job:
        """An ad-hoc command, recorded as a job of the pseudo-runbook `(command)`."""

    async def stop_job(self, job_id: str) -> Job: ...

    async def rerun_job(self, job_id: str, failed_only: bool = False) -> Job: ...

    async def jobs(
        self,
        *,
        status: JobStatus | Collection[JobStatus] | None = None,
        runbook: str | None = None,
        host: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Job]:
        """Newest first; page with `before_id` (the last id of the previous page).
        `status` is one status or several (any of them); `host` keeps jobs that ran on
        that host, reading as much history as it takes to find `limit` of them."""

    async def job(self, job_id: str) -> Job: ...

    async def streams(
        self, job_id: str, host: str | None = None, stream: str | None = None
    ) -> list[StreamRecord]: ...

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` on every engine event; returns a function that unsubscribes."""

    async def wait_subscribed(self) -> None:
        """Return once every event after this call reaches the subscribers (at once
        in-process; once the event stream is open when attached)."""
