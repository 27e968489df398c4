"""Installing a deployment's selected updates on real isolated hosts, from an offline
local apt repo: exactly the selected packages at the assessed versions, the maintenance
window's margin, a held dpkg lock, a failing package, and the reboot flag."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from console.errors import HostError, UsageError
from console.inventory.model import Host
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.updates.deploy import InstallOutcome, install_updates
from console.updates.model import (
    PACKAGE_MARGIN_S,
    Classification,
    PackageStatus,
    PendingUpdate,
    Selection,
)
from tests.fleet import Fleet, FleetHost, start_fleet
from tests.state.conftest import NEEDS_ROOT, publish
from tests.transports.helpers import host_of, pool_for
from tests.updates.scripted_debs import build_deb, install_then_offer, installed_version

pytestmark = NEEDS_ROOT

SECURITY, OTHER = Classification.SECURITY, Classification.OTHER
WIDE_WINDOW = 4 * 3600


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with start_fleet(2, tmp_path_factory.mktemp("deploy")) as started:
        yield started


@pytest.fixture
async def pool(hosts: Fleet) -> AsyncIterator[TransportPool]:
    started = pool_for(hosts)
    try:
        yield started
    finally:
        await started.close()


def pending(*updates: tuple[str, Classification]) -> list[PendingUpdate]:
    """What an assessment would report for packages at 1.0 with 1.1 available."""
    return [PendingUpdate(name, "1.0", "1.1", kind, "fleet-repo") for name, kind in updates]


async def install_on(
    fleet: Fleet,
    host: FleetHost | Host,
    pool: TransportPool,
    updates: list[PendingUpdate],
    selection: Selection,
    deadline: float | None = None,
    lock_timeout: float = 120.0,
) -> tuple[InstallOutcome, dict[str, tuple[PackageStatus, str, str, str]]]:
    """The outcome, and per package (status, from, to, message) for short asserts."""
    inventory_host = host if isinstance(host, Host) else host_of(fleet, host)
    outcome = await install_updates(
        transport_for(inventory_host, pool),
        inventory_host.name,
        updates,
        selection,
        deadline if deadline is not None else time.time() + WIDE_WINDOW,
        lock_timeout=lock_timeout,
    )
    table = {r.name: (r.status, r.from_version, r.to_version, r.message) for r in outcome.results}
    return outcome, table


async def test_a_selection_installs_exactly_what_it_picks_and_exclusions_win(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[0]
    names = ["sel-sec", "sel-sec-held", "sel-named", "sel-other"]
    install_then_offer(host, tmp_path, names)
    updates = pending(
        ("sel-sec", SECURITY),
        ("sel-sec-held", SECURITY),
        ("sel-named", OTHER),
        ("sel-other", OTHER),
    )
    selection = Selection((SECURITY,), include=("sel-nam*",), exclude=("*-held",))

    outcome, table = await install_on(hosts, host, pool, updates, selection)

    assert table == {
        "sel-sec": (PackageStatus.SUCCEEDED, "1.0", "1.1", ""),
        "sel-sec-held": (PackageStatus.NOT_SELECTED, "1.0", "1.0", ""),
        "sel-named": (PackageStatus.SUCCEEDED, "1.0", "1.1", ""),
        "sel-other": (PackageStatus.NOT_SELECTED, "1.0", "1.0", ""),
    }
    assert [r.name for r in outcome.results] == names  # the assessment's order
    assert {name: installed_version(host, name) for name in names} == {
        "sel-sec": "1.1", "sel-sec-held": "1.0", "sel-named": "1.1", "sel-other": "1.0"
    }  # fmt: skip
    assert outcome.succeeded
    assert not outcome.reboot_required
    assert installed_version(hosts.hosts[1], "sel-sec") == ""  # the other host untouched


async def test_a_package_whose_dependency_is_excluded_is_not_installed(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[0]
    needy = build_deb(tmp_path / "needy", "dep-app", "1.1", depends="dep-lib (>= 1.1)")
    install_then_offer(host, tmp_path, ["dep-app", "dep-lib", "dep-free"], {"dep-app": needy})
    updates = pending(("dep-app", SECURITY), ("dep-lib", SECURITY), ("dep-free", SECURITY))

    outcome, table = await install_on(
        hosts, host, pool, updates, Selection((SECURITY,), exclude=("dep-l*",))
    )

    assert table == {
        "dep-app": (
            PackageStatus.NOT_ATTEMPTED,
            "1.0",
            "1.0",
            "not installed: it needs dep-lib, which the deployment excludes",
        ),
        "dep-lib": (PackageStatus.NOT_SELECTED, "1.0", "1.0", ""),
        "dep-free": (PackageStatus.SUCCEEDED, "1.0", "1.1", ""),
    }
    assert [installed_version(host, n) for n in table] == ["1.0", "1.0", "1.1"]
    assert not outcome.succeeded


async def test_the_assessed_version_is_installed_not_a_newer_one(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[0]
    install_then_offer(host, tmp_path, ["pinned"])
    publish(host, build_deb(tmp_path, "pinned", "1.2"))

    _, table = await install_on(hosts, host, pool, pending(("pinned", OTHER)), Selection((OTHER,)))

    assert table["pinned"][:3] == (PackageStatus.SUCCEEDED, "1.0", "1.1")
    assert installed_version(host, "pinned") == "1.1"


async def test_a_window_without_the_margin_left_starts_nothing(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[0]
    install_then_offer(host, tmp_path, ["late-a", "late-b"])
    updates = pending(("late-a", SECURITY), ("late-b", SECURITY))

    outcome, table = await install_on(
        hosts, host, pool, updates, Selection((SECURITY,)), deadline=time.time() + 600
    )

    assert {name: row[0] for name, row in table.items()} == {
        "late-a": PackageStatus.WINDOW_EXCEEDED, "late-b": PackageStatus.WINDOW_EXCEEDED
    }  # fmt: skip
    assert table["late-a"][2] == "1.0"
    assert f"under the {PACKAGE_MARGIN_S} s margin" in table["late-a"][3]
    assert not outcome.succeeded
    assert installed_version(host, "late-a") == installed_version(host, "late-b") == "1.0"


async def test_once_the_margin_is_reached_midway_the_later_packages_do_not_start(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    """The first package's postinst waits until the host's clock is past the point
    where less than the margin remains, so the second and third find the window gone."""
    host = hosts.hosts[1]
    deadline = int(time.time()) + PACKAGE_MARGIN_S + 6
    margin_reached = deadline - PACKAGE_MARGIN_S + 2
    slow = build_deb(
        tmp_path / "slow",
        "midway-a",
        "1.1",
        postinst=f'while [ "$(date +%s)" -lt {margin_reached} ]; do sleep 0.1; done',
    )
    install_then_offer(host, tmp_path, ["midway-a", "midway-b", "midway-c"], {"midway-a": slow})
    updates = pending(("midway-a", SECURITY), ("midway-b", SECURITY), ("midway-c", OTHER))

    _, table = await install_on(
        hosts, host, pool, updates, Selection((SECURITY, OTHER)), deadline=deadline
    )

    assert [row[0] for row in table.values()] == [
        PackageStatus.SUCCEEDED, PackageStatus.WINDOW_EXCEEDED, PackageStatus.WINDOW_EXCEEDED
    ]  # fmt: skip
    assert [installed_version(host, n) for n in table] == ["1.1", "1.0", "1.0"]


async def test_a_failing_package_is_failed_with_the_managers_words_and_the_next_installs(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[1]
    broken = build_deb(tmp_path / "broken", "breaks", "1.1", postinst="echo boom >&2; exit 1")
    install_then_offer(host, tmp_path, ["breaks", "after-break"], {"breaks": broken})
    updates = pending(("breaks", SECURITY), ("after-break", SECURITY))

    outcome, table = await install_on(hosts, host, pool, updates, Selection((SECURITY,)))

    status, _, to_version, message = table["breaks"]
    assert status is PackageStatus.FAILED
    assert message.startswith("apt exited with status 100"), message
    assert "post-installation script subprocess returned error exit status 1" in message
    assert "boom" in message and "Reading database" not in message
    assert to_version == "1.1"  # unpacked, but not configured: dpkg says so
    # apt configures the half-installed package again, fails again, and says so
    assert table["after-break"] == (
        PackageStatus.SUCCEEDED, "1.0", "1.1", "installed, though apt exited with status 100"
    )  # fmt: skip
    assert installed_version(host, "after-break") == "1.1"
    assert not outcome.succeeded
    host.run("dpkg --purge breaks", check=True)  # leave dpkg clean for the other tests


HOLD_LOCK = """
import fcntl, time
with open("/var/lib/dpkg/lock-frontend", "w") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX)
    open("/run/lock-held", "w").close()
    time.sleep(120)
