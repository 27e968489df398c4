"""Small named tables: upsert, get, delete, cap, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.errors import UsageError
from console.store import Store


def test_rows_round_trip_and_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    schedules = store.table("schedules")
    schedules.upsert("nightly", {"cron": "0 2 * * *", "enabled": True})
    schedules.upsert("hourly", {"cron": "0 * * * *"})
    schedules.upsert("nightly", {"cron": "0 3 * * *"})  # replaces, keeps no stale keys
    assert schedules.delete("hourly") is True
    assert schedules.delete("hourly") is False
    store.table("webhooks").upsert("deploy", {"token_hash": "ab12"})
    store.close()

    store = Store(tmp_path)
    assert store.table("schedules").all() == {"nightly": {"cron": "0 3 * * *"}}
    assert store.table("schedules").get("hourly") is None
    assert store.table("webhooks").get("deploy") == {"token_hash": "ab12"}


def test_returned_rows_are_copies(tmp_path: Path) -> None:
    table = Store(tmp_path).table("assets")
    table.upsert("db", {"hosts": ["a"]})
    row = table.get("db")
    assert row is not None
    row["hosts"].append("b")
    table.all()["db"]["hosts"].append("c")
    assert table.get("db") == {"hosts": ["a"]}


def test_a_capped_table_keeps_only_the_newest_rows(tmp_path: Path) -> None:
    decisions = Store(tmp_path).table("decisions", cap=100)
    for i in range(250):
        decisions.upsert(f"{i:06d}", {"schedule": "nightly", "fired": i % 2 == 0})
    rows = decisions.all()
    assert len(rows) == 100
    keys = list(rows)
    assert (keys[0], keys[-1]) == ("000150", "000249")


def test_table_names_cannot_escape_the_data_dir(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a table name"):
        Store(tmp_path).table("../jobs/active")


def test_a_damaged_table_file_is_kept_aside_and_its_good_rows_recovered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path)
    for name in ("alpha", "bravo", "charlie"):
        store.table("webhooks").upsert(name, {"token_hash": f"{name}-hash"})
    store.close()
    path = tmp_path / "tables" / "webhooks.json"
    original = path.read_bytes()
    at = original.index(b"bravo-hash")
    path.write_bytes(original[:at] + b"\xff" + original[at + 1 :])

    rows = Store(tmp_path).table("webhooks").all()
    assert rows == {
        "alpha": {"token_hash": "alpha-hash"},
        "charlie": {"token_hash": "charlie-hash"},
    }
    aside = path.with_name("webhooks.json.damaged")
    assert aside.read_bytes() == original[:at] + b"\xff" + original[at + 1 :]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "1 damaged line" in errors[0] and str(aside) in errors[0]
    assert Store(tmp_path).table("webhooks").all() == rows  # repaired: nothing more to say
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
