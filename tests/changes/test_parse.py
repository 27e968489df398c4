"""The parser on recorded output (systemd, rpm: see fixtures/README.md) and on output
that is damaged or hostile: a clear error naming the section, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.changes.model import Package, Service
from console.changes.parse import parse_output, parse_rpm, parse_systemd
from console.changes.sections import OutputError, Section, marker_for
from console.changes.service_starts import parse_pid_starts, parse_systemd_starts

FIXTURES = Path(__file__).parent / "fixtures"
NONCE = "0123456789abcdef"


def section(name: str, fixture: str) -> Section:
    return Section(name, "", (FIXTURES / fixture).read_text().splitlines())


def output(*parts: tuple[str, list[str]], end: bool = True) -> bytes:
    """Collector output with the given sections (name and argument, then lines)."""
    lines = []
    for header, body in parts:
        lines += [f"{marker_for(NONCE)} {header}", *body]
    if end:
        lines.append(f"{marker_for(NONCE)} end")
    return ("\n".join(lines) + "\n").encode()


def test_systemd_units_join_their_enabled_state() -> None:
    units = section("systemd-units", "systemd-units.debian12.txt")
    files = section("systemd-unit-files", "systemd-unit-files.debian12.txt")
    services = {service.name: service for service in parse_systemd(units, files)}

    assert services["ssh.service"] == Service("ssh.service", "active", "enabled", "systemd")
    assert services["postgresql.service"].state == "failed"
    assert services["postgresql.service"].enabled == "enabled"
    assert (services["hwclock.service"].state, services["hwclock.service"].enabled) == (
        "inactive",
        "masked",
    )
    assert services["getty@tty1.service"].enabled == "enabled"  # from getty@.service
    assert services["dbus.service"].enabled == "static"
    # Installed but never loaded: from the unit files, inactive.
    assert services["console-getty.service"] == Service(
        "console-getty.service", "inactive", "disabled", "systemd"
    )
    assert services["ghost.service"].state == "failed"  # a failed unit whose file is gone
    assert "plymouth-quit.service" not in services  # a dangling reference, not installed
    assert not [name for name in services if name.endswith("@.service")]
    assert "sshd.service" not in services  # an alias of ssh.service


def test_rpm_versions_carry_epoch_and_release() -> None:
    packages = {p.name: p for p in parse_rpm(section("rpm", "rpm-qa.rocky9.txt"))}
    assert packages["bash"] == Package("bash", "5.1.8-9.el9", "x86_64", "rpm")
    assert packages["openssl"].version == "1:3.0.7-27.el9"
    assert packages["gpg-pubkey"].arch == ""


def test_dpkg_keeps_installed_packages_only_and_strips_the_arch_qualifier() -> None:
    dpkg = [
        "libc6:amd64\t2.36-9+deb12u4\tamd64\tii ",
        "bash\t5.2.15-2+b2\tamd64\tii ",
        "old-thing\t1.0\tall\trc ",
    ]
    snapshot = parse_output(output(("dpkg", dpkg)), NONCE, "h", 1.0)
    assert [(p.name, p.arch) for p in snapshot.software] == [("libc6", "amd64"), ("bash", "amd64")]


def test_an_unexpected_line_names_its_section() -> None:
    with pytest.raises(OutputError, match=r"section dpkg: expected name, version.*'garbage'"):
        parse_output(output(("dpkg", ["garbage"])), NONCE, "h", 1.0)
    with pytest.raises(OutputError, match=r"section sysv-status-all: .*'oops'"):
        parse_output(output(("sysv-status-all", [" [ + ]  ssh", "oops"])), NONCE, "h", 1.0)
    with pytest.raises(OutputError, match=r"section facts: expected a number: 'many'"):
        parse_output(output(("facts", ["cpus=many"])), NONCE, "h", 1.0)


def test_a_marker_of_another_run_is_data_not_a_section() -> None:
    forged = f"{marker_for('feedface')} rpm"
    with pytest.raises(OutputError, match="section dpkg: expected name"):
        parse_output(output(("dpkg", ["bash\t5.2\tamd64\tii ", forged])), NONCE, "h", 1.0)


def test_output_cut_short_is_an_error() -> None:
    with pytest.raises(OutputError, match="ended early"):
        parse_output(output(("dpkg", []), end=False), NONCE, "h", 1.0)
    with pytest.raises(OutputError, match="unknown section"):
        parse_output(output(("registry", [])), NONCE, "h", 1.0)


def test_a_file_entry_without_its_end_is_an_error() -> None:
    meta = "644\troot\troot\t3\t1700000000"
    with pytest.raises(OutputError, match="section file content: not followed by its file-end"):
        parse_output(output(("file content", [meta, "/etc/x", "YWIK"])), NONCE, "h", 1.0)


def test_proc_net_addresses_when_there_is_no_ip_command() -> None:
    inet6 = ["fd000000000000000000000000000002 02 40 00 80 eth0"]
    inet6 += ["00000000000000000000000000000001 01 80 10 80 lo"]
    trie = ["Main:", "  +-- 0.0.0.0/0 3 0 5", "     |-- 192.0.2.2", "        /32 host LOCAL"]
    trie += ["     |-- 127.0.0.1", "        /32 host LOCAL"]
    facts = parse_output(output(("if-inet6", inet6), ("fib-trie", trie)), NONCE, "h", 1.0).facts
    assert (facts.ipv4, facts.ipv6) == (("192.0.2.2",), ("fd00::2",))


BOOT = 1_700_000_000.0


def test_systemd_start_times_are_boot_time_plus_the_monotonic_stamp() -> None:
    starts = parse_systemd_starts(
        section("systemd-starts", "systemd-show-starts.debian12.txt"), BOOT
    )
    assert starts == {
        "cron.service": BOOT + 5.123,  # rounded to the millisecond
        "ssh.service": BOOT + 7.25,
        "postgresql.service": BOOT + 86400.5,
    }  # apt-daily never became active: no start time
    assert parse_systemd_starts(section("x", "systemd-show-starts.debian12.txt"), None) == {}


def test_sysv_start_times_come_from_the_pid_files_process() -> None:
    # /proc/PID/stat: field 22 is the start time in clock ticks; a name (field 2) may
    # hold spaces and parentheses.
    stat = "412 (sshd: a (b)) S 1 412 412 0 -1 4194560 " + " ".join(["0"] * 12) + " 12345 1 2"
    lines = [
        f"/run/sshd.pid\t100\t{stat}",
        f"/run/apache2/apache2.pid\t100\t{stat.replace('12345', '200')}",
        f"/run/other.pid\t100\t{stat.replace('12345', '999')}",
    ]
    starts = parse_pid_starts(Section("pid-starts", "", lines), ["ssh", "apache2", "cron"], BOOT)
    assert starts == {"ssh": BOOT + 123.45, "apache2": BOOT + 2.0}
    with pytest.raises(OutputError, match="pid-starts"):
        parse_pid_starts(Section("pid-starts", "", ["/run/x.pid 100"]), ["x"], BOOT)
