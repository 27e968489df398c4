"""Reading zypper's pending package updates and patches.

`zypper list-updates` prints a table `S | Repository | Name | Current Version |
Available Version | Arch`; `zypper list-patches` a table `Repository | Name | Category |
Severity | Interactive | Status | Summary` (newer zypper adds columns such as `Since`),
sometimes twice: "Needed software management updates will be installed first", then
"The following updates are also available". Columns are found by their header name, so
an added column does not shift the others; a row with a different number of cells, or a
line that is neither a known message, a header, a rule nor a row, raises OutputError
naming the section and the line.

Patch categories (SUSE): security, recommended, optional, feature, document, yast. A
security patch of critical severity is Critical, any other Security; recommended is a
bug fix; optional and feature are enhancements.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from console.changes.sections import Section
from console.updates.model import Classification

_MESSAGES = re.compile(
    r"\s*(Loading repository data|Reading installed packages|Refreshing service|"
    r"Retrieving repository|Building repository|No updates found|"
    r"Needed software management updates will be installed first|"
    r"The following updates are also available|Repository .* is up to date|"
    r"All repositories have been refreshed|Found \d+ applicable patch)"
)
_RULE = re.compile(r"-+(\+-+)+#?\Z")
_CATEGORIES = {
    "recommended": Classification.BUGFIX,
    "optional": Classification.ENHANCEMENT,
    "feature": Classification.ENHANCEMENT,
}


@dataclass(frozen=True)
class ZypperUpdate:
    repository: str
    name: str
    installed: str
    available: str
    arch: str


@dataclass(frozen=True)
class Patch:
    repository: str
    name: str
    category: str
    severity: str
    status: str
    summary: str

    @property
    def classification(self) -> Classification:
        if self.category == "security":
            critical = self.severity == "critical"
            return Classification.CRITICAL if critical else Classification.SECURITY
        return _CATEGORIES.get(self.category, Classification.OTHER)


def parse_list_updates(section: Section) -> list[ZypperUpdate]:
    columns = ("Repository", "Name", "Current Version", "Available Version", "Arch")
    return [
        ZypperUpdate(*(row[column] for column in columns)) for row in _table_rows(section, columns)
    ]


def parse_list_patches(section: Section) -> list[Patch]:
    columns = ("Repository", "Name", "Category", "Severity", "Status", "Summary")
    return [Patch(*(row[column] for column in columns)) for row in _table_rows(section, columns)]


def _table_rows(section: Section, needed: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """The rows of every table in the section as {header: cell}, each table's header
    holding every column in `needed`."""
    header: list[str] | None = None
    for line in section.lines:
        if not line.strip() or _MESSAGES.match(line) or _RULE.match(line.strip()):
            continue
        cells = [cell.strip() for cell in line.split("|")]
        if all(column in cells for column in needed):
            header = cells
            continue
        if header is None:
            raise section.fail(f"expected a table with columns {', '.join(needed)}", line)
        if len(cells) != len(header):
            raise section.fail(f"expected {len(header)} cells separated by |", line)
        yield dict(zip(header, cells, strict=True))
