"""Rundeck resources.yaml → Ansible YAML, both file forms, loaded back by our loader."""

from __future__ import annotations

import pytest

from console.errors import InventoryError
from console.inventory import load_inventory
from console.inventory.rundeck import rundeck_to_ansible

MAP_FORM = """
web01.example.com:
  nodename: web01.example.com
  hostname: web01.example.com
  username: ops
  osFamily: unix
  tags: 'linux,web,prod'
  ssh-key-storage-path: keys/project/ops/id_ed25519
  env: prod
db01.example.com:
  hostname: 10.0.0.7:2222
  username: ops
  tags: [linux, db, prod]
win01.example.com:
  nodename: win01.example.com
  hostname: win01.example.com
  username: 'svc-ops@EXAMPLE.COM'
  osFamily: windows
  node-executor: WinRMPython
  tags: windows
"""

LIST_FORM = """
- nodename: app1
  hostname: app1.internal:2200
  username: deploy
  tags: [app, blue-green]
  ssh-keypath: /home/deploy/.ssh/id_ed25519
- nodename: app2
  hostname: app2.internal
  username: deploy
  tags: app
"""


def convert_and_load(write, text):
    ansible_yaml = rundeck_to_ansible(write(text, name="resources.yaml"))
    return load_inventory(write(ansible_yaml, name="converted.yaml"))


def test_map_form_round_trip(write):
    inv = convert_and_load(write, MAP_FORM)
    assert list(inv.hosts) == ["web01.example.com", "db01.example.com", "win01.example.com"]
    web, db, win = inv.hosts.values()
    assert (web.address, web.port, web.user, web.connection) == (
        "web01.example.com",
        22,
        "ops",
        "ssh",
    )
    assert web.tags == ("linux", "web", "prod") and web.vars["env"] == "prod"
    assert web.vars["rundeck_ssh_key_storage_path"] == "keys/project/ops/id_ed25519"
    assert (db.address, db.port) == ("10.0.0.7", 2222)
    assert (win.connection, win.user) == ("winrm", "svc-ops@EXAMPLE.COM")
    assert names(inv.select("prod")) == ["web01.example.com", "db01.example.com"]
    assert names(inv.select("tag=windows")) == ["win01.example.com"]
    assert web.groups == ("linux", "prod", "web")


def test_list_form_round_trip(write):
    inv = convert_and_load(write, LIST_FORM)
    app1, app2 = inv.get("app1"), inv.get("app2")
    assert (app1.address, app1.port, app1.user) == ("app1.internal", 2200, "deploy")
    assert app1.private_key_file == "/home/deploy/.ssh/id_ed25519"
    assert app1.tags == ("app", "blue-green")
    assert "blue_green" in inv.groups  # tag → valid group name
    assert names(inv.select("app")) == ["app1", "app2"]
    assert app2.port == 22


def names(hosts):
    return [h.name for h in hosts]


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("web01:\n  username: ops\n", 1, "hostname"),
        ("web01:\n  hostname: web01:http\n", 2, "hostname"),
        ("web01:\n  hostname: web01\n  tags: {a: b}\n", 3, "tags"),
        ("- hostname: a\n  nodename: ''\n", 2, "nodename"),
        ("web01: just-a-string\n", 1, "web01"),
        ("web01:\n  hostname: a\nweb01:\n  hostname: b\n", 3, "web01"),
        ("web01: [\n", 2, "YAML"),
    ],
)
def test_errors_name_file_line_and_key(write, text, line, key):
    path = write(text, name="resources.yaml")
    with pytest.raises(InventoryError) as caught:
        rundeck_to_ansible(path)
    assert f"resources.yaml:{line}:" in str(caught.value) and key in str(caught.value)
