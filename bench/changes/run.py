"""Benchmark: CPU of change detection per 1,000 hosts, and of storing a collection.

(a) `changes_between` over HOSTS synthetic hosts (default 10,000) of 2,000 packages,
    100 services, 10 tracked files each: the old and new snapshots of a host are
    equal but distinct objects (as a decoded stored snapshot and a freshly parsed one
    are); 10% of hosts have a package upgraded and one installed, 1% rebooted into a
    new kernel. Snapshots rotate through POOLS distinct package sets so the data does
    not sit in the CPU cache. Only the diff is timed (process CPU time).
(b) `ChangeStore.record` of STORE_HOSTS hosts, twice each (a baseline, then a
    collection): decode of the stored snapshot, diff, log append + fsync, compressed
    snapshot written atomically; CPU time per 1,000 hosts and the snapshot file size.

Target (issue 12): under 1 s of engine CPU per 1,000 hosts for (a). Prints the
median over rounds and the ratio to that budget.

Usage:  .venv/bin/python bench/changes/run.py [--hosts 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from console.changes.diff import changes_between
from console.changes.model import (
    Facts,
    FileStatus,
    Package,
    Service,
    Snapshot,
    TrackedFile,
)
from console.changes.store import ChangeStore

PACKAGES = 2000
SERVICES = 100
FILES = 10
POOLS = 50
STORE_HOSTS = 300
NOW = 1_750_000_000.0


def fresh(text: str) -> str:
    """An equal string that is a distinct object (no identity shortcut in ==)."""
    return text.encode().decode()


def pool(seed: int) -> tuple[tuple[Package, ...], tuple[Service, ...], tuple[TrackedFile, ...]]:
    software = tuple(
        Package(fresh(f"lib-package-{seed}-{i}"), fresh(f"{i % 7}.{i % 13}.{seed}-1"),
                fresh("amd64"), fresh("dpkg"))
        for i in range(PACKAGES)
    )  # fmt: skip
    services = tuple(
        Service(fresh(f"svc-{i}"), fresh("running"), fresh("enabled"), fresh("sysv"))
        for i in range(SERVICES)
    )
    files = tuple(
        TrackedFile(fresh(f"/etc/app/{i}.conf"), FileStatus.OK, fresh(f"{seed:064x}"), 40,
                    fresh("0644"), fresh("root"), fresh("root"), 1.0, fresh(f"key = {seed}\n"))
        for i in range(FILES)
    )  # fmt: skip
    return software, services, files


def snapshot(host: str, parts: tuple, facts: Facts) -> Snapshot:  # type: ignore[type-arg]
    software, services, files = parts
    return Snapshot(host, NOW, facts, software, services, files)


def host_pairs(hosts: int) -> list[tuple[Snapshot, Snapshot]]:
    """(old, new) per host, sharing POOLS pairs of package sets between hosts."""
    olds = [pool(seed) for seed in range(POOLS)]
    news = [pool(seed) for seed in range(POOLS)]
    facts = Facts(hostname="h", kernel="6.1.0-18-amd64", memory_mb=4000, boot_time=NOW - 9e4)
    rebooted = dataclasses.replace(facts, kernel="6.1.0-20-amd64", boot_time=NOW - 60)
    pairs = []
    for n in range(hosts):
        old_parts, new_parts = olds[n % POOLS], news[n % POOLS]
        if n % 10 == 0:
            software = list(new_parts[0])
            software[5] = dataclasses.replace(software[5], version="99.0-1")
            software.append(Package("htop", "3.2.2-2", "amd64", "dpkg"))
            new_parts = (tuple(software), new_parts[1], new_parts[2])
        new_facts = rebooted if n % 100 == 0 else facts
        pairs.append((snapshot(f"h{n}", old_parts, facts), snapshot(f"h{n}", new_parts, new_facts)))
    return pairs


def diff_cpu(pairs: list[tuple[Snapshot, Snapshot]]) -> tuple[float, int]:
    start = time.process_time()
    found = sum(len(changes_between(old, new, NOW)) for old, new in pairs)
    return time.process_time() - start, found


def store_cpu(pairs: list[tuple[Snapshot, Snapshot]]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as data_dir:
        store = ChangeStore(Path(data_dir))
        for old, _ in pairs:
            store.record(old, now=NOW)
        start = time.process_time()
        for _, new in pairs:
            store.record(new, now=NOW + 900)
        spent = time.process_time() - start
        sizes = [p.stat().st_size for p in store.snapshots.iterdir()]
        return spent, int(statistics.median(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pairs = host_pairs(args.hosts)
    diff_runs, store_runs = [], []
    for _ in range(args.rounds):
        spent, found = diff_cpu(pairs)
        diff_runs.append(spent * 1000 / args.hosts)
        store_spent, snapshot_bytes = store_cpu(pairs[:STORE_HOSTS])
        store_runs.append(store_spent * 1000 / STORE_HOSTS)
    diff_median = statistics.median(diff_runs)
    print(f"hosts {args.hosts}, {PACKAGES} packages, {SERVICES} services, {FILES} files each;"
          f" {found} changes found per round")  # fmt: skip
    print(f"diff   CPU s per 1,000 hosts: median {diff_median:.3f}  runs "
          + " ".join(f"{r:.3f}" for r in diff_runs))  # fmt: skip
    print(f"ratio to the 1 s budget: {diff_median / 1.0:.2f}")
    store_median = statistics.median(store_runs)
    print(f"record CPU s per 1,000 hosts (decode+diff+append+fsync+compress+write): median "
          f"{store_median:.3f}  runs " + " ".join(f"{r:.3f}" for r in store_runs))  # fmt: skip
    print(f"snapshot file: {snapshot_bytes} bytes (median)")


if __name__ == "__main__":
    main()
