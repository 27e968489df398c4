"""Every bad inventory is refused with file, line and the offending key; nothing loads."""

from __future__ import annotations

import pytest

from console.errors import InventoryError
from console.inventory import load_inventory

BAD = {
    "yaml_syntax": ("all:\n  hosts:\n\tweb01:\n", 3, "YAML"),
    "yaml_unclosed_flow": ("all:\n  hosts:\n    web01: [oops\n", 4, "YAML"),
    "host_value_not_mapping": ("all:\n  hosts:\n    web01: 42\n", 3, "web01"),
    "host_value_list": ("all:\n  hosts:\n    web01:\n      - a\n", 3, "web01"),
    "unknown_connection": (
        "all:\n  hosts:\n    web01:\n      ansible_connection: telnet\n",
        4,
        "ansible_connection",
    ),
    "unknown_connection_in_group_vars": (
        "all:\n  vars:\n    ansible_connection: psrp\n",
        3,
        "ansible_connection",
    ),
    "bad_range": ("all:\n  hosts:\n    web[05:1]:\n", 3, "web[05:1]"),
    "bad_range_letters": ("all:\n  hosts:\n    web[a:5]:\n", 3, "web[a:5]"),
    "unclosed_range": ("all:\n  hosts:\n    web[1:3:\n", 3, "web[1:3"),
    "duplicate_top_key": ("all:\n  hosts:\n    a:\nall:\n  hosts:\n    b:\n", 4, "all"),
    "duplicate_hosts_key": (
        "all:\n  children:\n    web:\n      hosts:\n        a:\n      hosts:\n        b:\n",
        6,
        "hosts",
    ),
    "duplicate_host": ("all:\n  hosts:\n    a:\n    b:\n    a:\n", 5, "'a'"),
    "duplicate_var": ("all:\n  hosts:\n    a:\n      x: 1\n      x: 2\n", 5, "'x'"),
    "unknown_host_key_policy": (
        "all:\n  vars:\n    console_host_key_policy: yolo\n",
        3,
        "console_host_key_policy",
    ),
    "hosts_is_a_list": ("all:\n  children:\n    web:\n      hosts:\n        - a\n", 4, "hosts"),
    "children_is_a_list": ("all:\n  children:\n    - web\n", 2, "children"),
    "unknown_group_key": ("all:\n  host:\n    a:\n", 2, "host"),
    "group_not_mapping": ("web: 3\n", 1, "web"),
    "bad_port": ("all:\n  hosts:\n    a:\n      ansible_port: http\n", 4, "ansible_port"),
    "bad_priority": (
        "web:\n  vars:\n    ansible_group_priority: high\n",
        3,
        "ansible_group_priority",
    ),
    "group_loop": ("a:\n  children:\n    b:\n      children:\n        a:\n", 3, "loop"),
    "numeric_host_name": ("all:\n  hosts:\n    1.5:\n", 3, "1.5"),
    "top_level_list": ("- a\n- b\n", 1, "mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inventory_names_file_line_and_key(write, case):
    text, line, key = BAD[case]
    path = write(text, name=f"{case}.yaml")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    error = caught.value
    message = str(error)
    assert error.path == str(path) and error.line == line, message
    assert f"{case}.yaml:{line}:" in message
    assert key in message


def test_missing_and_empty_files(tmp_path, write):
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "nope.yaml")
    with pytest.raises(InventoryError, match="empty"):
        load_inventory(write("# nothing\n"))


def test_bad_json_inventory_still_gets_a_line_number(write):
    path = write('{\n  "_meta": {"hostvars": {}},\n  "web": {"hosts": "a"}\n}\n', name="inv.json")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.line == 3 and "hosts" in str(caught.value)
    dup = write('{"web": ["a"],\n "web": ["b"]}\n', name="dup.json")
    with pytest.raises(InventoryError, match=r"dup.json:2: duplicate key 'web'"):
        load_inventory(dup)
