"""When each running service last started: what makes a flap visible.

A service that stopped and came back between two collections looks the same in both
(running, enabled): Azure's Change Tracking users complain that such flaps are missed.
Its start time is not the same, so the collector reads it and the diff reports a
`service modified` whose before/after differ in `started`.

* systemd: `ActiveEnterTimestampMonotonic` of each loaded service (microseconds
  after boot when the unit last became active; 0 when it never did).
* SysV (no systemd, as on the test fleet): the process behind the service's pid file
  (`/run/NAME.pid`, `/run/NAMEd.pid` or `/run/NAME/*.pid`) and its start time from
  `/proc/PID/stat` (field 22, clock ticks after boot). A service without a pid file
  has no start time (None), and None never makes a change on its own.

Both are turned into epoch seconds with the host's boot time, so they read as times.
"""

from __future__ import annotations

import posixpath

from console.changes.sections import Section

STAT_START_FIELD = 22  # starttime in /proc/PID/stat (1-based, man proc(5))


def parse_systemd_starts(section: Section, boot_time: float | None) -> dict[str, float]:
    """`systemctl show` blocks of `Id=` and `ActiveEnterTimestampMonotonic=` lines."""
    starts: dict[str, float] = {}
    unit, micros = "", ""
    for line in [*section.lines, ""]:
        key, _, value = line.partition("=")
        if key == "Id":
            unit = value
        elif key == "ActiveEnterTimestampMonotonic":
            micros = value
        elif not line.strip():
            if unit and micros.isdigit() and int(micros) and boot_time is not None:
                starts[unit] = round(boot_time + int(micros) / 1e6, 3)
            unit, micros = "", ""
    return starts


def parse_pid_starts(
    section: Section, services: list[str], boot_time: float | None
) -> dict[str, float]:
    """`PIDFILE<TAB>CLK_TCK<TAB>/proc/PID/stat` lines, matched to `services` by name."""
    by_file: dict[str, float] = {}
    for line in section.lines:
        fields = line.split("\t", 2)
        if len(fields) != 3 or not fields[1].isdigit():
            raise section.fail("expected pid file, clock ticks and /proc stat", line)
        started = _stat_start(fields[2], int(fields[1]), boot_time)
        if started is not None:
            by_file[fields[0]] = started
    starts: dict[str, float] = {}
    for name in services:
        found = [t for path, t in by_file.items() if _pid_file_of(name, path)]
        if found:
            starts[name] = min(found)
    return starts


def _pid_file_of(service: str, path: str) -> bool:
    """`/run/ssh.pid`, `/run/sshd.pid` or `/run/ssh/x.pid` belong to `ssh`."""
    directory, base = posixpath.split(path)
    stem = base.removesuffix(".pid")
    return stem in (service, service + "d") or posixpath.basename(directory) == service


def _stat_start(stat: str, ticks_per_second: int, boot_time: float | None) -> float | None:
    """The process's start time from its stat line; its name (field 2) may hold
    spaces and parentheses, so fields are counted after the last `)`."""
    rest = stat.rpartition(")")[2].split()
    index = STAT_START_FIELD - 3  # rest starts at field 3
    if boot_time is None or ticks_per_second <= 0 or len(rest) <= index:
        return None
    ticks = rest[index]
    return round(boot_time + int(ticks) / ticks_per_second, 3) if ticks.isdigit() else None
