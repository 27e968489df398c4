"""Applying a configuration's resources to a host: one script, one round trip.

For each resource in order the script probes it (`before N`), runs its fix
(`console.state.fixes`: it changes only what differs, printing `did N what` per
change, or `fail N` with the error), then probes it again (`after N`). A resource
whose `requires` failed or was skipped is not touched (`skip N`). Here the sections
become results: `compliant` (nothing to do), `changed` (with the diff of what was
changed: before against declared), `failed` (the command's error, or still not as
declared afterwards) or `skipped`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from console.changes.sections import OutputError, Section
from console.errors import UsageError
from console.state.compare import compare, parse_facts
from console.state.fixes import APPLY_HELPERS, fix_body
from console.state.model import Resource, ResourceResult, ResourceStatus
from console.state.state_script import (
    StateScriptFailed,
    prelude,
    probe_call,
    refuse_unsafe,
    run_script,
)
from console.transports.base import Transport

DEFAULT_LOCK_TIMEOUT = 120.0
DEFAULT_TIMEOUT = 900.0  # package installs are slow; a lock wait comes on top


def build_apply_script(nonce: str, resources: Sequence[Resource], lock_timeout: float) -> str:
    """The apply script of one run: the prelude and helpers, a `fix_N` function per
    resource, and `apply_all`, which runs them in order with their probes."""
    if lock_timeout < 0:
        raise UsageError(f"the package lock timeout must be 0 or more seconds, not {lock_timeout}")
    index_of = {resource.id: index for index, resource in enumerate(resources)}
    functions, steps = [], []
    for index, resource in enumerate(resources):
        refuse_unsafe(resource)
        functions.append(f"fix_{index}() {{\n    {fix_body(resource)}\n}}")
        steps.append(_step(index, resource, _required(resource, index_of, index)))
    helpers = APPLY_HELPERS.replace("@LOCK@", str(math.ceil(lock_timeout)))
    body = "\n".join(steps) or "    :"
    return (
        f"{prelude(nonce)}{helpers}\n" + "\n".join(functions) + "\n"
        f"apply_all() {{\n{body}\n}}\napply_all </dev/null\nsec end\n"
    )


def _required(resource: Resource, index_of: dict[str, int], index: int) -> list[int]:
    required = []
    for name in resource.requires:
        if index_of.get(name, index) >= index:
            raise UsageError(f"{resource.id} requires {name}, which is not an earlier resource")
        required.append(index_of[name])
    return required


def _step(index: int, resource: Resource, required: list[int]) -> str:
    probe = probe_call(resource)
    run = [f"N={index}"]
    if probe is not None:
        run += [f"sec before {index}", probe]
    run += [f"sec begin {index}", f"fix_{index} || bad_{index}=1"]
    if probe is not None:
        run += [f"sec after {index}", probe]
    if not required:
        return "    " + "\n    ".join(run)
    blocked = "".join(f"${{bad_{n}-}}" for n in required)
    inner = "\n        ".join(run)
    return (
        f'    if [ -n "{blocked}" ]; then\n        sec skip {index}; bad_{index}=1\n'
        f"    else\n        {inner}\n    fi"
    )


@dataclass
class _Outcome:
    """What the script printed for one resource."""

    skipped: bool = False
    began: bool = False
    did: list[str] = field(default_factory=list)
    failure: list[str] | None = None
    before: Section | None = None
    after: Section | None = None


def parse_apply_output(
    sections: list[Section], resources: Sequence[Resource]
) -> list[ResourceResult]:
    """One result per resource, in order; OutputError names a section out of place."""
    outcomes = [_Outcome() for _ in resources]
    for section in sections:
        index_text, _, what = section.argument.partition(" ")
        if not index_text.isdigit() or int(index_text) >= len(resources):
            raise section.fail("no such resource")
        _record(outcomes[int(index_text)], section, what)
    return [
        _result(resource, outcome) for resource, outcome in zip(resources, outcomes, strict=True)
    ]


def _record(outcome: _Outcome, section: Section, what: str) -> None:
    if section.name == "did" and not section.lines:
        outcome.did.append(what)
    elif section.name == "fail":
        outcome.failure = [line for line in section.lines if line.strip()]
    elif section.name in ("before", "after") and getattr(outcome, section.name) is None:
        setattr(outcome, section.name, section)
    elif section.name in ("skip", "begin") and not section.lines:
        outcome.skipped |= section.name == "skip"
        outcome.began |= section.name == "begin"
    else:
        raise section.fail("unexpected section or output")


def _result(resource: Resource, outcome: _Outcome) -> ResourceResult:
    if outcome.skipped:
        return ResourceResult(
            resource.id, resource.type, ResourceStatus.SKIPPED,
            message=f"not applied: it requires {', '.join(resource.requires)}, "
            "which failed or was skipped",
        )  # fmt: skip
    if not outcome.began:
        raise OutputError(f"apply output: nothing for {resource.id}")
    before = _compared(resource, outcome.before)
    after = _compared(resource, outcome.after)
    if outcome.failure is not None:
        message = "\n".join(outcome.failure) or "failed"
        base = after or before or ResourceResult(resource.id, resource.type, ResourceStatus.FAILED)
        return replace(base, status=ResourceStatus.FAILED, message=message)
    done = "; ".join(outcome.did)
    if after is not None and after.status is not ResourceStatus.COMPLIANT:
        what = f"after: {done}" if done else "and apply found nothing to change"
        return replace(after, status=ResourceStatus.FAILED, message=f"still not as declared {what}")
    if not outcome.did:
        return after or ResourceResult(resource.id, resource.type, ResourceStatus.COMPLIANT)
    changed = ResourceResult(resource.id, resource.type, ResourceStatus.CHANGED, message=done)
    if before is None or after is None:
        return changed
    return replace(changed, expected=after.expected, actual=after.actual, diff=before.diff)


def _compared(resource: Resource, section: Section | None) -> ResourceResult | None:
    if section is None:
        return None
    facts = parse_facts(section)
    try:
        return compare(resource, facts)
    except (KeyError, ValueError, IndexError) as error:
        raise section.fail(f"facts of {resource.id} are incomplete ({error})") from error


async def apply_resources(
    transport: Transport,
    host_name: str,
    resources: Sequence[Resource],
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ResourceResult]:
    """Bring every resource on `host_name` to its declared state, in order.

    An unreachable host raises the transport's HostError unchanged; a script that
    fails or prints what cannot be read raises StateScriptFailed naming the section;
    values that cannot go into a script raise UsageError before anything runs."""
    nonce = secrets.token_hex(16)
    script = build_apply_script(nonce, resources, lock_timeout)
    sections = await run_script(transport, host_name, script, nonce, timeout, "apply")
    try:
        return parse_apply_output(sections, resources)
    except OutputError as error:
        raise StateScriptFailed(host_name, f"apply: {error}") from error
