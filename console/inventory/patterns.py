"""Ansible target patterns: which hosts does `web:&prod:!web03` mean?

The syntax and meaning are Ansible's (`InventoryManager.get_hosts`):

- terms are separated by `,` (or by `:` when the whole pattern is not itself a host
  address such as `web[1:3]` or `fe80::1`); whitespace around terms is ignored;
- a term is `all`, a group or host name, a glob (`web0*`, `*.example.com`) or a regex
  (`~web0[1-3].*`, matched from the start of the name); a name or glob matching groups
  selects their hosts, and globs/regexes also match host names;
- `&term` intersects, `!term` excludes; plain terms are applied first, then all `&`,
  then all `!`, whatever their order in the pattern; with no plain term, `all` is used;
- a term may end with a subscript: `web[0]`, `web[-1]`, `web[1:3]`, `web[2:]`;
- the result is de-duplicated and keeps Ansible's order.

opsconsole extension: `tag=VALUE` selects hosts whose `console_tags` contain VALUE
(a glob is allowed: `tag=web*`). It combines like any other term (`tag=web:&prod`).
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

from console.errors import UsageError
from console.inventory.addresses import parse_address
from console.inventory.model import Host

if TYPE_CHECKING:
    from console.inventory.model import Inventory

TAG_PREFIX = "tag="
LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)[:-]([0-9]*))\]$")


def split_pattern(pattern: str) -> list[str]:
    """The terms of a pattern, in the order written ('a:b,c' style rules as Ansible)."""
    if "," in pattern:
        terms = pattern.split(",")
    elif parse_address(pattern) is not None:
        terms = [pattern]
    else:
        terms = _COLON_TERMS.findall(pattern)
    return [term.strip() for term in terms if term.strip()]


def order_terms(terms: list[str]) -> list[str]:
    """Plain terms first, then intersections, then exclusions (Ansible's order)."""
    plain = [t for t in terms if t[0] not in "&!"]
    intersect = [t for t in terms if t[0] == "&"]
    exclude = [t for t in terms if t[0] == "!"]
    return (plain or ["all"]) + intersect + exclude


def select(inventory: Inventory, pattern: str) -> list[Host]:
    """The hosts `pattern` selects; UsageError when the pattern cannot be understood."""
    terms = split_pattern(pattern)
    if not terms:
        raise UsageError(f"empty target pattern {pattern!r} (use 'all' for every host)")
    hosts: list[Host] = []
    for term in order_terms(terms):
        if term in inventory.hosts:
            hosts.append(inventory.hosts[term])
            continue
        matched = _match_term(inventory, term)
        if term[0] == "!":
            excluded = {host.name for host in matched}
            hosts = [host for host in hosts if host.name not in excluded]
        elif term[0] == "&":
            kept = {host.name for host in matched}
            hosts = [host for host in hosts if host.name in kept]
        else:
            present = {host.name for host in hosts}
            hosts.extend(host for host in matched if host.name not in present)
    unique: dict[str, Host] = {}
    for host in hosts:
        unique.setdefault(host.name, host)
    return list(unique.values())


def _match_term(inventory: Inventory, term: str) -> list[Host]:
    """One term without its &/! prefix, subscript applied; may contain duplicates."""
    expr = term[1:] if term[0] in "&!" else term
    if not expr:
        raise UsageError(f"'{term}' in the target pattern needs a name after '{term}'")
    if expr.startswith(TAG_PREFIX):
        return _match_tag(inventory, expr[len(TAG_PREFIX) :])
    expr, subscript = _split_subscript(expr)
    hosts = _enumerate(inventory, expr)
    if not hosts or subscript is None:
        return hosts
    start, end = subscript
    try:
        if end is None:
            return [hosts[start]]
        return hosts[start : (len(hosts) - 1 if end == -1 else end) + 1]
    except IndexError:
        raise UsageError(f"no hosts matched the subscripted pattern {term!r}") from None


def _split_subscript(expr: str) -> tuple[str, tuple[int, int | None] | None]:
    if expr[0] == "~":
        return expr, None
    match = _SUBSCRIPT.match(expr)
    if not match:
        return expr, None
    base, index, start, end = match.groups()
    if index:
        return base, (int(index), None)
    # Ansible treats an end of 0 like no end at all: `[0:0]` and `[3:0]` pick one host.
    end_value = int(end) if end else -1
    return base, (int(start), end_value or None)


def _enumerate(inventory: Inventory, expr: str) -> list[Host]:
    regex = _compile(expr)
    results: list[Host] = []
    groups = [name for name in inventory.groups if regex.match(name)]
    for group in groups:
        results.extend(inventory.hosts[name] for name in inventory.group_hosts(group))
    if not groups or expr[0] == "~" or any(c in expr for c in ".?*["):
        results.extend(host for name, host in inventory.hosts.items() if regex.match(name))
    if not results and expr in LOCALHOST_NAMES:
        results.append(_implicit_localhost(inventory, expr))
    return results


def _compile(expr: str) -> re.Pattern[str]:
    try:
        return re.compile(expr[1:] if expr[0] == "~" else fnmatch.translate(expr))
    except re.error as exc:
        raise UsageError(f"invalid regular expression in target {expr!r}: {exc}") from None


def _match_tag(inventory: Inventory, value: str) -> list[Host]:
    if not value:
        raise UsageError("'tag=' in the target pattern needs a tag value")
    return [
        host
        for host in inventory.hosts.values()
        if any(fnmatch.fnmatchcase(tag, value) for tag in host.tags)
    ]


def _implicit_localhost(inventory: Inventory, name: str) -> Host:
    """Ansible's implicit localhost: `all` vars, local connection, in no group."""
    return Host(name, {**inventory.groups["all"].vars, "ansible_connection": "local"}, ())
