"""Comparing what a probe found on a host with what a resource declares.

A probe (`console.state.state_script`) prints raw facts as `key=value` lines; here they
become a ResourceResult: compliant or drifted (or failed when the host could not tell),
`expected` and `actual` as short dicts holding only what was declared, and a diff a
person reads like `diff -u`: file content line by line (on host → declared), plus the
attributes that differ (mode, owner, group, state, version, running...).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from console.changes.sections import Section
from console.state.model import Resource, ResourceResult, ResourceStatus

# What `systemctl is-enabled` says of a unit that starts at boot.
SYSTEMD_ENABLED = frozenset({"enabled", "enabled-runtime", "static", "alias", "indirect"})
NO_CHECK = "no `check` given: a check cannot tell, and never runs the command itself"

Facts = Mapping[str, str]


def parse_facts(section: Section) -> dict[str, str]:
    """The `key=value` lines of a probe section; any other line is an error."""
    facts: dict[str, str] = {}
    for line in section.lines:
        key, equals, value = line.partition("=")
        if not equals or not key.isidentifier():
            raise section.fail("expected key=value", line)
        if key in facts:
            raise section.fail(f"{key} appears twice", line)
        facts[key] = value
    return facts


def compare(resource: Resource, facts: Facts) -> ResourceResult:
    """The result of checking `resource` against the facts its probe printed."""
    if "error" in facts:
        return _result(resource, ResourceStatus.FAILED, message=facts["error"])
    return _COMPARE[resource.type](resource, facts)


def unknown_command(resource: Resource) -> ResourceResult:
    return _result(resource, ResourceStatus.UNKNOWN, message=NO_CHECK)


def _result(
    resource: Resource,
    status: ResourceStatus,
    expected: Any = None,
    actual: Any = None,
    diff: str = "",
    message: str = "",
) -> ResourceResult:
    return ResourceResult(resource.id, resource.type, status, expected, actual, diff, message)


def _verdict(
    resource: Resource, expected: dict[str, Any], actual: dict[str, Any], message: str = ""
) -> ResourceResult:
    """Compliant when every declared value is the actual one; else drifted with the
    differing values as a diff."""
    differing = [key for key in expected if actual.get(key) != expected[key]]
    if not differing:
        return _result(resource, ResourceStatus.COMPLIANT, expected, actual, message=message)
    diff = attribute_diff(resource.identity, actual, expected)
    return _result(resource, ResourceStatus.DRIFTED, expected, actual, diff, message)


def attribute_diff(label: str, actual: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    """`-key: actual` / `+key: declared` lines for each value that differs."""
    lines = [f"--- {label} (on host)", f"+++ {label} (declared)"]
    lines += _attribute_hunk(actual, expected)
    return "\n".join(lines) + "\n"


def _attribute_hunk(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    differing = [key for key in expected if actual.get(key) != expected[key]]
    if not differing:
        return []
    return ["@@ attributes @@"] + [
        line
        for key in differing
        for line in (f"-{key}: {_shown(actual.get(key))}", f"+{key}: {_shown(expected[key])}")
    ]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "(none)" if value is None else str(value)


# --- file and directory -----------------------------------------------------------------


def _declared_attrs(resource: Resource) -> dict[str, str]:
    props = resource.properties
    attrs = {key: str(props[key]) for key in ("owner", "group") if key in props}
    if "mode" in props:
        attrs = {"mode": f"{int(str(props['mode']), 8):04o}", **attrs}
    return attrs


def _actual_attrs(meta: str) -> tuple[str, dict[str, str]]:
    kind, mode, owner, group, _size = meta.split("|")
    return kind, {"mode": f"{int(mode, 8):04o}", "owner": owner, "group": group}


def _compare_directory(resource: Resource, facts: Facts) -> ResourceResult:
    state = resource.properties.get("state", "present")
    if facts["exists"] == "0" or state == "absent":
        return _compare_presence(resource, facts, state)
    kind, actual = _actual_attrs(facts["meta"])
    expected = {"state": "present", **_declared_attrs(resource)}
    actual = {"state": "present" if kind == "directory" else kind, **actual}
    return _verdict(resource, expected, actual)


def _compare_presence(resource: Resource, facts: Facts, state: str) -> ResourceResult:
    present = facts["exists"] == "1"
    actual = {"state": "present" if present else "absent"}
    return _verdict(resource, {"state": state}, actual)


def _compare_file(resource: Resource, facts: Facts) -> ResourceResult:
    props = resource.properties
    path = resource.identity
    state = props.get("state", "present")
    declared = str(props["content"]).encode() if "content" in props else None
    if facts["exists"] == "0" or state == "absent":
        result = _compare_presence(resource, facts, state)
        if result.status is ResourceStatus.DRIFTED:
            old = _content_of(facts) if state == "absent" else b""
            new = declared if state == "present" else b""
            if old is not None and new is not None:
                states = _attribute_hunk(result.actual, result.expected)
                result = _with_diff(result, content_diff(path, old, new, states))
        return result
    kind, attrs = _actual_attrs(facts["meta"])
    if not kind.startswith("regular"):
        return _verdict(resource, {"state": "present"}, {"state": kind})
    expected: dict[str, Any] = {"state": "present", **_declared_attrs(resource)}
    actual: dict[str, Any] = {"state": "present", **{k: attrs[k] for k in expected if k in attrs}}
    on_host = _content_of(facts)
    message = ""
    if declared is not None:
        expected["content"] = _summary(declared, hashlib.sha256(declared).hexdigest())
        actual["content"] = _summary(on_host, facts["sha256"], int(facts["meta"].split("|")[4]))
        if on_host is None and expected["content"] != actual["content"]:
            message = "content differs; the file is too large for a diff"
    result = _verdict(resource, expected, actual, message)
    if result.status is ResourceStatus.DRIFTED:
        old, new = (
            (on_host, declared) if declared is not None and on_host is not None else (b"", b"")
        )
        attributes = _attribute_hunk(attrs, _declared_attrs(resource))
        result = _with_diff(result, content_diff(path, old, new, attributes))
    return result


def _with_diff(result: ResourceResult, diff: str) -> ResourceResult:
    return replace(result, diff=diff)


def _content_of(facts: Facts) -> bytes | None:
    """The file's content as the probe sent it, None when it was too large to send."""
    if "content" not in facts:
        return None
    try:
        return base64.b64decode(facts["content"], validate=True)
    except (binascii.Error, ValueError):
        return None


