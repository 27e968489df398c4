"""Checking a host against a configuration's resources: one read-only script, one
round trip.

The script (`build_check_script`) runs one probe per resource (`console.state.
state_script`), each in its own section `probe N`; nothing in it writes anywhere (no
temp file, no package list refresh), and a `command` resource's command never runs:
only its `check`, and without one the result is `unknown`. The comparison with what
was declared happens here (`console.state.compare`), so a report shows expected,
actual and a diff for every drifted resource.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from console.changes.sections import OutputError, Section
from console.state.compare import compare, parse_facts, unknown_command
from console.state.model import Resource, ResourceResult
from console.state.state_script import (
    StateScriptFailed,
    prelude,
    probe_call,
    refuse_unsafe,
    run_script,
)
from console.transports.base import Transport

DEFAULT_TIMEOUT = 120.0


def build_check_script(nonce: str, resources: Sequence[Resource]) -> str:
    """The check script of one run: the prelude, then a `probe N` section per resource
    that a probe can tell, all inside a function run with stdin from /dev/null."""
    calls = []
    for index, resource in enumerate(resources):
        refuse_unsafe(resource)
        call = probe_call(resource)
        if call is not None:
            calls.append(f"    sec probe {index}\n    {call}")
    body = "\n".join(calls) or "    :"
    return f"{prelude(nonce)}\ncheck_all() {{\n{body}\n}}\ncheck_all </dev/null\nsec end\n"


def parse_check_output(
    sections: list[Section], resources: Sequence[Resource]
) -> list[ResourceResult]:
    """One result per resource, in order, from the script's `probe N` sections.

    A section the script should not print, one missing or repeated, or facts that do
    not parse raise OutputError naming the section."""
    found: dict[int, Section] = {}
    for section in sections:
        index = _probe_index(section, len(resources))
        if index in found:
            raise section.fail("appears twice")
        found[index] = section
    results = []
    for index, resource in enumerate(resources):
        probed = found.get(index)
        if probed is not None:
            results.append(_compared(probed, resource))
        elif probe_call(resource) is None:
            results.append(unknown_command(resource))
        else:
            raise OutputError(f"check output: no section for {resource.id} (probe {index})")
    return results


def _probe_index(section: Section, count: int) -> int:
    if section.name != "probe" or not section.argument.isdigit():
        raise section.fail("unexpected section")
    index = int(section.argument)
    if index >= count:
        raise section.fail(f"there are only {count} resources")
    return index


def _compared(section: Section, resource: Resource) -> ResourceResult:
    facts = parse_facts(section)
    try:
        return compare(resource, facts)
    except (KeyError, ValueError, IndexError) as error:
        raise section.fail(f"facts of {resource.id} are incomplete ({error})") from error


async def check_resources(
    transport: Transport,
    host_name: str,
    resources: Sequence[Resource],
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ResourceResult]:
    """The state of every resource on `host_name`, in order, changing nothing.

    An unreachable host raises the transport's HostError unchanged; a script that
    fails or prints what cannot be read raises StateScriptFailed naming the section;
    a resource whose values cannot go into a script raises UsageError."""
    nonce = secrets.token_hex(16)
    script = build_check_script(nonce, resources)
    sections = await run_script(transport, host_name, script, nonce, timeout, "check")
    try:
        return parse_check_output(sections, resources)
    except OutputError as error:
        raise StateScriptFailed(host_name, f"check: {error}") from error
