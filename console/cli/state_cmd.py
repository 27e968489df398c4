"""`opsconsole state check|apply|status|show|validate`: desired state (docs/state.md).

Check and apply run as jobs of the engine (attached or in-process), so they show in
the Jobs pane; the command waits for them and prints what each host reported. Exit
0 when every host is Compliant (check) or ends Compliant (apply), 1 on drift or
failure, 2 for bad input (an unknown or broken configuration, a pattern that selects
nothing). `apply` checks first, shows what it would change, and asks unless `--yes`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from console.cli.admin import admin_handler
from console.cli.output import local_time, print_json, printable
from console.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from console.engine.client import EngineClient
    from console.jobs.model import Job
    from console.state.model import Report


def _client(client: EngineClient) -> EngineClient:
    return client


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("state", parents=[common], help="desired state: check and apply")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", parents=[common], help="report drift; changes nothing")
    check.add_argument("configuration", nargs="?", help="one configuration (default all)")
    check.add_argument("--pattern", help="only the targets in this pattern")
    check.add_argument("--json", action="store_true", help="print the reports as JSON")
    check.set_defaults(handler=admin_handler(_client, _check))
    apply = actions.add_parser("apply", parents=[common], help="change what drifted")
    apply.add_argument("configuration")
    apply.add_argument("--pattern", help="only the targets in this pattern")
    apply.add_argument("--yes", action="store_true", help="do not ask")
    apply.add_argument("--json", action="store_true", help="print the reports as JSON")
    apply.set_defaults(handler=admin_handler(_client, _apply))
    status = actions.add_parser("status", parents=[common], help="node statuses")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=admin_handler(_client, _status))
    show = actions.add_parser("show", parents=[common], help="a host's last report, with diffs")
    show.add_argument("host")
    show.add_argument("configuration", nargs="?")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=admin_handler(_client, _show))
    validate = actions.add_parser("validate", parents=[common], help="check the files only")
    validate.add_argument("configuration", nargs="?")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(handler=admin_handler(_client, _validate))


async def _wait(client: EngineClient, jobs: list[Job]) -> list[Job]:
    from console.engine.follow import JobFollower

    async with JobFollower(client) as follower:
        return [await follower.follow(job.id) for job in jobs]


async def _reports(client: EngineClient, jobs: list[Job]) -> list[Report]:
    """Each host's report of each job (a host whose run never started has none)."""
    found: list[Report] = []
    for job in jobs:
        configuration = str(job.parameters["configuration"])
        for host in job.hosts:
            report = await client.state.report(host, configuration)
            if report is not None and report.job_id == job.id:
                found.append(report)
    return found


async def _check(client: EngineClient, args: argparse.Namespace) -> int:
    jobs = await _wait(client, await client.state.check(args.configuration, args.pattern))
    reports = await _reports(client, jobs)
    _print_reports(reports, jobs, args.json)
    return _exit(reports, jobs)


async def _apply(client: EngineClient, args: argparse.Namespace) -> int:
    """Interactive: check first, show what would change and ask. With --yes the apply
    goes at once: its script checks every resource before it changes one anyway."""
    if not args.yes:
        if not sys.stdin.isatty():  # before anything runs
            raise UsageError(
                "state apply asks before changing hosts: run it in a terminal or add --yes"
            )
        (plan,) = await _wait(client, await client.state.check(args.configuration, args.pattern))
        planned = await _reports(client, [plan])
        drifted = [r for r in planned if r.drifted]
        if not drifted and all(r.status.value == "Compliant" for r in planned):
            _print_reports(planned, [plan], args.json)
            print("nothing to change", file=sys.stderr)
            return EXIT_OK
        _print_plan(drifted)
        if not await _confirm(len(drifted)):
            print("nothing applied", file=sys.stderr)
            return EXIT_FAILED
    (job,) = await _wait(client, [await client.state.apply(args.configuration, args.pattern)])
    reports = await _reports(client, [job])
    _print_reports(reports, [job], args.json)
    return _exit(reports, [job])


def _print_plan(drifted: list[Report]) -> None:
    for report in drifted:
        names = [r.resource for r in report.resources if r.status.value == "drifted"]
        print(printable(f"{report.host}: would change {', '.join(names)}"))


async def _confirm(hosts: int) -> bool:
    answer = await asyncio.to_thread(input, f"Apply these changes to {hosts} host(s)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _exit(reports: list[Report], jobs: list[Job]) -> int:
    everyone = sum(len(job.hosts) for job in jobs)
    compliant = all(r.status.value == "Compliant" for r in reports)
    return EXIT_OK if compliant and len(reports) == everyone else EXIT_FAILED


def _print_reports(reports: list[Report], jobs: list[Job], as_json: bool) -> None:
    if as_json:
        from console.state.codec import report_to_dict

        print_json([report_to_dict(r) for r in reports])
        return
    from console.engine.state_service import report_lines

    for report in reports:
        print(printable(f"{report.host} | {report.status}"), end="")
        print(printable(f" | {report.error}") if report.error else "")
        for line in report_lines(report)[1:]:
            print(printable(line))
    for job in jobs:
        reported = {r.host for r in reports if r.job_id == job.id}
        for host, run in job.host_runs.items():
            if host not in reported:
                print(printable(f"{host} | {run.status.value} | {run.error_text or 'no report'}"))


async def _status(client: EngineClient, args: argparse.Namespace) -> int:
    rows = await client.state.status()
    if args.json:
        from console.state.codec import node_state_to_dict

        print_json([node_state_to_dict(r) for r in rows])
        return EXIT_OK
    for row in rows:
        checked = local_time(row.last_check) if row.last_check else "never"
        print(
            printable(
                f"{row.host:<20} {row.configuration:<20} {row.status:<13} "
                f"{row.drifted:>3} drifted  {checked}"
            )
        )
    if not rows:
        print("no configuration targets a host (see `opsconsole state validate`)")
    return EXIT_OK


async def _show(client: EngineClient, args: argparse.Namespace) -> int:
    reports = await client.state.reports(args.host)
    if args.configuration:
        reports = [r for r in reports if r.configuration == args.configuration]
    if not reports:
        which = f" of {args.configuration}" if args.configuration else ""
        raise UsageError(f"{args.host} has no report{which} yet (run `opsconsole state check`)")
    if args.json:
        from console.state.codec import report_to_dict

        print_json([report_to_dict(r) for r in reports])
        return EXIT_OK
    from console.engine.state_service import report_lines

    for report in reports:
        print(printable(f"{report.host} | {local_time(report.time)} | job {report.job_id}"))
        for line in report_lines(report):
            print(printable(line))
    return EXIT_OK


async def _validate(client: EngineClient, args: argparse.Namespace) -> int:
    infos = await client.state.configurations()
    if args.configuration:
        infos = [i for i in infos if i.name == args.configuration]
        if not infos:
            raise UsageError(f"no configuration {args.configuration!r}")
    if args.json:
        from console.state.codec import info_to_dict

        print_json([info_to_dict(i) for i in infos])
    for info in infos:
        if info.problem:
            print(printable(info.problem), file=sys.stderr)
        elif not args.json:
            print(
                printable(
                    f"{info.name}: ok ({info.resources} resources, {info.mode} on "
                    f"{info.targets} every {info.frequency_s / 60:g}m)"
                )
            )
    return EXIT_USAGE if any(i.problem for i in infos) else EXIT_OK