"""


async def test_a_held_dpkg_lock_is_waited_for_then_fails_the_package_and_stops_the_rest(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[0]
    install_then_offer(host, tmp_path, ["locked-a", "locked-b"])
    updates = pending(("locked-a", SECURITY), ("locked-b", SECURITY))
    holder = subprocess.Popen(
        ["nsenter", "-t", str(host.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
         "/usr/bin/python3", "-c", HOLD_LOCK],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while host.run("test -e /run/lock-held").returncode != 0:
            assert holder.poll() is None, "the lock holder ended early"
        _, table = await install_on(
            hosts, host, pool, updates, Selection((SECURITY,)), lock_timeout=2
        )
    finally:
        holder.kill()
        holder.wait()
        host.run("rm -f /run/lock-held")

    status, _, to_version, message = table["locked-a"]
    assert status is PackageStatus.FAILED
    assert message.startswith("the package lock was held for more than 2 s"), message
    assert to_version == "1.0"
    assert table["locked-b"][0] is PackageStatus.NOT_ATTEMPTED
    assert table["locked-b"][3].startswith("the package lock was held")
    assert installed_version(host, "locked-a") == installed_version(host, "locked-b") == "1.0"


async def test_a_package_that_asks_for_a_reboot_is_reported(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[1]
    kernel_like = build_deb(
        tmp_path / "kernel", "wants-reboot", "1.1", postinst="touch /var/run/reboot-required"
    )
    install_then_offer(host, tmp_path, ["wants-reboot"], {"wants-reboot": kernel_like})
    try:
        outcome, table = await install_on(
            hosts, host, pool, pending(("wants-reboot", SECURITY)), Selection((SECURITY,))
        )
    finally:
        host.run("rm -f /var/run/reboot-required")

    assert table["wants-reboot"][0] is PackageStatus.SUCCEEDED
    assert outcome.reboot_required


async def test_nothing_selected_still_reports_the_reboot_flag_and_installs_nothing(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[1]
    install_then_offer(host, tmp_path, ["unpicked"])
    host.run("touch /var/run/reboot-required", check=True)
    try:
        outcome, table = await install_on(
            hosts, host, pool, pending(("unpicked", OTHER)), Selection((SECURITY,))
        )
    finally:
        host.run("rm -f /var/run/reboot-required")

    assert table["unpicked"][0] is PackageStatus.NOT_SELECTED
    assert outcome.succeeded and outcome.reboot_required
    assert installed_version(host, "unpicked") == "1.0"


async def test_an_unreachable_host_raises_the_transports_host_error(
    hosts: Fleet, pool: TransportPool
) -> None:
    down = host_of(hosts, hosts.hosts[0], ansible_port=1)
    with pytest.raises(HostError) as raised:
        await install_on(hosts, down, pool, pending(("x", SECURITY)), Selection((SECURITY,)))
    assert raised.value.kind == "unreachable"


@pytest.mark.parametrize(
    ("update", "lock_timeout", "problem"),
    [
        (PendingUpdate("-oAPT::x=1", "1.0", "1.1", SECURITY, ""), 5, "is not a package name"),
        (PendingUpdate("ok", "1.0", "1.1 --reinstall", SECURITY, ""), 5, "not a package version"),
        (PendingUpdate("ok", "1.0", "1.1", SECURITY, ""), -1, "lock timeout must be 0 or more"),
    ],
)
async def test_bad_input_is_refused_before_anything_runs(
    hosts: Fleet, pool: TransportPool, update: PendingUpdate, lock_timeout: float, problem: str
) -> None:
    host = hosts.hosts[0]
    with pytest.raises(UsageError, match=problem):
        await install_on(
            hosts, host, pool, [update], Selection((SECURITY,)), lock_timeout=lock_timeout
        )
    assert pool.stats.connects == 0
