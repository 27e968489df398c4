"""`opsconsole inventory collect|facts|software|services`: what is on the hosts.

`collect` runs the collector on a pattern's hosts now, one result line per host (exit
1 when one failed); the others read a host's latest snapshot, `--refresh` collecting
it first. Every answer comes from the engine (attached or in-process). Jobs that
alerts start during `collect` run in the engine that collected: an in-process engine
ends with the command, so the command then waits for them (a running `serve` keeps
them, so an attached command does not).
"""

from __future__ import annotations

import argparse
from dataclasses import astuple
from typing import TYPE_CHECKING

from console.cli.admin import admin_handler
from console.cli.output import local_time, print_json, printable
from console.errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from console.engine.client import ChangesAdmin, EngineClient
    from console.engine.inventory_data import HostCollection


def _changes(client: EngineClient) -> ChangesAdmin:
    return client.changes


def register_actions(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the inventory data actions to `opsconsole inventory`."""
    collect = sub.add_parser(
        "collect", parents=[common], help="collect facts, software, services and files now"
    )
    collect.add_argument("pattern", nargs="?", default="all", help="target pattern")
    collect.add_argument("--json", action="store_true", help="print a JSON array")
    collect.set_defaults(handler=admin_handler(lambda client: client, _collect))
    for name, about, operation in (
        ("facts", "a host's facts from its latest collection", _facts),
        ("software", "a host's installed packages", _software),
        ("services", "a host's services and their states", _services),
    ):
        one = sub.add_parser(name, parents=[common], help=about)
        one.add_argument("host")
        one.add_argument("--json", action="store_true", help="print JSON")
        one.add_argument("--refresh", action="store_true", help="collect the host first")
        if name == "software":
            one.add_argument("--filter", metavar="TEXT", help="only names holding TEXT")
        one.set_defaults(handler=admin_handler(_changes, operation))


async def _collect(client: EngineClient, args: argparse.Namespace) -> int:
    results = await client.changes.collect(args.pattern)
    if args.json:
        from console.engine.changes_wire import collection_to_dict

        print_json([collection_to_dict(r) for r in results])
    else:
        for result in results:
            print(printable(_result_line(result)))
    if not client.is_attached:
        await _wait_for_alert_jobs(client, [j for r in results for j in r.alert_jobs])
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def _wait_for_alert_jobs(client: EngineClient, job_ids: list[str]) -> None:
    """Alert jobs of an in-process engine end with it: see them through first."""
    if not job_ids:
        return
    import sys

    from console.engine.follow import JobFollower

    async with JobFollower(client) as follower:
        for job_id in job_ids:
            job = await follower.follow(job_id)
            print(f"alert job {job.id} ({job.runbook}): {job.status.value}", file=sys.stderr)


def _result_line(result: HostCollection) -> str:
    if not result.ok:
        return f"{result.host} | FAILED | {result.error_kind}: {result.error}"
    line = f"{result.host} | ok | {result.changes} change{'' if result.changes == 1 else 's'}"
    for glob in result.unmatched:
        line += f" | {glob} matched nothing"
    if result.alert_jobs:
        line += f" | alerts started job {', '.join(result.alert_jobs)}"
    return line


async def _refreshed(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    """Collect the host first when asked; EXIT_FAILED (said) when that failed."""
    if not args.refresh:
        return EXIT_OK
    (result,) = await admin.collect(args.host)
    if not result.ok:
        print(printable(_result_line(result)))
    return EXIT_OK if result.ok else EXIT_FAILED


async def _facts(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    if await _refreshed(admin, args):
        return EXIT_FAILED
    facts = await admin.facts(args.host)
    if args.json:
        print_json(facts)
        return EXIT_OK
    os_info = facts["os"]
    rows = [
        ("hostname", facts["hostname"]),
        ("fqdn", facts["fqdn"]),
        ("os", f"{os_info['name']} {os_info['version']} ({os_info['family']})"),
        ("kernel", f"{facts['kernel']} {facts['arch']}"),
        ("cpus", facts["cpus"]),
        ("memory", f"{facts['memory_mb']} MB"),
        ("ipv4", ", ".join(facts["ipv4"])),
        ("ipv6", ", ".join(facts["ipv6"])),
        ("booted", local_time(facts["boot_time"])),
        ("machine id", facts["machine_id"]),
        ("collected", local_time(facts["collected"])),
    ]
    for label, value in rows:
        print(printable(f"{label + ':':<12}{value}"))
    return EXIT_OK


async def _software(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    if await _refreshed(admin, args):
        return EXIT_FAILED
    packages = await admin.software(args.host, args.filter)
    if args.json:
        from console.engine.changes_wire import packages_to_dicts

        print_json(packages_to_dicts(packages))
    else:
        _table(["NAME", "VERSION", "ARCH", "SOURCE"], [list(astuple(p)) for p in packages])
    return EXIT_OK


async def _services(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    if await _refreshed(admin, args):
        return EXIT_FAILED
    services = await admin.services(args.host)
    if args.json:
        from console.engine.changes_wire import services_to_dicts

        print_json(services_to_dicts(services))
    else:
        _table(["NAME", "STATE", "ENABLED", "MANAGER"], [list(astuple(s)) for s in services])
    return EXIT_OK


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print(printable("  ".join(cells).rstrip()))