def _summary(content: bytes | None, sha256: str, size: int | None = None) -> str:
    length = len(content) if content is not None else size
    return f"{length} bytes, sha256 {sha256[:12]}"


def content_diff(path: str, old: bytes, new: bytes, attributes: list[str] | None = None) -> str:
    """A unified diff of a file's content on the host (`old`) against the declared
    content (`new`), then the attributes that differ; binary content is named, not
    shown."""
    lines = [f"--- {path} (on host)", f"+++ {path} (declared)"]
    if old != new:
        if b"\0" in old or b"\0" in new:
            lines += ["@@ content @@", "-(binary content)", "+(binary content)"]
        else:
            hunks = difflib.unified_diff(_lines(old), _lines(new), lineterm="", n=3)
            lines += [line.rstrip("\n") for line in list(hunks)[2:]]
    lines += attributes or []
    return "\n".join(lines) + "\n"


def _lines(content: bytes) -> list[str]:
    """Lines with their newline, git's marker after a last line that has none, so a
    missing final newline shows as a difference."""
    text = content.decode("utf-8", errors="replace")
    if not text:
        return []
    lines = [line + "\n" for line in text.split("\n")]
    if text.endswith("\n"):
        return lines[:-1]
    lines[-1] = lines[-1][:-1] + "\n\\ No newline at end of file\n"
    return lines


# --- package and service ----------------------------------------------------------------


def _compare_package(resource: Resource, facts: Facts) -> ResourceResult:
    props = resource.properties
    if facts["manager"] == "none":
        return _result(resource, ResourceStatus.FAILED, message="no dpkg-query or rpm on the host")
    status, _, version = facts["status"].partition("|")
    installed = len(status) > 1 and status[1] in "iWt"
    actual: dict[str, Any] = {"state": "present" if installed else "absent"}
    if installed:
        actual["version"] = version
    if "version" in props:
        expected: dict[str, Any] = {"state": "present", "version": str(props["version"])}
    elif props.get("state") == "latest":
        newer = facts.get("newer") == "1"
        expected = {"state": "present", "version": "latest"}
        if installed:
            cand = facts.get("candidate", "")
            actual["version"] = f"{version} (candidate {cand})" if newer else "latest"
    else:
        expected = {"state": props.get("state", "present")}
    return _verdict(resource, expected, actual)


