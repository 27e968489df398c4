"""The sections of the collector's output: cut at this run's marker lines.

A section starts with a line `#opsconsole-<nonce># <name> [argument]`; the nonce is
random per run, so no line a host prints (file content, a package description) can
start one. Every parser error names the section it was found in.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class OutputError(ValueError):
    """The collector's output does not have the expected shape; says where."""


def marker_for(nonce: str) -> str:
    """The marker that starts every section of the run with this nonce."""
    return f"#opsconsole-{nonce}#"


@dataclass
class Section:
    name: str
    argument: str
    lines: list[str] = field(default_factory=list)

    def fail(self, problem: str, line: str | None = None) -> OutputError:
        where = f"section {self.name}" + (f" {self.argument}" if self.argument else "")
        quoted = f": {line[:200]!r}" if line is not None else ""
        return OutputError(f"collector output, {where}: {problem}{quoted}")


def split_sections(output: bytes, nonce: str) -> list[Section]:
    """Cut the output at this run's marker lines; lines before the first marker (a
    login script's chatter) belong to no section and are dropped. The last section
    must be `end`, or the output was cut short."""
    marker = marker_for(nonce) + " "
    sections: list[Section] = []
    for line in output.decode("utf-8", errors="replace").splitlines():
        if line.startswith(marker):
            name, _, argument = line[len(marker) :].strip().partition(" ")
            sections.append(Section(name, argument.strip()))
        elif sections:
            sections[-1].lines.append(line)
    if not sections or sections[-1].name != "end":
        last = sections[-1].name if sections else "none"
        raise OutputError(f"collector output ended early (last section: {last})")
    return sections[:-1]


def index_sections(sections: list[Section], repeating: frozenset[str]) -> dict[str, Section]:
    """The sections by name, except those in `repeating` (one per tracked file);
    any other name seen twice is an error, so a section is never silently lost."""
    found: dict[str, Section] = {}
    for section in sections:
        if section.name in repeating:
            continue
        if section.name in found:
            raise section.fail("appears twice")
        found[section.name] = section
    return found


def lines_of(sections: dict[str, Section], name: str) -> list[str]:
    """The lines of section `name`, none when the host did not print it."""
    section = sections.get(name)
    return section.lines if section else []
