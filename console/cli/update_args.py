"""The options of `opsconsole updates deploy`, and the Deployment (and, with `--at` or
`--cron`, the Schedule) they build. Every mistake is a UsageError naming the option."""

from __future__ import annotations

import argparse
import re
from datetime import datetime

from console.cli.schedule_args import parse_duration, schedule_from_args
from console.errors import UsageError
from console.schedules.model import Schedule
from console.updates.model import (
    PACKAGE_MARGIN_S,
    REBOOT_MARGIN_S,
    Classification,
    Deployment,
    RebootSetting,
    Selection,
)

DEPLOY_RUNBOOK = "(updates deploy)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MASK = re.compile(r"^[A-Za-z0-9_.+:*?\[\]!-]+$")


def add_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the deployment's name (letters, digits, _ . -)")
    parser.add_argument("pattern", help="the target hosts")
    parser.add_argument(
        "--classification",
        metavar="LIST",
        help="comma-separated: " + ",".join(c.value for c in Classification),
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="also install packages whose name matches (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="never install packages whose name matches; wins (repeatable)",
    )
    parser.add_argument(
        "--window",
        default="2h",
        metavar="DURATION",
        help="maintenance window from the start (default 2h)",
    )
    parser.add_argument("--reboot", default="IfRequired", choices=[r.value for r in RebootSetting])
    parser.add_argument("--pre", metavar="RUNBOOK", help="run on each host before")
    parser.add_argument(
        "--post", metavar="RUNBOOK", help="run on each host after (and after a reboot)"
    )
    parser.add_argument(
        "--stop-on-pre-failure",
        action="store_true",
        help="a failed pre-runbook stops the whole run, not just its host",
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="TIME", help="run once at TIME (e.g. 2026-12-05T02:00)")
    when.add_argument("--cron", metavar="EXPR", help="run on a cron schedule")
    parser.add_argument("--tz", metavar="ZONE", help="time zone of --at/--cron (default UTC)")


def parse_classifications(
    text: str, option: str = "--classification"
) -> tuple[Classification, ...]:
    known = {c.value.lower(): c for c in Classification}
    picked: list[Classification] = []
    for word in (w.strip() for w in text.split(",")):
        if word.lower() not in known:
            raise UsageError(
                f"{option}: unknown classification {word!r} "
                f"(one of {', '.join(c.value for c in Classification)})"
            )
        picked.append(known[word.lower()])
    return tuple(dict.fromkeys(picked))


def _masks(masks: list[str], option: str) -> tuple[str, ...]:
    for mask in masks:
        if not _MASK.match(mask) or mask.count("[") != mask.count("]"):
            raise UsageError(
                f"{option}: {mask!r} is not a package name glob (letters, digits, "
                "_ . + : - and * ? [...] only)"
            )
    return tuple(masks)


def deployment_from_args(args: argparse.Namespace) -> Deployment:
    if not _NAME.match(args.name):
        raise UsageError(f"{args.name!r} is not a deployment name (letters, digits, _ . -)")
    reboot = RebootSetting(args.reboot)
    selection = Selection(
        parse_classifications(args.classification) if args.classification else (),
        _masks(args.include, "--include"),
        _masks(args.exclude, "--exclude"),
    )
    if reboot is not RebootSetting.REBOOT_ONLY and not (
        selection.classifications or selection.include
    ):
        raise UsageError("select updates with --classification and/or --include")
    window = parse_duration(args.window, "--window")
    _check_window(window, reboot)
    return Deployment(
        name=args.name,
        pattern=args.pattern,
        selection=selection,
        window_s=window,
        reboot=reboot,
        pre=args.pre,
        post=args.post,
        stop_on_pre_failure=args.stop_on_pre_failure,
    )


def _check_window(window: float, reboot: RebootSetting) -> None:
    """A window must leave room for one package and, when a reboot may follow, for it."""
    needed = {
        RebootSetting.NEVER: PACKAGE_MARGIN_S,
        RebootSetting.REBOOT_ONLY: REBOOT_MARGIN_S,
    }.get(reboot, PACKAGE_MARGIN_S + REBOOT_MARGIN_S)
    if window < needed:
        raise UsageError(
            f"--window: {window / 60:g} minutes is under the margins: a package starts only "
            f"with {PACKAGE_MARGIN_S // 60} minutes left and a reboot with "
            f"{REBOOT_MARGIN_S // 60}, so --reboot {reboot} needs at least {needed // 60} minutes"
        )


def schedule_for(
    deployment: Deployment, args: argparse.Namespace, now: datetime | None = None
) -> Schedule:
    """The schedule that runs `deployment` (named like it) at `--at` or on `--cron`."""
    options = argparse.Namespace(
        once=args.at,
        cron=args.cron,
        every=None,
        tz=args.tz,
        params=[f"deployment={deployment.name}"],
        description=f"update deployment {deployment.name}",
    )
    try:
        return schedule_from_args(deployment.name, DEPLOY_RUNBOOK, deployment.pattern, options, now)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--once", "--at")) from None
