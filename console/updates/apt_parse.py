"""Reading apt's simulated upgrade and its Release files into classified pending updates.

`apt-get -s -qq dist-upgrade` prints one `Inst` line per package the upgrade would
unpack, e.g. `Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian:12.5/stable,
Debian-Security:12/stable-security [amd64])`: the installed version in brackets (absent
for a package the upgrade newly installs), then the candidate and where it comes from.
Each origin is apt's `Label:Version/Suite` of one Release file (`Label:Suite` when the
Release has no Version, the Suite alone when it has no Label), joined by ", ".

Classification follows unattended-upgrades, which decides from the Release fields of the
repository a candidate comes from: Security when any of the candidate's repositories has a
Suite or Codename ending in `-security` or a Label containing `Security`, else Other. The
Codename is only in the Release file, so the origin strings are matched to the Release
fields the script printed from `/var/lib/apt/lists/*Release` (and `*InRelease`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from console.changes.sections import Section
from console.updates.model import Classification, PendingUpdate

RELEASE_FIELDS = ("Origin", "Label", "Suite", "Codename", "Version")

# Inst NAME [OLD] (NEW ORIGINS [ARCH]) and, when the simulation reports broken
# dependencies of the moment, a trailing [..] list.
_INST = re.compile(
    r"Inst (?P<name>\S+)(?: \[(?P<old>[^\]]*)\])? \((?P<new>\S+) (?P<origins>.*) "
    r"\[(?P<arch>[^\]]+)\]\)(?: \[.*\])?\Z"
)
_OTHER_ACTIONS = ("Conf ", "Remv ", "Purg ")  # configure/remove steps: not pending updates


@dataclass(frozen=True)
class Release:
    """The fields of one Release (or InRelease) file in apt's lists."""

    file: str
    origin: str = ""
    label: str = ""
    suite: str = ""
    codename: str = ""
    version: str = ""

    @property
    def apt_origin(self) -> str:
        """How apt names this repository in an Inst line (pkgCache::VerIterator::RelStr)."""
        archive = f"{self.version}/{self.suite}" if self.version else self.suite
        return f"{self.label}:{archive}" if self.label else archive

    @property
    def security(self) -> bool:
        return is_security(self.suite, self.codename, self.label)


@dataclass(frozen=True)
class InstLine:
    name: str
    installed: str
    available: str
    arch: str
    origins: tuple[str, ...]


def is_security(suite: str, codename: str, label: str) -> bool:
    """unattended-upgrades' security rule on a repository's Release fields."""
    return suite.endswith("-security") or codename.endswith("-security") or "Security" in label


def parse_simulate(section: Section) -> list[InstLine]:
    """Every `Inst` line of the simulation; `Conf`, `Remv` and `Purg` lines are known
    and skipped, any other line raises OutputError naming the section and the line."""
    found = []
    for line in section.lines:
        if not line.strip() or line.startswith(_OTHER_ACTIONS):
            continue
        match = _INST.match(line)
        if match is None:
            raise section.fail("expected an Inst, Conf, Remv or Purg line", line)
        found.append(
            InstLine(
                name=match["name"],
                installed=match["old"] or "",
                available=match["new"],
                arch=match["arch"],
                origins=tuple(match["origins"].split(", ")),
            )
        )
    return found


def parse_release(section: Section) -> Release:
    """The `Field: value` lines the script printed from one Release file (only the
    fields in RELEASE_FIELDS); anything else raises OutputError."""
    fields: dict[str, str] = {}
    for line in section.lines:
        key, colon, value = line.partition(":")
        if not colon or key not in RELEASE_FIELDS:
            raise section.fail(f"expected one of the fields {', '.join(RELEASE_FIELDS)}", line)
        fields[key.lower()] = value.strip()
    return Release(file=section.argument, **fields)


def classify(inst: InstLine, releases: Iterable[Release]) -> PendingUpdate:
    """The pending update of one Inst line, classified by the Release files its
    candidate's origins name; `source` is the security origin when there is one."""
    by_origin: dict[str, list[Release]] = {}
    for release in releases:
        by_origin.setdefault(release.apt_origin, []).append(release)
    security = [o for o in inst.origins if _origin_is_security(o, by_origin.get(o, []))]
    return PendingUpdate(
        name=inst.name,
        installed=inst.installed,
        available=inst.available,
        classification=Classification.SECURITY if security else Classification.OTHER,
        source=(security or list(inst.origins))[0],
        arch=inst.arch,
    )


def _origin_is_security(origin: str, matched: list[Release]) -> bool:
    """A matched Release decides; an origin with no Release in the lists (a repository
    without one prints its site or `localhost`) is read as apt printed it."""
    if matched:
        return any(release.security for release in matched)
    label, _, archive = origin.rpartition(":")
    return is_security(archive.rpartition("/")[2], "", label)