def _compare_service(resource: Resource, facts: Facts) -> ResourceResult:
    props = resource.properties
    expected = {key: props[key] for key in ("running", "enabled") if key in props}
    if facts["manager"] == "systemd":
        exists = facts["load"] not in ("not-found", "")
        running = facts["active"] in ("active", "reloading")
        enabled = facts["enabled"] in SYSTEMD_ENABLED
    else:
        exists = facts["exists"] == "1"
        code = int(facts.get("status", "3"))
        if exists and code not in (0, 1, 2, 3):
            message = f"/etc/init.d/{resource.identity} status exited {code} (unknown state)"
            return _result(resource, ResourceStatus.FAILED, expected, message=message)
        running, enabled = code == 0 and exists, facts.get("enabled") == "enabled"
    actual = {"running": running, "enabled": enabled}
    return _verdict(resource, expected, actual, "" if exists else "no such service")


# --- lines, users, groups, commands -----------------------------------------------------


def _compare_lines(resource: Resource, facts: Facts) -> ResourceResult:
    props = resource.properties
    line, match = str(props.get("line", "")), str(props.get("match", ""))
    state = props.get("state", "present")
    exists = facts["exists"] == "1"
    exact = exists and int(facts["exact"]) > 0
    matched = int(facts["matched"]) if exists else 0
    first = base64.b64decode(facts.get("first_line", "")).decode(errors="replace")
    first = first[:-1] if first.endswith("\n") else first
    if state == "absent":
        ok = matched == 0 if match else not exact
    else:
        ok = first == line if matched else exact
    expected = {"state": state, "line": line, **({"match": match} if match else {})}
    actual: dict[str, Any] = {"line present": exact}
    if match:
        actual["matching line"] = first if matched else None
        actual["matching lines"] = matched
    if not exists:
        actual = {"file": "absent"}
    if ok:
        return _result(resource, ResourceStatus.COMPLIANT, expected, actual)
    old = [first] if matched else ([line] if state == "absent" else [])
    new = [] if state == "absent" else [line]
    body = ["@@ lines @@", *(f"-{text}" for text in old), *(f"+{text}" for text in new)]
    diff = "\n".join([f"--- {resource.identity} (on host)", f"+++ {resource.identity} (declared)"])
    return _result(
        resource, ResourceStatus.DRIFTED, expected, actual, f"{diff}\n" + "\n".join(body) + "\n"
    )


def _compare_user(resource: Resource, facts: Facts) -> ResourceResult:
    props = resource.properties
    state = props.get("state", "present")
    if not facts["passwd"] or state == "absent":
        return _verdict(
            resource, {"state": state}, {"state": "present" if facts["passwd"] else "absent"}
        )
    fields = facts["passwd"].split(":")
    declared_groups = sorted(str(g) for g in props.get("groups", []))
    member_of = set(facts["groups"].split())
    expected: dict[str, Any] = {"state": "present"}
    actual: dict[str, Any] = {"state": "present"}
    for key, value in (("home", fields[5]), ("shell", fields[6])):
        if key in props:
            expected[key], actual[key] = str(props[key]), value
    if declared_groups:
        expected["groups"] = declared_groups
        actual["groups"] = [g for g in declared_groups if g in member_of]
    return _verdict(resource, expected, actual)


def _compare_group(resource: Resource, facts: Facts) -> ResourceResult:
    state = resource.properties.get("state", "present")
    return _verdict(
        resource, {"state": state}, {"state": "present" if facts["group"] else "absent"}
    )


def _compare_command(resource: Resource, facts: Facts) -> ResourceResult:
    """Compliant when `check` exits 0; its last lines of output are the message."""
    output = base64.b64decode(facts.get("output", "")).decode(errors="replace").strip()
    actual = {"check exit status": int(facts["rc"])}
    return _verdict(resource, {"check exit status": 0}, actual, output)


_COMPARE: dict[str, Callable[[Resource, Facts], ResourceResult]] = {
    "file": _compare_file,
    "directory": _compare_directory,
    "package": _compare_package,
    "service": _compare_service,
    "lineinfile": _compare_lines,
    "user": _compare_user,
    "group": _compare_group,
    "command": _compare_command,
}
