"""Reading Ansible YAML inventories: structure, ranges, precedence, connection settings."""

from __future__ import annotations

import json
import time

from console.inventory import load_inventory


def test_hosts_vars_children_and_implicit_groups(write):
    inv = load_inventory(
        write("""
        all:
          hosts:
            solo:
          children:
            web:
              hosts:
                web1:
                web2: {ansible_host: 192.0.2.2}
        db:
          hosts:
            db1:
    """)
    )
    assert list(inv.hosts) == ["solo", "web1", "web2", "db1"]
    assert inv.groups["all"].children == ("ungrouped", "web", "db")
    assert inv.groups["ungrouped"].hosts == ("solo",)
    assert inv.get("solo").groups == ("ungrouped",)
    assert inv.get("web2").address == "192.0.2.2"
    assert inv.get("db1").groups == ("db",)


def test_ranges_with_padding_letters_and_stride(write):
    inv = load_inventory(
        write("""
        all:
          hosts:
            web[01:03].example.com:
            db-[a:c]:
            node[1:10:3]:
            rack[1:2]-u[08:09]:
    """)
    )
    assert list(inv.hosts) == [
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
        "db-a",
        "db-b",
        "db-c",
        "node1",
        "node4",
        "node7",
        "node10",
        "rack1-u08",
        "rack1-u09",
        "rack2-u08",
        "rack2-u09",
    ]


def test_host_key_with_port_and_host_in_many_groups(write):
    inv = load_inventory(
        write("""
        all:
          children:
            a:
              hosts:
                db01:2222: {x: 1}
            b:
              hosts:
                db01: {y: 2}
    """)
    )
    host = inv.get("db01")
    assert host.port == 2222 and host.groups == ("a", "b")
    assert dict(host.vars) == {"ansible_port": 2222, "x": 1, "y": 2}
    assert inv.select("a") == inv.select("b") == [host]


def test_precedence_child_over_parent_host_over_group_alphabetical_and_priority(write):
    inv = load_inventory(
        write("""
        all:
          vars: {v_all: all, level: all, pick: all, prio: all}
          children:
            parent:
              vars: {level: parent, pick: parent}
              children:
                child:
                  vars: {level: child}
                  hosts:
                    h1: {pick: host}
            zed:
              vars: {alpha: zed, prio: zed}
              hosts: {h1: }
            abc:
              vars: {prio: abc, ansible_group_priority: 5}
              hosts: {h1: }
            mid:
              vars: {alpha: mid}
              hosts: {h1: }
    """)
    )
    merged = inv.get("h1").vars
    assert merged["v_all"] == "all"
    assert merged["level"] == "child"  # deeper group wins
    assert merged["pick"] == "host"  # host vars win over every group
    assert merged["alpha"] == "zed"  # same depth: later in alphabetical order wins
    assert merged["prio"] == "abc"  # ... unless ansible_group_priority is higher
    assert "ansible_group_priority" not in merged


def test_ungrouped_host_listed_in_another_group_leaves_ungrouped(write):
    inv = load_inventory(
        write("""
        ungrouped:
          hosts: {h1: , h2: }
        web:
          hosts: {h2: }
    """)
    )
    assert inv.groups["ungrouped"].hosts == ("h1",)
    assert inv.get("h2").groups == ("web",)


def test_string_section_is_a_single_entry_as_in_ansible(write):
    inv = load_inventory(
        write("""
        web:
          hosts: web01
    """)
    )
    assert list(inv.hosts) == ["web01"]


def test_connection_settings_and_aliases(write):
    inv = load_inventory(
        write("""
        all:
          hosts:
            s: {ansible_connection: smart, ansible_user: ops, ansible_ssh_private_key_file: /k}
            p: {ansible_connection: paramiko}
            w: {ansible_connection: winrm}
            l: {ansible_connection: local}
            j:
              ansible_ssh_common_args: >-
                -o ProxyJump=ops@bastion:2222 -o StrictHostKeyChecking=accept-new
                -o UserKnownHostsFile=/etc/ops/known_hosts
            k:
              ansible_ssh_common_args: -J jump1 -o StrictHostKeyChecking=no
              console_jump_host: jump2
              console_host_key_policy: strict
              console_tags: web, prod
    """)
    )
    s, p, w, loc = (inv.get(n) for n in "swpl".replace("wp", "pw"))
    assert (s.connection, s.user, s.private_key_file, s.port) == ("ssh", "ops", "/k", 22)
    assert p.connection == "ssh"
    assert (w.connection, w.port, w.winrm_scheme) == ("winrm", 5986, "https")
    assert loc.connection == "local"
    j = inv.get("j")
    assert (j.jump_host, j.host_key_policy) == ("ops@bastion:2222", "accept-new")
    assert j.known_hosts_file == "/etc/ops/known_hosts"
    k = inv.get("k")
    assert (k.jump_host, k.host_key_policy, k.tags) == ("jump2", "strict", ("web", "prod"))
    assert inv.get("s").host_key_policy == "strict"


def test_json_from_ansible_inventory_list_detected_by_content(write):
    listing = {
        "_meta": {"hostvars": {"web1": {"env": "prod", "ansible_port": 2200}}},
        "all": {"children": ["ungrouped", "web"]},
        "ungrouped": {"hosts": ["solo"]},
        "web": {"hosts": ["web1"], "vars": {"tier": "web"}},
    }
    path = write(json.dumps(listing), name="inventory.yaml")
    inv = load_inventory(path)
    assert dict(inv.get("web1").vars) == {"tier": "web", "env": "prod", "ansible_port": 2200}
    assert inv.get("solo").groups == ("ungrouped",)


def test_json_suffix_with_host_lists_without_meta(write):
    path = write(
        '{"web": ["a", "b"], "db": {"hosts": ["c"], "children": ["web"]}}', name="inv.json"
    )
    inv = load_inventory(path)
    assert [h.name for h in inv.select("db")] == ["c", "a", "b"]


def test_ten_thousand_hosts_load_fast(tmp_path):
    lines = ["all:", "  vars:", "    ansible_user: ops", "  children:"]
    for g in range(50):
        lines += [f"    group{g}:", "      vars:", f"        env: e{g}", "      hosts:"]
        for h in range(200):
            lines += [
                f"        host{g:02d}-{h:03d}.example.com:",
                f"          ansible_host: 10.{g}.0.{h}",
                "          console_tags: [web, prod]",
            ]
    path = tmp_path / "big.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.process_time()  # CPU time: other load on the machine does not count
    inv = load_inventory(path)
    elapsed = time.process_time() - started
    assert len(inv.hosts) == 10_000
    assert len(inv.select("all:!group7")) == 9_800
    # ~0.7s on an idle core; the bound leaves room for a busy shared CI machine.
    assert elapsed < 5.0, f"10,000 hosts took {elapsed:.2f}s"
