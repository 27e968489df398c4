"""Shared pytest fixtures.

Keep one section per concern, each with a short note on when to use its fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fleet import Fleet, start_fleet

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
