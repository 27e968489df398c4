"""`opsconsole inventory ...` through console.cli.main and through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from console.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-inventory.yaml"
GOLDEN = Path(__file__).parent / "golden_inventory.yaml"
OPSCONSOLE = Path(sys.executable).parent / "opsconsole"
JSON_KEYS = {"name", "address", "port", "user", "connection", "groups", "vars"}


def test_sample_inventory_lists_localhost(capsys):
    assert main(["-i", str(SAMPLE), "inventory", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "ADDRESS", "CONNECTION", "GROUPS"]
    assert out[1].split() == ["localhost", "localhost", "local", "local"]


def test_list_json_has_exactly_the_documented_keys(capsys):
    assert main(["inventory", "list", "web:&prod", "--json", "-i", str(GOLDEN)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == [
        "web01.example.com",
        "web02.example.com",
        "web04.example.com",
        "web06.example.com",
        "web08.example.com",
    ]
    assert all(set(r) == JSON_KEYS for r in records)
    assert records[0]["vars"]["env"] == "host_prod" and records[0]["port"] == 22


def test_pattern_matching_nothing_says_so_and_exits_0(capsys):
    assert main(["-i", str(GOLDEN), "inventory", "list", "nosuch"]) == 0
    assert "no hosts matched 'nosuch'" in capsys.readouterr().err


def test_bad_pattern_exits_2(capsys):
    assert main(["-i", str(GOLDEN), "inventory", "list", "~web("]) == 2
    assert "invalid regular expression" in capsys.readouterr().err


def test_check_summarises(capsys):
    assert main(["-i", str(GOLDEN), "inventory", "check"]) == 0
    out = capsys.readouterr().out
    assert "hosts: 21" in out and "groups: 16" in out
    assert "by connection: local 1, ssh 17, winrm 3" in out


def test_check_bad_inventory_exits_2_with_file_and_line(write, capsys):
    bad = write("all:\n  hosts:\n    web01:\n      ansible_connection: telnet\n")
    assert main(["-i", str(bad), "inventory", "check"]) == 2
    assert f"{bad}:4:" in capsys.readouterr().err


def test_graph_matches_ansible(capsys):
    assert main(["-i", str(GOLDEN), "inventory", "graph"]) == 0
    expected = (Path(__file__).parent / "ansible_answers" / "graph.txt").read_text()
    assert capsys.readouterr().out == expected


def test_list_hosts_works_without_a_pattern_attribute(capsys):
    import argparse

    from console.cli.inventory_cmd import list_hosts
    from console.settings import Settings

    settings = Settings.resolve(inventory=str(SAMPLE))
    assert list_hosts(argparse.Namespace(), settings) == 0
    assert "localhost" in capsys.readouterr().out


def test_import_rundeck_prints_loadable_yaml(write, capsys):
    resources = write(
        "web1:\n  hostname: w1:2200\n  username: ops\n  tags: web\n", name="resources.yaml"
    )
    assert main(["inventory", "import-rundeck", str(resources)]) == 0
    converted = write(capsys.readouterr().out, name="converted.yaml")
    assert main(["-i", str(converted), "inventory", "list", "tag=web", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["address"], record["port"], record["user"]) == ("w1", 2200, "ops")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPSCONSOLE), *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_installed_script_exit_codes_and_json(write):
    listed = run("inventory", "list", "--json", "-i", str(SAMPLE))
    assert listed.returncode == 0, listed.stderr
    (record,) = json.loads(listed.stdout)
    assert set(record) == JSON_KEYS and record["connection"] == "local"
    bad = write("all:\n  hosts: [a, b]\n")
    checked = run("-i", str(bad), "inventory", "check")
    assert checked.returncode == 2
    assert f"{bad}:2:" in checked.stderr and "hosts" in checked.stderr
    assert run("-i", str(SAMPLE), "inventory", "list", "web:&").returncode == 2
