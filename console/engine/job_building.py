"""New jobs and their work: a runbook's (parameters checked, hosts selected) or an ad
hoc command's, and the work of a stored job that starts again after a restart.

Assets: a job keeps only the names of the assets its parameters name. They are
checked when the job is created (each must exist and be of its parameter's kind; each
asset the runbook declares must exist), so a typo never becomes a job; the values are
resolved again for each host run, the current ones, and reach the runbook in its
environment (`console.runbooks.asset_env`). A connection's field whose variable is
another parameter's is refused then too (`OPS_PARAM_DB_TOKEN` is both the field `token`
of a connection parameter `db` and a parameter `db_token`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from console.assets.model import ASSET_PARAMETER_TYPES, AssetKind, AssetResolver, ResolvedAsset
from console.errors import UsageError
from console.inventory.model import Host
from console.jobs.host_run import Work
from console.jobs.model import Job, Trigger, default_starter, new_job_id
from console.runbooks.asset_env import declared_env, parameter_env
from console.runbooks.catalog import Runbook, RunbookCatalog
from console.runbooks.parameters import Parameter, env_names, parse_values, to_text
from console.runbooks.plugin_api import Invocation, TargetInfo
from console.transports.winrm_scripts import powershell_command

COMMAND_RUNBOOK = "(command)"
# Jobs of desired state (console.engine.state_service): built by the engine, not a runbook.
STATE_CHECK_RUNBOOK = "(state check)"
STATE_APPLY_RUNBOOK = "(state apply)"
# Jobs of update management (console.engine.updates_service).
UPDATES_ASSESS_RUNBOOK = "(updates assess)"
UPDATES_DEPLOY_RUNBOOK = "(updates deploy)"
# What a trigger hands a runbook beside its parameters, kept on the job as parameters
# of these names (so the job shows them) but never typed and never passed as one.
WEBHOOK_DATA = "WebhookData"
CHANGE_DATA = "ChangeData"
TRIGGER_DATA = (WEBHOOK_DATA, CHANGE_DATA)
CHANGE_DATA_VARIABLE = "OPS_CHANGE_DATA"


class JobBuilder:
    """Builds Queued jobs against the catalog; `select(pattern)` gives the hosts of a
    pattern and raises a UsageError when it matches none."""

    def __init__(
        self,
        catalog: RunbookCatalog,
        select: Callable[[str], list[Host]],
        assets: Callable[[], AssetResolver | None] = lambda: None,
    ) -> None:
        self.catalog = catalog
        self.select = select
        self._assets = assets  # the engine's vault once started (None: no assets)

    def runbook_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger,
        trigger_ref: str | None,
        webhook_data: dict[str, Any] | None,
        job_id: str | None = None,
        created: float | None = None,
        started_by: str | None = None,
        change_data: dict[str, Any] | None = None,
    ) -> tuple[Job, Work, float | None]:
        """A new Queued job of a runbook, its work and the runbook's timeout. Raises
        OpsError when the runbook, its parameters or the pattern do not fit."""
        book = self.catalog.get(runbook)
        params = parse_values(book.metadata.parameters, raw_parameters, book.name)
        self.asset_env(book, params)  # every asset exists and is of its kind
        if webhook_data is not None:
            params[WEBHOOK_DATA] = webhook_data
        if change_data is not None:
            params[CHANGE_DATA] = change_data
        hosts = self.select(pattern)
        job = Job(
            id=job_id or new_job_id(),
            runbook=book.name,
            pattern=pattern,
            hosts=[h.name for h in hosts],
            parameters=params,
            runbook_hash=book.hash,
            trigger=trigger,
            trigger_ref=trigger_ref,
            started_by=started_by or default_starter(trigger, trigger_ref),
            created=time.time() if created is None else created,
        )
        return job, self._runbook_work(book, params), book.metadata.timeout

    def command_job(
        self, pattern: str, command: str, trigger: Trigger, started_by: str | None
    ) -> tuple[Job, Work]:
        """A new Queued job running `command` as it is on every host of `pattern`."""
        if not command.strip():
            raise UsageError("the command is empty")
        hosts = self.select(pattern)
        job = Job(
            id=new_job_id(),
            runbook=COMMAND_RUNBOOK,
            pattern=pattern,
            hosts=[h.name for h in hosts],
            parameters={"command": command},
            runbook_hash=hashlib.sha256(command.encode()).hexdigest(),
            trigger=trigger,
            started_by=started_by or default_starter(trigger, None),
        )
        return job, command_work(command)

    def check_target(self, runbook: str, pattern: str | None, raw: Mapping[str, str]) -> None:
        """A schedule, webhook or alert is checked when created, not first when it
        fires. `pattern` None: the hosts are known only then (an alert's changed host)."""
        book = self.catalog.get(runbook)
        self.asset_env(book, parse_values(book.metadata.parameters, raw, book.name))
        if pattern is not None:
            self.select(pattern)

    def work_for(self, job: Job) -> Work:
        """The work of a stored job (one queued when an engine stopped)."""
        if job.runbook == COMMAND_RUNBOOK:
            return command_work(str(job.parameters.get("command", "")))
        return self._runbook_work(self.catalog.get(job.runbook), dict(job.parameters))

    def raw_parameters(self, job: Job) -> dict[str, str]:
        """A runbook job's parameters as the text they were given in, to start it
        again (WebhookData and ChangeData are the trigger's, not parameters anyone types)."""
        specs = self.catalog.get(job.runbook).metadata.parameters
        return {
            name: to_text(specs.get(name) or Parameter(name), value)
            for name, value in job.parameters.items()
            if name not in TRIGGER_DATA
        }

    def runbook_work(self, runbook: str, raw_parameters: Mapping[str, str]) -> Work:
        """The work of `runbook` with these parameters, checked, outside a job of its
        own: what an update deployment runs as its pre and post steps on a host."""
        book = self.catalog.get(runbook)
        params = parse_values(book.metadata.parameters, raw_parameters, book.name)
        self.asset_env(book, params)
        return self._runbook_work(book, params)

    def _runbook_work(self, book: Runbook, params: dict[str, Any]) -> Work:
        webhook_data = params.get(WEBHOOK_DATA)
        change_data = params.get(CHANGE_DATA)
        script_params = {k: v for k, v in params.items() if k not in TRIGGER_DATA}

        def build(host: Host, workdir: str) -> Invocation:
            target = TargetInfo.from_host(host)
            env = self.asset_env(book, script_params)
            if change_data is not None:  # as JSON, like OPS_WEBHOOK_DATA (a file when big)
                env[CHANGE_DATA_VARIABLE] = json.dumps(change_data, separators=(",", ":"))
            return self.catalog.build_invocation(
                book, script_params, target, workdir, webhook_data, asset_env=env
            )

        return Work(build=build)

    def asset_env(self, book: Runbook, params: Mapping[str, Any]) -> dict[str, str]:
        """The variables of the assets `params` name and `book` declares, resolved now.
        Raises UsageError naming the parameter (or declaration) and the asset."""
        specs = book.metadata.parameters
        wanted = [
            (f"parameter {name!r}", str(value), AssetKind(specs[name].type), specs[name])
            for name, value in params.items()
            if name in specs and specs[name].type in ASSET_PARAMETER_TYPES
        ]
        if not wanted and not book.metadata.assets:
            return {}
        resolver = self._assets()
        env: dict[str, str] = {}
        owners = {v: p.name for p in specs.values() for v in env_names(p)}
        for what, name, kind, param in wanted:
            variables = parameter_env(param, _resolve(resolver, book, what, name, kind))
            _claim(owners, variables, book, param, name)
            env.update(variables)
        if book.metadata.assets:
            declared = [
                _resolve(resolver, book, f"declared asset {name!r}", name, None)
                for name in book.metadata.assets
            ]
            env.update(declared_env(declared))
        return env


def _resolve(
    resolver: AssetResolver | None, book: Runbook, what: str, name: str, kind: AssetKind | None
) -> ResolvedAsset:
    if resolver is None:
        raise UsageError(
            f"{book.name}: {what} needs the asset {name!r}, but this engine has no assets"
        )
    try:
        return resolver.resolve(name, kind)
    except UsageError as exc:  # AssetNotFound, WrongAssetKind
        raise UsageError(f"{book.name}: {what}: {exc}") from None


def _claim(
    owners: dict[str, str],
    variables: Mapping[str, str],
    book: Runbook,
    param: Parameter,
    asset: str,
) -> None:
    """A connection's fields are known only now: one whose variable is another
    parameter's would hand the runbook the wrong value, so it is refused, naming both."""
    for variable in variables:
        other = owners.setdefault(variable, param.name)
        if other != param.name:
            raise UsageError(
                f"{book.name}: parameter {param.name!r}: asset {asset!r} gives it {variable}, "
                f"which is the variable of parameter {other!r}; rename the asset's field or "
                "the parameter"
            )


def command_work(command: str) -> Work:
    """`command` as it is for a POSIX shell; on a WinRM host it is PowerShell (as
    Ansible's win_shell), sent encoded so no Windows quoting can mangle it."""

    def build(host: Host, workdir: str) -> Invocation:
        line = powershell_command(command) if host.connection == "winrm" else command
        return Invocation(command=line, files={}, env={}, stdin=None)

    return Work(build=build, needs_workdir=False)
