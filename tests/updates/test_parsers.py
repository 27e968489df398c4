"""The apt, dnf/yum and zypper parsers on recorded outputs (tests/updates/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.changes.sections import OutputError, Section
from console.updates import apt_parse, dnf_parse, zypper_parse
from console.updates.model import Classification

FIXTURES = Path(__file__).parent / "fixtures"


def section(name: str, fixture: str) -> Section:
    return Section(name, "", (FIXTURES / fixture).read_text().splitlines())


def releases() -> list[apt_parse.Release]:
    found: list[Section] = []
    for line in (FIXTURES / "apt-releases.debian12.txt").read_text().splitlines():
        if line.startswith("## "):
            found.append(Section("release", line[3:]))
        else:
            found[-1].lines.append(line)
    return [apt_parse.parse_release(s) for s in found]


def test_apt_inst_lines_are_classified_by_the_release_of_their_origins() -> None:
    lines = apt_parse.parse_simulate(section("simulate", "apt-simulate.debian12.txt"))
    updates = {u.name: u for u in (apt_parse.classify(i, releases()) for i in lines)}
    assert list(updates) == ["base-files", "libgcrypt20-dev", "libgcrypt20", "libcap2",
                             "libpam-modules-bin", "fleet-new"]  # fmt: skip
    assert updates["base-files"].classification is Classification.OTHER
    assert updates["base-files"].source == "Debian:12.15/oldstable"
    gcrypt = updates["libgcrypt20"]
    assert (gcrypt.installed, gcrypt.available, gcrypt.arch) == (
        "1.10.1-3", "1.10.1-3+deb12u1", "amd64")  # fmt: skip
    assert gcrypt.classification is Classification.SECURITY
    assert gcrypt.source == "Debian-Security:12/oldstable-security"
    assert updates["libcap2"].available == "1:2.66-4+deb12u3+b1"
    assert updates["libpam-modules-bin"].classification is Classification.SECURITY
    assert updates["fleet-new"].installed == ""  # a new install has no [old]
    assert updates["fleet-new"].classification is Classification.SECURITY


def test_the_codename_alone_or_the_label_alone_makes_a_repository_security() -> None:
    inst = apt_parse.InstLine("x", "1", "2", "all", ("Corp:internal",))
    by_codename = apt_parse.Release("f", label="Corp", suite="internal", codename="x-security")
    assert apt_parse.classify(inst, [by_codename]).classification is Classification.SECURITY
    plain = apt_parse.Release("f", label="Corp", suite="internal", codename="internal")
    assert apt_parse.classify(inst, [plain]).classification is Classification.OTHER
    labelled = apt_parse.InstLine("x", "1", "2", "all", ("Corp-Security:internal",))
    assert apt_parse.classify(labelled, []).classification is Classification.SECURITY


@pytest.mark.parametrize(
    ("name", "line"),
    [("simulate", "Inst broken line"), ("simulate", "E: dpkg was interrupted")],
)
def test_an_apt_line_that_fits_nothing_names_the_section_and_line(name: str, line: str) -> None:
    with pytest.raises(OutputError, match=rf"section {name}.*{line[:10]}"):
        apt_parse.parse_simulate(Section(name, "", [line]))
    with pytest.raises(OutputError, match=r"section release x"):
        apt_parse.parse_release(Section("release", "x", ["Date: today"]))


def test_check_update_rows_wrapped_over_two_lines_are_joined() -> None:
    updates = dnf_parse.parse_check_update(section("check-update", "yum-check-update.centos6.txt"))
    by_name = {u.name: u for u in updates}
    assert len(updates) == 8
    assert by_name["libpcap"] == dnf_parse.RpmUpdate(
        "libpcap", "x86_64", "14:1.4.0-1.20130826git2dbcaa1.el6", "base"
    )
    assert by_name["facter"].repo == "puppetlabs-products"
    assert by_name["bind-libs"].available == "32:9.8.2-0.23.rc1.el6_5.1"
    assert by_name["tzdata"].arch == "noarch"


def test_advisories_give_critical_security_bugfix_enhancement_or_other() -> None:
    advisories = dnf_parse.parse_updateinfo(
        section("updateinfo", "dnf-updateinfo-security.fc34.txt")
    )
    assert len(advisories) == 16  # the metadata line is not an advisory
    kinds = {a.name: a.classification for a in advisories}
    assert kinds["kernel-core"] is Classification.CRITICAL
    assert {kinds["krb5-libs"], kinds["polkit-libs"], kinds["curl"]} == {Classification.SECURITY}
    dhcp = next(a for a in advisories if a.name == "dhcp-client")
    assert (dhcp.arch, dhcp.version) == ("x86_64", "12:4.4.2-11.b1.fc34")
    kernel = dnf_parse.RpmUpdate("kernel-core", "x86_64", "5.13.4-200.fc34", "updates")
    assert dnf_parse.classification_of(kernel, advisories) is Classification.CRITICAL
    other = dnf_parse.RpmUpdate("bash", "x86_64", "5.1-1", "updates")
    assert dnf_parse.classification_of(other, advisories) is Classification.OTHER
    (rhel,) = dnf_parse.parse_updateinfo(section("updateinfo", "dnf-updateinfo.el8.txt"))
    assert (rhel.name, rhel.classification) == ("kernel", Classification.SECURITY)
    assert rhel.version == "4.18.0-305.19.1.el8_4"
    # Typed in (no real capture found), with the labels dnf's updateinfo.py prints.
    typed = Section(
        "updateinfo",
        "",
        [
            "RHBA-2021:3560 bugfix         tzdata-2021b-1.el8.noarch",
            "RHEA-2021:3561 enhancement    dnf-plugins-core-4.0.18-4.el8.noarch",
            "FEDORA-2021-1 newpackage     fresh-1.0-1.fc34.noarch",
        ],
    )
    assert [a.classification for a in dnf_parse.parse_updateinfo(typed)] == [
        Classification.BUGFIX,
        Classification.ENHANCEMENT,
        Classification.OTHER,
    ]


def test_yum_updateinfo_with_plugin_lines_is_read() -> None:
    advisories = dnf_parse.parse_updateinfo(section("updateinfo", "yum-updateinfo.rhel7.txt"))
    assert len(advisories) == 13
    assert advisories[-1].name == "389-ds-base-libs"
    assert {a.classification for a in advisories} == {Classification.SECURITY}


def test_bad_dnf_lines_name_the_section_and_the_line() -> None:
    with pytest.raises(OutputError, match=r"section check-update.*cut short"):
        dnf_parse.parse_check_update(Section("check-update", "", ["kernel.x86_64 4.18-1"]))
    with pytest.raises(OutputError, match=r"section check-update.*name.arch"):
        dnf_parse.parse_check_update(Section("check-update", "", ["kernel 4.18-1 baseos"]))
    with pytest.raises(OutputError, match=r"section updateinfo.*RHSA-1"):
        dnf_parse.parse_updateinfo(Section("updateinfo", "", ["RHSA-1 bugfix not-a-nevra"]))


def test_zypper_list_updates_tables() -> None:
    sle15 = zypper_parse.parse_list_updates(
        section("list-updates", "zypper-list-updates.sle15.txt")
    )
    assert sle15 == [zypper_parse.ZypperUpdate(
        "Update repository with updates from SUSE Linux Enterprise 15", "iproute2",
        "5.14-150400.1.8", "6.4-150600.7.3.1", "x86_64")]  # fmt: skip
    sles12 = zypper_parse.parse_list_updates(
        section("list-updates", "zypper-list-updates.sles12.txt")
    )
    assert [(u.name, u.installed, u.available) for u in sles12] == [
        ("SUSEConnect", "0.3.0-19.8.1", "0.3.1-19.11.2"),
        ("SuSEfirewall2", "3.6.312-2.3.1", "3.6.312-2.10.1"),
    ]


def test_zypper_patches_are_classified_by_category_and_severity() -> None:
    patches = zypper_parse.parse_list_patches(
        section("list-patches", "zypper-list-patches.sles12.txt")
    )
    assert [(p.name, p.classification) for p in patches] == [
        ("SUSE-SLE-SERVER-12-SP2-2017-1022", Classification.BUGFIX),
        ("SUSE-SLE-SERVER-12-SP2-2017-1252", Classification.SECURITY),
    ]
    assert patches[1].summary == "Security update for libzypp, zypper"
    critical = zypper_parse.Patch("r", "p", "security", "critical", "needed", "")
    assert critical.classification is Classification.CRITICAL
    assert zypper_parse.Patch("r", "p", "feature", "low", "needed", "").classification is (
        Classification.ENHANCEMENT)  # fmt: skip


def test_a_zypper_row_that_does_not_fit_the_table_is_refused() -> None:
    lines = (FIXTURES / "zypper-list-updates.sles12.txt").read_text().splitlines()
    with pytest.raises(OutputError, match=r"section list-updates.*6 cells"):
        zypper_parse.parse_list_updates(Section("list-updates", "", [*lines, "v | a | b"]))
    with pytest.raises(OutputError, match=r"section list-patches.*expected a table"):
        zypper_parse.parse_list_patches(Section("list-patches", "", ["Unexpected words"]))
