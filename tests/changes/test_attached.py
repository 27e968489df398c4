"""Inventory data through a running `opsconsole serve`: the CLI attaches over the
control socket (RemoteChanges) and gets what an in-process engine gives."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.serve.conftest import Site, site

__all__ = ["site"]


def test_collect_facts_and_tracking_through_a_running_engine(site: Site, tmp_path: Path) -> None:
    tracked = tmp_path / "tracked.conf"
    tracked.write_text("port 22\n")
    site.serve()
    assert site.cli_json("tracking", "list") == []
    site.cli("tracking", "add-file", str(tracked))
    assert [t["path"] for t in site.cli_json("tracking", "list")] == [str(tracked)]

    first = site.cli_json("inventory", "collect", "localhost")
    assert [(r["host"], r["ok"]) for r in first] == [("localhost", True)]
    facts = site.cli_json("inventory", "facts", "localhost")
    assert facts["hostname"] == socket.gethostname()

    tracked.write_text("port 2222\n")
    again = site.cli_json("inventory", "collect", "localhost")
    assert again[0]["changes"] == 1
    changes = site.cli_json("changes", "list", "--host", "localhost")
    assert [(c["type"], c["change"], c["name"]) for c in changes] == [
        ("file", "modified", str(tracked))
    ]
    shown = site.cli("changes", "show", changes[0]["id"]).stdout
    assert "-port 22" in shown and "+port 2222" in shown


def test_a_serving_engine_collects_every_host_on_its_own(site: Site) -> None:
    assert site.cli("tracking", "interval").stdout == "each host is collected every 15m00s\n"
    serve = site.serve(collection=True)  # nobody runs `inventory collect`
    logged = serve.wait_for(lambda line: line["event"] == "periodic collection done")
    assert (logged["hosts"], logged["changes"], logged["failed"]) == (1, 0, 0)
    facts = site.cli_json("inventory", "facts", "localhost")
    assert facts["hostname"] == socket.gethostname()

    assert site.cli_json("tracking", "interval", "30m") == 1800
    assert "off" in site.cli("tracking", "interval", "off").stdout
    assert site.cli_json("tracking", "interval") is None
    too_short = site.cli("tracking", "interval", "10s", check=False)
    assert too_short.returncode == 2 and "too short" in too_short.stderr
