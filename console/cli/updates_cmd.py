"""`opsconsole updates ...`: pending updates and deployments (docs/updates.md).

`assess` and `deploy` (without `--at`/`--cron`) run as jobs of the engine (attached
or in-process); the command waits and prints what each host reported, exit 0 when
every host was assessed / every selected package succeeded, 1 otherwise, 2 for bad
input. `deploy` with `--at` or `--cron` keeps the deployment and schedules it (a
schedule of the same name, listed by `schedules list` too).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

from console.cli.admin import admin_handler
from console.cli.output import iso, local_time, print_json, printable
from console.errors import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from console.engine.client import EngineClient
    from console.jobs.model import Job
    from console.updates.model import Assessment, Deployment, HostDeployment

DEPLOY_RUNBOOK = "(updates deploy)"


def _client(client: EngineClient) -> EngineClient:
    return client


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("updates", parents=[common], help="pending updates and deployments")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    assess = actions.add_parser("assess", parents=[common], help="assess pending updates now")
    assess.add_argument("pattern", nargs="?", default="all")
    assess.add_argument("--no-refresh", action="store_true", help="do not refresh package lists")
    assess.add_argument("--json", action="store_true")
    assess.set_defaults(handler=admin_handler(_client, _assess))
    listing = actions.add_parser("list", parents=[common], help="pending updates per host")
    listing.add_argument("pattern", nargs="?", default="all")
    listing.add_argument("--classification", metavar="C", help="only this classification")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=admin_handler(_client, _list))
    summary = actions.add_parser("summary", parents=[common], help="counts per host")
    summary.add_argument("pattern", nargs="?", default="all")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(handler=admin_handler(_client, _summary))
    deploy = actions.add_parser("deploy", parents=[common], help="install updates on hosts")
    from console.cli.update_args import add_deploy_arguments

    add_deploy_arguments(deploy)
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(handler=admin_handler(_client, _deploy))
    _register_deployments(actions, common)
    _register_runs(actions, common)


def _register_deployments(
    actions: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    kept = actions.add_parser("deployments", parents=[common], help="scheduled deployments")
    which = kept.add_subparsers(dest="deployments_action", metavar="ACTION", required=True)
    listing = which.add_parser("list", parents=[common])
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=admin_handler(_client, _deployments))
    show = which.add_parser("show", parents=[common])
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=admin_handler(_client, _show_deployment))
    delete = which.add_parser("delete", parents=[common])
    delete.add_argument("name")
    delete.set_defaults(handler=admin_handler(_client, _delete_deployment))


def _register_runs(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    runs = actions.add_parser("runs", parents=[common], help="deployment runs and their results")
    which = runs.add_subparsers(dest="runs_action", metavar="ACTION", required=True)
    listing = which.add_parser("list", parents=[common])
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=admin_handler(_client, _runs))
    show = which.add_parser("show", parents=[common])
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=admin_handler(_client, _show_run))


async def _wait(client: EngineClient, job: Job) -> Job:
    from console.engine.follow import JobFollower

    async with JobFollower(client) as follower:
        return await follower.follow(job.id)


# -- assessments ----------------------------------------------------------------------


async def _assess(client: EngineClient, args: argparse.Namespace) -> int:
    job = await _wait(client, await client.updates.assess(args.pattern, not args.no_refresh))
    found = [a for a in await client.updates.assessments(args.pattern) if a.host in job.hosts]
    _print_summary(found, args.json)
    return EXIT_OK if all(not a.error for a in found) else EXIT_FAILED


async def _summary(client: EngineClient, args: argparse.Namespace) -> int:
    _print_summary(await client.updates.assessments(args.pattern), args.json)
    return EXIT_OK


def _print_summary(found: list[Assessment], as_json: bool) -> None:
    from console.updates.codec import summary_row

    rows = [summary_row(a) for a in found]
    if as_json:
        print_json(rows)
        return
    print(f"{'HOST':<20} {'CRIT':>4} {'SEC':>4} {'OTHER':>5} {'TOTAL':>5}  REBOOT  ASSESSED")
    for row, assessment in zip(rows, found, strict=True):
        when = local_time(row["assessed"]) if row["assessed"] else "never"
        line = (
            f"{row['host']:<20} {row['critical']:>4} {row['security']:>4} {row['other']:>5} "
            f"{row['total']:>5}  {'yes' if row['reboot_pending'] else 'no':<6}  {when}"
        )
        if assessment.error:
            line += f"  ({assessment.error})"
        print(printable(line))


async def _list(client: EngineClient, args: argparse.Namespace) -> int:
    from console.updates.codec import list_row
    from console.updates.model import Classification

    wanted = _classification(args.classification) if args.classification else None
    rows = [
        list_row(a.host, u)
        for a in await client.updates.assessments(args.pattern)
        for u in a.updates
        if wanted is None or u.classification is wanted
    ]
    if args.json:
        print_json(rows)
        return EXIT_OK
    width = max(len(c.value) for c in Classification)  # UpdateRollup fits the column
    for row in rows:
        print(
            printable(
                f"{row['host']:<20} {row['name']:<30} {row['installed'] or '(new)':<20} -> "
                f"{row['available']:<20} {row['classification']:<{width}} {row['source']}"
            )
        )
    if not rows:
        print("no pending updates" + (f" of {Classification(wanted)}" if wanted else ""))
    return EXIT_OK


def _classification(text: str) -> Any:
    from console.cli.update_args import parse_classifications

    (one,) = parse_classifications(text, "--classification")
    return one


# -- deployments ----------------------------------------------------------------------


async def _deploy(client: EngineClient, args: argparse.Namespace) -> int:
    from console.cli.update_args import deployment_from_args

    deployment = deployment_from_args(args)
    if args.at or args.cron:
        view = await client.updates.schedule_deployment(deployment, args.at, args.cron, args.tz)
        print(printable(f"deployment {deployment.name} scheduled; next run {view['next']}"))
        return EXIT_OK
    job = await _wait(client, await client.updates.deploy(deployment))
    results = await client.updates.results(job.id)
    if args.json:
        print_json(_run_dict(job, deployment.name, results))
    else:
        for result in results:
            _print_host(result)
        reported = {r.host for r in results}
        for host, run in job.host_runs.items():
            if host not in reported:
                print(printable(f"{host} | {run.status.value} | {run.error_text or 'no result'}"))
    ok = len(results) == len(job.hosts) and all(r.status == "Succeeded" for r in results)
    return EXIT_OK if ok else EXIT_FAILED


def _print_host(result: HostDeployment) -> None:
    from console.engine.updates_service import host_result_lines

    lines = host_result_lines(result)
    print(printable(f"{result.host} | {lines[0]}"))
    for line in lines[1:]:
        print(printable(line))


async def _deployments(client: EngineClient, args: argparse.Namespace) -> int:
    from console.updates.codec import deployment_to_dict

    kept = await client.updates.deployments()
    if args.json:
        print_json([deployment_to_dict(d) for d in kept])
        return EXIT_OK
    for deployment in kept:
        print(printable(_describe(deployment)))
    if not kept:
        print("no scheduled deployments (`updates deploy NAME PATTERN ... --at/--cron`)")
    return EXIT_OK


def _describe(deployment: Deployment) -> str:
    selection = deployment.selection
    picks = ",".join(str(c) for c in selection.classifications) or "-"
    extra = "".join(f" +{m}" for m in selection.include) + "".join(
        f" -{m}" for m in selection.exclude
    )
    return (
        f"{deployment.name}  on {deployment.pattern}  {picks}{extra}  window "
        f"{deployment.window_s / 60:g}m  reboot {deployment.reboot}"
    )


async def _show_deployment(client: EngineClient, args: argparse.Namespace) -> int:
    from console.updates.codec import deployment_to_dict

    found = [d for d in await client.updates.deployments() if d.name == args.name]
    if not found:
        raise UsageError(f"no deployment {args.name!r}")
    if args.json:
        print_json(deployment_to_dict(found[0]))
    else:
        print(printable(_describe(found[0])))
    return EXIT_OK


async def _delete_deployment(client: EngineClient, args: argparse.Namespace) -> int:
    await client.updates.delete_deployment(args.name)
    with contextlib.suppress(UsageError):  # its schedule may have been deleted on its own
        await client.schedules.delete(args.name)
    print(f"deployment {args.name} deleted")
    return EXIT_OK


# -- runs -----------------------------------------------------------------------------


async def _runs(client: EngineClient, args: argparse.Namespace) -> int:
    jobs = await client.jobs(runbook=DEPLOY_RUNBOOK, limit=args.limit)
    rows = [_run_dict(job, _name(job), await client.updates.results(job.id)) for job in jobs]
    if args.json:
        print_json(rows)
        return EXIT_OK
    for row in rows:
        failed = sum(h["status"] != "Succeeded" for h in row["hosts"])
        print(
            printable(
                f"{row['id']}  {row['name']:<20} {row['status']:<10} {row['started'] or '-'}  "
                f"{len(row['hosts'])} hosts, {failed} not succeeded"
            )
        )
    return EXIT_OK


async def _show_run(client: EngineClient, args: argparse.Namespace) -> int:
    job = await client.job(args.id)
    if job.runbook != DEPLOY_RUNBOOK:
        raise UsageError(f"job {job.id} is not an update deployment ({job.runbook})")
    results = await client.updates.results(job.id)
    if args.json:
        print_json(_run_dict(job, _name(job), results))
        return EXIT_OK
    print(printable(f"run {job.id} of {_name(job)}: {job.status.value}"))
    for result in results:
        _print_host(result)
    return EXIT_OK


def _name(job: Job) -> str:
    return str(dict(job.parameters.get("deployment", {})).get("name", "?"))


def _run_dict(job: Job, name: str, results: list[HostDeployment]) -> dict[str, Any]:
    """The issue's run JSON: `id, name, status, started, ended, hosts[...]`."""
    from console.updates.codec import host_result_to_dict

    return {
        "id": job.id,
        "name": name,
        "status": job.status.value,
        "started": iso(job.started),
        "ended": iso(job.ended),
        "hosts": [host_result_to_dict(r) for r in results],
    }
