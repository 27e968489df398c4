"""The tracking configuration in a real store: files, interval, alerts and matching."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.changes.model import Change, ChangeKind, ChangeType
from console.changes.tracking import DEFAULT_INTERVAL_S, Alert, Tracking, matching, parse_when
from console.errors import UsageError
from console.inventory.loader import load_inventory
from console.inventory.model import Inventory
from console.store import Store

INVENTORY = """\
all:
  children:
    web:
      hosts:
        web01:
        web02:
    db:
      hosts:
        db01:
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    return load_inventory(path)


def change(**fields: object) -> Change:
    base: dict[str, object] = {
        "id": "x",
        "time": 0.0,
        "host": "web01",
        "type": ChangeType.FILE,
        "change": ChangeKind.MODIFIED,
        "name": "/etc/passwd",
    }
    return Change(**{**base, **fields})  # type: ignore[arg-type]


def test_tracked_files_persist_and_go_to_the_hosts_of_their_pattern(
    store: Store, inventory: Inventory, tmp_path: Path
) -> None:
    tracking = Tracking(store)
    tracking.add_file("/etc/passwd")
    tracking.add_file("/etc/nginx/*.conf", pattern="web")
    tracking.add_file("/var/lib/pg/big.dat", pattern="db", content=False)
    store.close()
    reopened = Tracking(Store(tmp_path / "data"))
    assert [t.path for t in reopened.files()] == [
        "/etc/passwd",
        "/etc/nginx/*.conf",
        "/var/lib/pg/big.dat",
    ]
    assert [(t.path, t.content) for t in reopened.files_for("web01", inventory)] == [
        ("/etc/passwd", True),
        ("/etc/nginx/*.conf", True),
    ]
    assert [(t.path, t.content) for t in reopened.files_for("db01", inventory)] == [
        ("/etc/passwd", True),
        ("/var/lib/pg/big.dat", False),
    ]
    plan = reopened.files_by_host(["web02", "db01"], inventory)
    assert plan["web02"] == reopened.files_for("web02", inventory)


def test_bad_and_duplicate_paths_are_refused_with_what_to_fix(store: Store) -> None:
    tracking = Tracking(store)
    tracking.add_file("/etc/hosts")
    with pytest.raises(UsageError, match="'etc/hosts' is not an absolute path"):
        tracking.add_file("etc/hosts")
    with pytest.raises(UsageError, match=r"holds '\.\.'"):
        tracking.add_file("/etc/../etc/shadow")
    with pytest.raises(UsageError, match="/etc/hosts is tracked already"):
        tracking.add_file("/etc/hosts", pattern="web")
    with pytest.raises(UsageError, match="needs a name after '&'"):
        tracking.add_file("/etc/fstab", pattern="web:&")
    with pytest.raises(UsageError, match=r"/etc/motd is not tracked \(tracked: /etc/hosts\)"):
        tracking.remove_file("/etc/motd")
    tracking.remove_file("/etc/hosts")
    assert tracking.files() == []


def test_the_interval_defaults_to_15_minutes_and_can_be_set(store: Store) -> None:
    tracking = Tracking(store)
    assert tracking.interval() == DEFAULT_INTERVAL_S == 900
    tracking.set_interval(300)
    assert Tracking(store).interval() == 300
    with pytest.raises(UsageError, match="too short"):
        tracking.set_interval(5)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "needs a --when"),
        ("type=file name", "'name' is not key=value"),
        ("type=file colour=red", "unknown key 'colour'"),
        ("type=package", "type is one of software|service|file|fact"),
        ("change=changed", "change is one of added|removed|modified"),
        ("name=", "'name=' is not key=value"),
    ],
)
def test_bad_when_expressions_name_the_term(expression: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_when(expression)


def test_alerts_match_on_every_term(inventory: Inventory) -> None:
    passwd = Alert("passwd", "type=file name=/etc/passwd", "notify.sh")
    installs = Alert("installs", "type=software change=added", "audit.sh")
    web_conf = Alert("web-conf", "type=file name=/etc/nginx/* host=web", "reload.sh")
    db_glob = Alert("db-any", "host=db*", "page.sh")
    alerts = [passwd, installs, web_conf, db_glob]
    assert matching(alerts, change()) == [passwd]
    assert matching(alerts, change(type=ChangeType.SOFTWARE, name="htop")) == []
    added = change(type=ChangeType.SOFTWARE, change=ChangeKind.ADDED, name="htop", host="db01")
    assert matching(alerts, added) == [installs, db_glob]
    nginx = change(name="/etc/nginx/site.conf")
    assert matching(alerts, nginx) == []  # `web` is a group: it needs the inventory
    assert matching(alerts, nginx, inventory) == [web_conf]


def test_alerts_are_validated_stored_and_removed(store: Store) -> None:
    tracking = Tracking(store)
    alert = tracking.add_alert(
        "passwd", "type=file name=/etc/passwd", "notify.sh", parameters={"to": "ops"}
    )
    assert Tracking(store).alerts() == [alert]
    assert alert.parameters == {"to": "ops"} and alert.pattern is None
    with pytest.raises(UsageError, match="alert 'passwd' exists already"):
        tracking.add_alert("passwd", "type=file", "x.sh")
    with pytest.raises(UsageError, match="unknown key 'kind'"):
        tracking.add_alert("other", "kind=file", "x.sh")
    with pytest.raises(UsageError, match="is not an alert name"):
        tracking.add_alert("bad name", "type=file", "x.sh")
    with pytest.raises(UsageError, match=r"no alert 'nope' \(alerts: passwd\)"):
        tracking.remove_alert("nope")
    tracking.remove_alert("passwd")
    assert tracking.alerts() == []
