"""Reading dnf's (and yum's) pending updates and update advisories.

`dnf -q check-update` (and `yum -q check-update`) prints one `name.arch version repo`
row per pending package, in columns; a long name or version pushes the rest of the row
onto the next line, so rows are read as a stream of words taken three at a time, and a
row cut short raises. After an `Obsoleting Packages` line dnf lists obsoleting packages,
each followed by an indented row of the installed package it replaces (`@System`), which
is not an update.

`dnf updateinfo list --available` (`yum updateinfo list available`) prints `ID TYPE NEVRA`
rows, TYPE being `Critical/Sec.`, `Important/Sec.`, `Moderate/Sec.`, `Low/Sec.`, `Sec.`,
`bugfix`, `enhancement`, ...: a security advisory of Critical severity makes the package
Critical, any other security advisory Security, then Bugfix, Enhancement, else Other.

Both parsers skip the chatter a run without `-q` prints (plugins, mirrors, metadata age)
and raise OutputError, naming the section and the line, on anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from console.changes.sections import Section
from console.updates.model import Classification

_NOISE = re.compile(
    r"(Loaded plugins:|Loading mirror speeds|Last metadata expiration check|"
    r"updateinfo list done|Security: .* is an installed security update|"
    r"\s+: |\s+\* \S+: )"
)
_NAME_ARCH = re.compile(r"(?P<name>\S+)\.(?P<arch>[A-Za-z0-9_]+)\Z")
_EVR = re.compile(r"(?:\d+:)?[^\s:-]+-[^\s:-]+\Z")
_NEVRA = re.compile(r"(?P<name>\S+)-(?P<evr>(?:\d+:)?[^\s:-]+-[^\s:-]+)\.(?P<arch>[A-Za-z0-9_]+)\Z")
_RANK = {
    Classification.CRITICAL: 4,
    Classification.SECURITY: 3,
    Classification.BUGFIX: 2,
    Classification.ENHANCEMENT: 1,
    Classification.OTHER: 0,
}


@dataclass(frozen=True)
class RpmUpdate:
    name: str
    arch: str
    available: str  # [epoch:]version-release
    repo: str


@dataclass(frozen=True)
class Advisory:
    id: str
    kind: str  # the TYPE column as printed, e.g. "Moderate/Sec."
    name: str
    arch: str
    version: str

    @property
    def classification(self) -> Classification:
        if self.kind.endswith("Sec.") or self.kind.lower() == "security":
            return (
                Classification.CRITICAL if self.kind == "Critical/Sec." else Classification.SECURITY
            )
        return {"bugfix": Classification.BUGFIX, "enhancement": Classification.ENHANCEMENT}.get(
            self.kind.lower(), Classification.OTHER
        )


def parse_check_update(section: Section) -> list[RpmUpdate]:
    """The pending packages of a check-update listing (wrapped rows joined)."""
    updates = []
    obsoleting = False
    for words, line in _rows(section, stop_words=("Obsoleting", "Packages")):
        if words == ["Obsoleting", "Packages"]:
            obsoleting = True
            continue
        name_arch, version, repo = words
        if obsoleting and repo.startswith("@"):
            continue  # the installed package an obsoleting one replaces
        match = _NAME_ARCH.match(name_arch)
        if match is None or not _EVR.match(version):
            raise section.fail("expected `name.arch version repository`", line)
        updates.append(RpmUpdate(match["name"], match["arch"], version, repo))
    return updates


def parse_updateinfo(section: Section) -> list[Advisory]:
    """The advisories of an updateinfo listing, one per advisory and package."""
    advisories = []
    for words, line in _rows(section):
        advisory_id, kind, nevra = words
        match = _NEVRA.match(nevra)
        if match is None:
            raise section.fail("expected `ADVISORY TYPE name-version-release.arch`", line)
        advisories.append(Advisory(advisory_id, kind, match["name"], match["arch"], match["evr"]))
    return advisories


def classification_of(update: RpmUpdate, advisories: Iterable[Advisory]) -> Classification:
    """The highest classification among the advisories naming this package and arch."""
    found = [
        a.classification for a in advisories if a.name == update.name and a.arch == update.arch
    ]
    return max(found, key=_RANK.__getitem__, default=Classification.OTHER)


def _rows(section: Section, stop_words: tuple[str, ...] = ()) -> Iterator[tuple[list[str], str]]:
    """Rows of three words, a row wrapped over several lines joined; a line of exactly
    `stop_words` is passed through alone. Yields the words and the row's first line."""
    pending: list[str] = []
    first = ""
    for line in section.lines:
        if not line.strip() or _NOISE.match(line):
            continue
        words = line.split()
        if not pending and stop_words and tuple(words) == stop_words:
            yield words, line
            continue
        if not pending:
            first = line
        pending += words
        if len(pending) > 3:
            raise section.fail("expected three columns", first)
        if len(pending) == 3:
            yield pending, first
            pending = []
    if pending:
        raise section.fail("a row is cut short", first)
