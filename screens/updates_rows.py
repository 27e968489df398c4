"""The Updates pane's rows: one per host, how a row reads, which rows a filter keeps
and in which order they are listed.

Plain functions over `Assessment`, kept apart from the widget so that filtering and
sorting 10,000 hosts is a list comprehension and a sort, nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from console.updates.model import Assessment, Classification

SORTS = ("host", "compliance")
FILTER_TERMS = ("noncompliant", "reboot")
COMPLIANT_COLUMN = 7
# The words carry the meaning; the colour only helps (16 colours, NO_COLOR).
CELL_CLASS = {"NO": "status--failed", "yes": "status--ok", "?": "status--muted"}


def updates_class(column: int, text: str) -> str | None:
    if column == COMPLIANT_COLUMN:
        return CELL_CLASS.get(text.strip())
    return "status--muted" if text in ("never", "-") else None


def assessed_at(assessment: Assessment) -> str:
    """Month, day, hour and minute, or `never`: the short time a column has room for."""
    if not assessment.assessed:
        return "never"
    return time.strftime("%m-%d %H:%M", time.localtime(assessment.assessed))


def known(assessment: Assessment) -> bool:
    """Whether the counts say anything: a host never assessed, or whose only
    assessment failed, has no list of updates to count."""
    return bool(assessment.assessed) and not (assessment.error and not assessment.manager)


def compliance(assessment: Assessment) -> str:
    """`yes`, `NO` (a Critical or Security update pending) or `?` (unknown: never
    assessed, or the last assessment failed)."""
    if not known(assessment) or assessment.error:
        return "NO" if _urgent(assessment) else "?"
    return "yes" if assessment.compliant else "NO"


def _urgent(assessment: Assessment) -> bool:
    return bool(
        assessment.count(Classification.CRITICAL) or assessment.count(Classification.SECURITY)
    )


def cells(assessment: Assessment) -> tuple[str, ...]:
    critical = assessment.count(Classification.CRITICAL)
    security = assessment.count(Classification.SECURITY)
    total = len(assessment.updates)
    counts = (str(critical), str(security), str(total - critical - security), str(total))
    return (
        assessment.host,
        *(counts if known(assessment) else ("-",) * 4),
        "yes" if assessment.reboot_pending else "-",
        assessed_at(assessment),
        compliance(assessment),
    )


@dataclass(frozen=True)
class UpdatesFilter:
    """`/` text: `noncompliant` and `reboot` terms (all must hold; a prefix of 3 letters
    or more will do, case ignored) and words that must each be in the host name."""

    noncompliant: bool = False
    reboot: bool = False
    words: tuple[str, ...] = ()

    def keeps(self, assessment: Assessment) -> bool:
        if self.noncompliant and compliance(assessment) == "yes":
            return False
        if self.reboot and not assessment.reboot_pending:
            return False
        host = assessment.host.lower()
        return all(word in host for word in self.words)


def parse_filter(text: str) -> UpdatesFilter:
    terms = set()
    words: list[str] = []
    for word in text.lower().split():
        term = next((t for t in FILTER_TERMS if len(word) >= 3 and t.startswith(word)), None)
        if term is None:
            words.append(word)
        else:
            terms.add(term)
    return UpdatesFilter("noncompliant" in terms, "reboot" in terms, tuple(words))


def _need(assessment: Assessment) -> tuple[int, int, int, int, str]:
    """Least compliant first: urgent updates pending, then unknown, then the most
    Critical, Security and pending updates; the host name breaks ties."""
    state = compliance(assessment)
    rank = {"NO": 0, "?": 1, "yes": 2}[state]
    return (
        rank,
        -assessment.count(Classification.CRITICAL),
        -assessment.count(Classification.SECURITY),
        -len(assessment.updates),
        assessment.host,
    )


def ordered(assessments: Sequence[Assessment], sort: str) -> list[Assessment]:
    """By host, or least compliant first."""
    if sort == "compliance":
        return sorted(assessments, key=_need)
    return sorted(assessments, key=lambda a: a.host)
