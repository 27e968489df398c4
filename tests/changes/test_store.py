"""ChangeStore on real files: snapshots, the change log, queries, retention, crashes."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from console.changes.model import ChangeKind, ChangeType, Package, Service, Snapshot
from console.changes.store import ChangeNotFound, ChangeStore, snapshot_file_name
from console.errors import UsageError
from tests.changes.test_diff import NOW, snapshot

DAY = 86400.0


def with_package(base: Snapshot, name: str, version: str = "1.0") -> Snapshot:
    return dataclasses.replace(
        base, software=(*base.software, Package(name, version, "amd64", "dpkg"))
    )


def test_first_collection_is_kept_as_the_baseline_and_logs_nothing(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    assert store.record(snapshot(), now=NOW) == []
    assert store.latest("web01") == snapshot()
    assert store.hosts() == ["web01"]
    assert store.list_changes() == []


def test_identical_collections_add_no_bytes_and_keep_one_snapshot_file(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    store.record(snapshot(), now=NOW)
    store.record(with_package(snapshot(), "htop"), now=NOW + 60)
    log_size = store.log_path.stat().st_size
    for n in range(50):
        again = dataclasses.replace(with_package(snapshot(), "htop"), collected=NOW + 120 + n)
        assert store.record(again, now=NOW + 120 + n) == []
    assert store.log_path.stat().st_size == log_size
    assert [p.name for p in store.snapshots.iterdir()] == ["web01.json.z"]
    assert store.latest("web01").collected == NOW + 169  # type: ignore[union-attr]


def test_a_change_is_logged_durably_and_read_back_equal(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    store.record(snapshot(), now=NOW)
    [added] = store.record(with_package(snapshot(), "htop"), now=NOW + 60)
    assert (added.type, added.change, added.name) == (ChangeType.SOFTWARE, ChangeKind.ADDED, "htop")
    reopened = ChangeStore(tmp_path)
    assert reopened.list_changes() == [added]
    assert reopened.get_change(added.id) == added


def test_queries_filter_by_host_type_since_and_text_newest_first(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    db = dataclasses.replace(snapshot(), host="db01")
    store.record(snapshot(), now=NOW)
    store.record(db, now=NOW)
    store.record(with_package(snapshot(), "htop"), now=NOW + 10)
    store.record(with_package(db, "postgresql", "15.6"), now=NOW + 20)
    stopped = dataclasses.replace(db, services=(Service("ssh", "stopped", "enabled", "sysv"),))
    store.record(stopped, now=NOW + 30)  # postgresql removed, ssh stopped

    def names(**query: object) -> list[str]:
        return [f"{c.host}:{c.name}:{c.change}" for c in store.list_changes(**query)]  # type: ignore[arg-type]

    assert names() == [
        "db01:ssh:modified",
        "db01:postgresql:removed",
        "db01:postgresql:added",
        "web01:htop:added",
    ]
    assert names(host="web01") == ["web01:htop:added"]
    assert names(type="service") == ["db01:ssh:modified"]
    assert names(since=NOW + 20) == names()[:3]
    assert names(text="15.6") == ["db01:postgresql:removed", "db01:postgresql:added"]
    assert names(text="STOPPED") == ["db01:ssh:modified"]
    assert names(limit=2) == names()[:2]
    page = store.list_changes(limit=2)
    assert names(before_id=page[-1].id) == names()[2:]


def test_unknown_id_and_unknown_type_are_usage_errors(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    with pytest.raises(ChangeNotFound, match="no change 'nope'"):
        store.get_change("nope")
    with pytest.raises(UsageError, match=r"unknown change type 'pkg' .*software"):
        store.list_changes(type="pkg")


def test_retention_drops_old_changes_and_keeps_recent_ones_and_snapshots(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    store.record(snapshot(), now=NOW - 40 * DAY)
    store.record(with_package(snapshot(), "old"), now=NOW - 31 * DAY)
    store.record(with_package(snapshot(), "new"), now=NOW - DAY)  # old removed, new added
    assert store.apply_retention(now=NOW) == 1
    reopened = ChangeStore(tmp_path)
    assert [(c.name, c.change) for c in reopened.list_changes()] == [
        ("old", "removed"),
        ("new", "added"),
    ]
    assert reopened.get_change(reopened.list_changes()[0].id).name == "old"
    assert reopened.latest("web01") is not None


def test_a_torn_last_line_loses_nothing_acknowledged(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    store.record(snapshot(), now=NOW)
    acknowledged = store.record(with_package(snapshot(), "htop"), now=NOW + 1)
    with store.log_path.open("ab") as log:  # a crash in the middle of the next append
        log.write(b'{"id":"0006","time":17500')
    reopened = ChangeStore(tmp_path)
    assert reopened.list_changes() == acknowledged
    later = reopened.record(snapshot(), now=NOW + 2)  # htop removed: appended cleanly
    assert ChangeStore(tmp_path).list_changes() == later + acknowledged
    assert not (tmp_path / "changes" / "log.jsonl.damaged").exists()


def test_a_damaged_line_is_kept_aside_and_the_others_stay_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ChangeStore(tmp_path)
    store.record(snapshot(), now=NOW)
    first = store.record(with_package(snapshot(), "a"), now=NOW + 1)
    store.record(with_package(snapshot(), "b"), now=NOW + 2)  # a removed, b added
    lines = store.log_path.read_bytes().splitlines(keepends=True)
    lines[1] = b"#garbage from a bad sector#\n"
    store.log_path.write_bytes(b"".join(lines))
    with caplog.at_level(logging.ERROR):
        reopened = ChangeStore(tmp_path)
    assert [(c.name, c.change) for c in reopened.list_changes()] == [("b", "added"), ("a", "added")]
    assert reopened.get_change(first[0].id) == first[0]
    aside = (tmp_path / "changes" / "log.jsonl.damaged").read_bytes()
    assert b"#garbage from a bad sector#" in aside
    assert "damaged" in caplog.text
    assert ChangeStore(tmp_path).list_changes() == reopened.list_changes()


def test_a_damaged_snapshot_is_set_aside_and_invents_no_change(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    store.record(snapshot(), now=NOW)
    path = store.snapshots / snapshot_file_name("web01")
    path.write_bytes(b"not zlib")
    assert store.record(with_package(snapshot(), "htop"), now=NOW + 1) == []
    assert (store.snapshots / (path.name + ".damaged")).read_bytes() == b"not zlib"
    assert store.latest("web01") == with_package(snapshot(), "htop")


def test_host_names_cannot_escape_the_snapshot_directory(tmp_path: Path) -> None:
    store = ChangeStore(tmp_path)
    for host in ("../evil", ".hidden", "fe80::1", "a/b"):
        store.record(dataclasses.replace(snapshot(), host=host), now=NOW)
    assert sorted(store.hosts()) == sorted(["../evil", ".hidden", "fe80::1", "a/b"])
    assert all(not p.name.startswith(".") for p in store.snapshots.iterdir())
    assert sorted(p.name for p in (tmp_path / "changes").iterdir()) == ["snapshots"]
