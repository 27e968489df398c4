"""Target patterns beyond the golden answers: tag=, errors, edge syntax."""

from __future__ import annotations

import pytest

from console.errors import UsageError
from console.inventory import load_inventory
from console.inventory.patterns import split_pattern


@pytest.fixture
def inv(write):
    return load_inventory(
        write("""
        all:
          children:
            web:
              vars: {console_tags: [web]}
              hosts:
                web[01:04]:
                web02: {console_tags: [web, canary]}
            prod:
              vars: {console_tags: "prod, web"}
              hosts:
                web03:
                db01:
    """)
    )


def names(hosts):
    return [h.name for h in hosts]


def test_tag_selects_by_console_tags_and_combines(inv):
    assert names(inv.select("tag=canary")) == ["web02"]
    # web03 is in web and prod (same depth): "web" sorts later, so its console_tags win.
    assert names(inv.select("tag=prod")) == ["db01"]
    assert names(inv.select("tag=web:!tag=canary")) == ["web01", "web03", "web04", "db01"]
    assert names(inv.select("prod:&tag=web")) == ["web03", "db01"]
    assert names(inv.select("tag=can*")) == ["web02"]
    assert inv.select("tag=nothing") == []


def test_splitting_follows_ansible():
    assert split_pattern("a:b") == ["a", "b"]
    assert split_pattern("web[1:3]") == ["web[1:3]"]
    assert split_pattern("a, b ,c") == ["a", "b", "c"]
    assert split_pattern("fe80::1") == ["fe80::1"]
    assert split_pattern("web:&prod:!db*") == ["web", "&prod", "!db*"]


def test_exclusion_and_intersection_apply_after_unions(inv):
    assert names(inv.select("!web03:prod")) == ["db01"]
    assert names(inv.select("&prod")) == ["web03", "db01"]


def test_nothing_matched_is_an_empty_list(inv):
    assert inv.select("nosuchgroup") == []
    assert inv.select("web:&db*") == []


@pytest.mark.parametrize("pattern", ["", "  ", ",", "~web(", "web:&", "!", "web[9]", "tag="])
def test_unusable_patterns_raise_usage_error(inv, pattern):
    with pytest.raises(UsageError):
        inv.select(pattern)


def test_get_unknown_host_is_a_usage_error(inv):
    assert inv.get("db01").name == "db01"
    with pytest.raises(UsageError, match="no host 'nope'"):
        inv.get("nope")


def test_implicit_localhost_like_ansible(inv):
    (local,) = inv.select("localhost")
    assert local.connection == "local" and local.name not in inv.hosts
