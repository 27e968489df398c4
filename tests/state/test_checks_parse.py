"""The check and apply scripts' output read strictly, the diffs a person reads, values
the scripts refuse, and hostile values that stay data (a check script run on this
machine, which it cannot change)."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

import pytest

from console.changes.sections import OutputError, Section
from console.errors import UsageError
from console.inventory.model import Host
from console.state.apply import build_apply_script, parse_apply_output
from console.state.checks import check_resources, parse_check_output
from console.state.compare import compare, content_diff
from console.state.model import Resource, ResourceStatus
from console.transports.local import LocalTransport


def section(name: str, argument: str, *lines: str) -> Section:
    return Section(name, argument, list(lines))


def lines_facts(exists: int, exact: int, matched: int, first: str = "") -> dict[str, str]:
    facts = {"exists": str(exists), "exact": str(exact), "matched": str(matched)}
    return facts | ({"first_line": base64.b64encode(first.encode()).decode()} if first else {})


# --- diffs --------------------------------------------------------------------------------


def test_a_missing_final_newline_is_a_visible_difference() -> None:
    diff = content_diff("/etc/x", b"a\nb", b"a\nb\n")
    assert diff.splitlines()[:2] == ["--- /etc/x (on host)", "+++ /etc/x (declared)"]
    assert "-b\n\\ No newline at end of file\n+b\n" in diff


def test_binary_content_is_named_not_shown() -> None:
    diff = content_diff("/bin/x", b"\0\1\2", b"text\n")
    assert "-(binary content)\n+(binary content)\n" in diff and "text" not in diff


def test_a_file_too_large_to_send_is_compared_by_hash_without_a_content_diff() -> None:
    resource = Resource("file", "/var/big", {"content": "small\n", "mode": "0644"})
    facts = {"exists": "1", "meta": "regular file|600|root|root|9999999", "sha256": "ab" * 32}
    result = compare(resource, facts)
    assert result.status is ResourceStatus.DRIFTED
    assert result.message == "content differs; the file is too large for a diff"
    assert "+small" not in result.diff and "-mode: 0600\n+mode: 0644" in result.diff


# --- comparisons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "facts", "status"),
    [
        ({"line": "A=1", "match": "^#?A="}, lines_facts(1, 1, 1, "A=1\n"), "compliant"),
        ({"line": "A=1", "match": "^#?A="}, lines_facts(1, 1, 2, "#A=0\n"), "drifted"),
        ({"line": "A=1", "match": "^#?A="}, lines_facts(1, 1, 0), "compliant"),
        ({"line": "A=1"}, lines_facts(1, 0, 0), "drifted"),
        ({"line": "A=1", "state": "absent"}, lines_facts(1, 1, 0), "drifted"),
        ({"match": "^A=", "state": "absent"}, lines_facts(1, 0, 0), "compliant"),
        ({"line": "A=1"}, {"exists": "0"}, "drifted"),
        ({"line": "A=1", "state": "absent"}, {"exists": "0"}, "compliant"),
    ],
)
def test_lineinfile_rules(props: dict[str, str], facts: dict[str, str], status: str) -> None:
    assert compare(Resource("lineinfile", "/etc/f", props), facts).status == status


def test_systemd_services_use_systemctl_words() -> None:
    resource = Resource("service", "ssh", {"running": True, "enabled": True})
    facts = {"manager": "systemd", "load": "loaded", "active": "active", "enabled": "static"}
    assert compare(resource, facts).status is ResourceStatus.COMPLIANT
    facts |= {"active": "failed", "enabled": "disabled"}
    assert compare(resource, facts).actual == {"running": False, "enabled": False}


def test_an_unknown_sysv_status_fails_rather_than_guessing() -> None:
    resource = Resource("service", "odd", {"running": True})
    result = compare(resource, {"manager": "sysv", "exists": "1", "status": "4"})
    assert result.status is ResourceStatus.FAILED and "exited 4" in result.message


def test_user_groups_are_a_minimum_membership() -> None:
    resource = Resource("user", "deploy", {"groups": ["adm", "sudo"]})
    facts = {"passwd": "deploy:x:1001:1001::/home/deploy:/bin/sh", "groups": "deploy adm"}
    result = compare(resource, facts)
    assert result.status is ResourceStatus.DRIFTED
    assert (result.expected["groups"], result.actual["groups"]) == (["adm", "sudo"], ["adm"])
    facts["groups"] = "deploy sudo adm staff"
    assert compare(resource, facts).status is ResourceStatus.COMPLIANT


# --- strict output ------------------------------------------------------------------------


def test_check_output_must_have_each_probe_once_and_nothing_else() -> None:
    group = Resource("group", "adm")
    with pytest.raises(OutputError, match="no section for group:adm"):
        parse_check_output([], [group])
    with pytest.raises(OutputError, match="section surprise 0: unexpected section"):
        parse_check_output([section("surprise", "0")], [group])
    with pytest.raises(OutputError, match="section probe 0: expected key=value"):
        parse_check_output([section("probe", "0", "not a fact")], [group])
    twice = [section("probe", "0", "group=adm:x:4:"), section("probe", "0", "group=")]
    with pytest.raises(OutputError, match="appears twice"):
        parse_check_output(twice, [group])


def test_a_command_without_check_is_unknown_without_any_probe() -> None:
    (result,) = parse_check_output([], [Resource("command", "rm -rf /srv/cache")])
    assert result.status is ResourceStatus.UNKNOWN and "never runs" in result.message


def test_apply_results_from_sections() -> None:
    group, user = Resource("group", "g"), Resource("user", "u", requires=("group:g",))
    directory = Resource("directory", "/srv/d")
    absent, present = "group=", "group=g:x:1000:"
    sections = [
        section("before", "0", absent),
        section("begin", "0"),
        section("fail", "0", "groupadd -- g exited with status 10", "groupadd: cannot lock"),
        section("after", "0", absent),
        section("skip", "1"),
        section("before", "2", "exists=0"),
        section("begin", "2"),
        section("did", "2 created /srv/d"),
        section("after", "2", "exists=0"),
    ]
    results = parse_apply_output(sections, [group, user, directory])
    assert [r.status for r in results] == ["failed", "skipped", "failed"]
    assert results[0].message == "groupadd -- g exited with status 10\ngroupadd: cannot lock"
    assert "requires group:g" in results[1].message
    assert results[2].message == "still not as declared after: created /srv/d"
    sections[1:4] = [section("begin", "0"), section("did", "0 created group g")]
    sections.insert(3, section("after", "0", present))
    results = parse_apply_output(sections, [group, user, directory])
    assert (results[0].status, results[0].message) == ("changed", "created group g")
    assert "-state: absent\n+state: present" in results[0].diff


# --- refused values and hostile values ----------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        (Resource("file", "etc/motd"), "from /"),
        (Resource("file", "/etc/a\nb"), "from /"),
        (Resource("package", "-oDebug::x=1"), "not a package name"),
        (Resource("file", "/etc/motd", {"mode": "u+rwx"}), "not octal"),
        (Resource("lineinfile", "/etc/f", {"line": "a\nb"}), "single lines"),
        (Resource("user", "a\nb"), "newline"),
    ],
)
def test_values_a_script_cannot_carry_are_refused(resource: Resource, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        build_apply_script("n", [resource], 1)


def test_requires_must_name_an_earlier_resource() -> None:
    later = Resource("group", "g", requires=("user:u",))
    with pytest.raises(UsageError, match="requires user:u, which is not an earlier"):
        build_apply_script("n", [later, Resource("user", "u")], 1)


async def test_hostile_values_stay_data_in_a_check_run_here(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}) `touch {marker}` '; touch {marker}; '"
    target = tmp_path / "conf $(id) `id` 'q' ;x"  # read right only if it stays a word
    target.write_text(f"{hostile}\n")
    resources = [
        Resource("file", str(target), {"content": f"{hostile}\n", "owner": hostile}),
        Resource("lineinfile", str(target), {"line": hostile, "match": "^\\$\\(touch"}),
        Resource("user", hostile),
        Resource("command", f"touch {marker}", {"check": f"test -e {shlex.quote(str(target))}"}),
    ]
    results = await check_resources(LocalTransport(Host("local", {})), "local", resources)
    assert not marker.exists()
    assert [r.status for r in results] == ["drifted", "compliant", "drifted", "compliant"]
    assert results[0].actual["content"] == results[0].expected["content"]
