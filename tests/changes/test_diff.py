"""changes_between and unified_diff: what a user sees as a change, and nothing else."""

from __future__ import annotations

import dataclasses

from console.changes.diff import REBOOT_TOLERANCE_S, changes_between, unified_diff
from console.changes.model import (
    ChangeKind,
    ChangeType,
    Disk,
    Facts,
    FileStatus,
    Package,
    Service,
    Snapshot,
    TrackedFile,
)

NOW = 1_750_000_000.0


def snapshot(**changes: object) -> Snapshot:
    """A plausible Debian host; keyword arguments replace its fields."""
    base = Snapshot(
        host="web01",
        collected=NOW - 900,
        facts=Facts(
            hostname="web01",
            os_name="Debian GNU/Linux",
            os_version="12",
            os_family="debian",
            kernel="6.1.0-18-amd64",
            arch="x86_64",
            cpus=2,
            memory_mb=3900,
            disks=(Disk("/", "/dev/sda1", "ext4", 20000, 5000),),
            ipv4=("10.0.0.5", "172.17.0.1"),
            uptime_s=3600,
            boot_time=NOW - 3600,
            machine_id="abc",
        ),
        software=(
            Package("openssl", "3.0.11-1", "amd64", "dpkg"),
            Package("libc6", "2.36-9", "amd64", "dpkg"),
            Package("libc6", "2.36-9", "i386", "dpkg"),
        ),
        services=(Service("ssh", "running", "enabled", "sysv"),),
        files=(
            TrackedFile(
                "/etc/motd", FileStatus.OK, "aa", 6, "0644", "root", "root", 1.0, "hello\n"
            ),
        ),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def summary(old: Snapshot | None, new: Snapshot) -> list[tuple[str, str, str]]:
    return [(c.type, c.change, c.name) for c in changes_between(old, new, NOW)]


def test_first_snapshot_is_the_baseline_and_yields_no_change() -> None:
    assert changes_between(None, snapshot(), NOW) == []


def test_identical_snapshots_yield_nothing_even_with_uptime_and_disk_use_moving() -> None:
    old = snapshot()
    facts = dataclasses.replace(
        old.facts,
        uptime_s=old.facts.uptime_s + 900,
        boot_time=old.facts.boot_time + 1.5,  # computed from a clock: wobbles
        disks=(Disk("/", "/dev/sda1", "ext4", 20000, 5123),),
        ipv4=("172.17.0.1", "10.0.0.5"),  # same addresses, other order
    )
    new = snapshot(
        facts=facts, collected=NOW, files=(dataclasses.replace(old.files[0], mtime=9.0),)
    )
    assert summary(old, new) == []


def test_software_added_removed_and_upgraded_by_name_and_arch() -> None:
    old = snapshot()
    new = snapshot(
        software=(
            Package("openssl", "3.0.13-1", "amd64", "dpkg"),
            Package("libc6", "2.36-9", "amd64", "dpkg"),
            Package("htop", "3.2.2-2", "amd64", "dpkg"),
        )
    )
    found = {
        (c.change, c.name, c.before and c.before["arch"]): c for c in changes_between(old, new, NOW)
    }
    assert set(found) == {
        (ChangeKind.MODIFIED, "openssl", "amd64"),
        (ChangeKind.REMOVED, "libc6", "i386"),
        (ChangeKind.ADDED, "htop", None),
    }
    upgrade = found[(ChangeKind.MODIFIED, "openssl", "amd64")]
    assert (upgrade.before["version"], upgrade.after["version"]) == ("3.0.11-1", "3.0.13-1")
    added = found[(ChangeKind.ADDED, "htop", None)]
    assert added.after == {"name": "htop", "version": "3.2.2-2", "arch": "amd64", "source": "dpkg"}
    assert all(c.type is ChangeType.SOFTWARE and c.host == "web01" for c in found.values())


def test_a_service_flap_is_a_change_each_way() -> None:
    up = snapshot()
    down = snapshot(services=(Service("ssh", "stopped", "enabled", "sysv"),))
    disabled = snapshot(services=(Service("ssh", "running", "disabled", "sysv"),))
    assert summary(up, down) == [("service", "modified", "ssh")]
    assert summary(down, up) == [("service", "modified", "ssh")]
    [change] = changes_between(up, disabled, NOW)
    assert (change.before["enabled"], change.after["enabled"]) == ("enabled", "disabled")


def test_a_restart_between_collections_is_a_change_and_an_unknown_start_is_not() -> None:
    def ssh(started: float | None) -> Snapshot:
        return snapshot(services=(Service("ssh", "running", "enabled", "sysv", started),))

    [restart] = changes_between(ssh(NOW - 600), ssh(NOW - 60), NOW)
    assert (restart.change, restart.before["started"], restart.after["started"]) == (
        ChangeKind.MODIFIED,
        NOW - 600,
        NOW - 60,
    )
    assert changes_between(ssh(None), ssh(NOW - 60), NOW) == []  # its pid file appeared
    assert changes_between(ssh(NOW - 60), ssh(None), NOW) == []


def test_a_start_time_moving_with_the_boot_time_is_no_restart() -> None:
    """The kernel's boot time moves when the clock is set; start times move with it.
    After a reboot every service started again: only the reboot is reported."""

    def ssh(boot: float, started: float) -> Snapshot:
        base = snapshot(services=(Service("ssh", "running", "enabled", "sysv", started),))
        return dataclasses.replace(base, facts=dataclasses.replace(base.facts, boot_time=boot))

    boot = NOW - 86400
    assert changes_between(ssh(boot, boot + 30), ssh(boot + 1.5, boot + 31.5), NOW) == []
    rebooted = changes_between(ssh(boot, boot + 30), ssh(NOW - 100, NOW - 70), NOW)
    assert [(c.type, c.name) for c in rebooted] == [(ChangeType.FACT, "boot_time")]


def test_files_modified_added_removed_and_missing_counts_as_gone() -> None:
    old = snapshot()
    motd = old.files[0]
    edited = dataclasses.replace(motd, sha256="bb", content="hello\nworld\n")
    chmod = dataclasses.replace(motd, mode="0600")
    issue = TrackedFile("/etc/issue", FileStatus.HASH_ONLY, "cc", 9, "0644", "root", "root")
    assert summary(old, snapshot(files=(edited,))) == [("file", "modified", "/etc/motd")]
    assert summary(old, snapshot(files=(chmod,))) == [("file", "modified", "/etc/motd")]
    missing = TrackedFile("/etc/motd", FileStatus.MISSING)
    assert summary(old, snapshot(files=(missing, issue))) == [
        ("file", "added", "/etc/issue"),
        ("file", "removed", "/etc/motd"),
    ]
    assert summary(snapshot(files=(missing,)), old) == [("file", "added", "/etc/motd")]


def test_a_file_turning_unreadable_is_a_change() -> None:
    old = snapshot()
    unreadable = TrackedFile("/etc/motd", FileStatus.UNREADABLE, error="Permission denied")
    [change] = changes_between(old, snapshot(files=(unreadable,)), NOW)
    assert change.after["status"] == "unreadable"
    assert change.after["error"] == "Permission denied"


def test_facts_kernel_memory_addresses_and_a_reboot() -> None:
    old = snapshot()
    facts = dataclasses.replace(
        old.facts,
        kernel="6.1.0-20-amd64",
        memory_mb=7900,
        ipv4=("10.0.0.6",),
        boot_time=old.facts.boot_time + REBOOT_TOLERANCE_S + 600,
        uptime_s=30,
    )
    found = {c.name: c for c in changes_between(old, snapshot(facts=facts), NOW)}
    assert set(found) == {"kernel", "memory_mb", "ipv4", "boot_time"}
    assert (found["kernel"].before, found["kernel"].after) == ("6.1.0-18-amd64", "6.1.0-20-amd64")
    assert found["ipv4"].before == ["10.0.0.5", "172.17.0.1"]
    assert all(
        c.type is ChangeType.FACT and c.change is ChangeKind.MODIFIED for c in found.values()
    )


def test_ids_are_unique_and_sort_in_the_order_changes_were_found() -> None:
    old = snapshot(software=())
    new = snapshot(software=tuple(Package(f"p{i:03d}", "1", "amd64", "dpkg") for i in range(300)))
    changes = changes_between(old, new, NOW) + changes_between(old, new, NOW)
    ids = [c.id for c in changes]
    assert len(set(ids)) == len(ids) == 600
    assert ids == sorted(ids)


def test_unified_diff_of_a_file_edit_shows_the_edit() -> None:
    old = snapshot()
    edited = dataclasses.replace(old.files[0], sha256="bb", content="hello\nworld")
    [change] = changes_between(old, snapshot(files=(edited,)), NOW)
    text = unified_diff(change)
    assert "-sha256: aa\n+sha256: bb\n" in text
    assert "--- web01:/etc/motd content (before)" in text
    assert " hello\n+world\n" in text


def test_unified_diff_says_when_content_was_not_kept() -> None:
    old = snapshot(files=(TrackedFile("/bin/ls", FileStatus.HASH_ONLY, "aa", 9, "0755"),))
    new = snapshot(files=(TrackedFile("/bin/ls", FileStatus.HASH_ONLY, "bb", 9, "0755"),))
    [change] = changes_between(old, new, NOW)
    assert "content not kept" in unified_diff(change)


def test_unified_diff_of_a_package_upgrade_shows_the_versions() -> None:
    new = snapshot(software=(Package("openssl", "3.0.13-1", "amd64", "dpkg"),))
    changes = changes_between(snapshot(), new, NOW)
    upgrade = next(c for c in changes if c.change is ChangeKind.MODIFIED)
    assert "-version: 3.0.11-1\n+version: 3.0.13-1\n" in unified_diff(upgrade)


def test_the_same_packages_listed_in_another_order_are_no_change() -> None:
    old = snapshot()
    assert summary(old, snapshot(software=tuple(reversed(old.software)))) == []
