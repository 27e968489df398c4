"""The options of `opsconsole updates deploy` and the Deployment they build (with `--at`
or `--cron` the engine builds its schedule). Every mistake is a UsageError naming the
option."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from console.errors import UsageError
from console.updates import rules
from console.updates.model import Classification, Deployment, RebootSetting, Selection

T = TypeVar("T")


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
    return _as_option(option, rules.classifications, text)


def deployment_from_args(args: argparse.Namespace) -> Deployment:
    name = _as_option("NAME", rules.check_name, args.name)
    reboot = RebootSetting(args.reboot)
    selection = Selection(
        parse_classifications(args.classification) if args.classification else (),
        _as_option("--include", rules.masks, args.include),
        _as_option("--exclude", rules.masks, args.exclude),
    )
    rules.check_selection(selection, reboot)
    window = _as_option("--window", rules.window, args.window, reboot)
    return Deployment(
        name=name,
        pattern=args.pattern,
        selection=selection,
        window_s=window,
        reboot=reboot,
        pre=args.pre,
        post=args.post,
        stop_on_pre_failure=args.stop_on_pre_failure,
    )


def _as_option(option: str, check: Callable[..., T], *values: Any) -> T:
    """`check(*values)`, its UsageError naming `option`."""
    try:
        return check(*values)
    except UsageError as exc:
        raise UsageError(f"{option}: {exc}") from None
