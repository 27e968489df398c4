"""What a deployment a person types must satisfy, in one place: `updates deploy` and
the console's deploy dialog both check their input here, each putting its own name on
the mistake (the CLI an option, the dialog a field). Each function raises a
UsageError whose message says what is wrong and what would be right.
"""

from __future__ import annotations

import re

from console.errors import UsageError
from console.schedules.building import parse_duration
from console.updates.model import (
    PACKAGE_MARGIN_S,
    REBOOT_MARGIN_S,
    Classification,
    RebootSetting,
    Selection,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MASK = re.compile(r"^[A-Za-z0-9_.+:*?\[\]!-]+$")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a deployment name (letters, digits, _ . -)")
    return name


def classifications(text: str) -> tuple[Classification, ...]:
    """ "Security,Critical" (case ignored) as classifications; empty words ignored."""
    known = {c.value.lower(): c for c in Classification}
    picked: list[Classification] = []
    for word in filter(None, (w.strip() for w in text.split(","))):
        if word.lower() not in known:
            names = ", ".join(c.value for c in Classification)
            raise UsageError(f"unknown classification {word!r} (one of {names})")
        picked.append(known[word.lower()])
    return tuple(dict.fromkeys(picked))


def masks(found: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Package name globs: fnmatch patterns of the characters package names use."""
    for mask in found:
        if not _MASK.match(mask) or mask.count("[") != mask.count("]"):
            raise UsageError(
                f"{mask!r} is not a package name glob (letters, digits, _ . + : - and "
                "* ? [...] only)"
            )
    return tuple(found)


def check_selection(selection: Selection, reboot: RebootSetting) -> None:
    if reboot is not RebootSetting.REBOOT_ONLY and not (
        selection.classifications or selection.include
    ):
        raise UsageError("select updates by classification and/or include masks")


def check_window(seconds: float, reboot: RebootSetting) -> float:
    """A window must leave room for one package and, when a reboot may follow, for it
    (a package starts only with PACKAGE_MARGIN_S left, a reboot with REBOOT_MARGIN_S)."""
    needed = {
        RebootSetting.NEVER: PACKAGE_MARGIN_S,
        RebootSetting.REBOOT_ONLY: REBOOT_MARGIN_S,
    }.get(reboot, PACKAGE_MARGIN_S + REBOOT_MARGIN_S)
    if seconds < needed:
        raise UsageError(
            f"{seconds / 60:g} minutes is under the margins: a package starts only with "
            f"{PACKAGE_MARGIN_S // 60} minutes left and a reboot with {REBOOT_MARGIN_S // 60}, "
            f"so reboot {reboot} needs at least {needed // 60} minutes"
        )
    return seconds


def window(text: str, reboot: RebootSetting) -> float:
    """ "2h", "90m", "1d" or seconds, as seconds, long enough for the margins."""
    try:
        seconds = parse_duration(text)
    except UsageError:
        raise UsageError(f"{text.strip()!r} is not a duration; use e.g. 90m, 2h, 1d") from None
    return check_window(seconds, reboot)


def when(text: str) -> tuple[str | None, str | None]:
    """A deployment's "when" as typed, as (at, cron): nothing is now (None, None); five
    or six words are a cron expression; anything else is a time to run once at."""
    words = text.split()
    if not words:
        return None, None
    if len(words) in (5, 6):
        return None, " ".join(words)
    return text.strip(), None
