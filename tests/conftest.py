"""Shared pytest fixtures.

Keep one section per concern, each with a short note on when to use its fixtures.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fleet import Fleet, start_fleet

# --- temporary folders ---------------------------------------------------------------------
# Every temporary folder of the session (this process's, and those of the engines, workers
# and commands it starts, which inherit TMPDIR) lies under pytest's base folder: a process a
# test kills on purpose leaves its run folders there, where pytest's retention removes them,
# not in the machine's /tmp.


@pytest.fixture(scope="session", autouse=True)
def temp_under_pytest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    temp = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(temp))
        patch.setattr(tempfile, "tempdir", str(temp))
        yield


# --- the SSH test fleet (tests/fleet.py) ---------------------------------------------------
# `fleet`: 20 real hosts for the whole session; read-mostly, so undo any change you make.
# `small_fleet`: 3 fresh hosts per test, for tests that stop hosts, rotate keys or write.
# `fleet_factory(count, isolated=None)`: more fleets, all stopped after the test.


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with start_fleet(20, tmp_path_factory.mktemp("fleet")) as started:
        yield started


@pytest.fixture
def small_fleet(tmp_path: Path) -> Iterator[Fleet]:
    with start_fleet(3, tmp_path / "small-fleet") as started:
        yield started


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(count: int, *, isolated: bool | None = None) -> Fleet:
        fleets.append(start_fleet(count, tmp_path / f"fleet{len(fleets)}", isolated=isolated))
        return fleets[-1]

    try:
        yield make
    finally:
        for started in fleets:
            started.stop()
