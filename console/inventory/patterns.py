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

This module reads a pattern into `Term`s (the syntax, and every error in it); the
inventory applies them to its hosts and groups (`Inventory.select`), so the pattern
language needs nothing of the inventory.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, TypeVar

from console.errors import UsageError
from console.inventory.addresses import parse_address

TAG_PREFIX = "tag="
LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)[:-]([0-9]*))\]$")
Picked = TypeVar("Picked")


@dataclass(frozen=True)
class Term:
    """One term of a pattern: how it combines (`op`), what it names, which slice.

    `text` is the term as written: a host of exactly that name is taken as it is,
    before any other reading. `expr` is a name, glob or `~regex`, or the tag glob
    when `tag` is set.
    """

    text: str
    op: Literal["", "&", "!"]
    expr: str
    tag: bool = False
    subscript: tuple[int, int | None] | None = None

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """`expr` as a regex: `~regex` matched from the start, anything else a glob."""
        try:
            return re.compile(
                self.expr[1:] if self.expr[0] == "~" else fnmatch.translate(self.expr)
            )
        except re.error as exc:
            raise UsageError(f"invalid regular expression in target {self.expr!r}: {exc}") from None

    @property
    def names_hosts_too(self) -> bool:
        """Globs and regexes match host names as well as groups; a plain name that is a
        group only selects the group's hosts."""
        return self.expr[0] == "~" or any(c in self.expr for c in ".?*[")

    def pick(self, matched: list[Picked]) -> list[Picked]:
        """The subscript's slice of `matched` (all of it without a subscript)."""
        if not matched or self.subscript is None:
            return matched
        start, end = self.subscript
        try:
            if end is None:
                return [matched[start]]
            return matched[start : (len(matched) - 1 if end == -1 else end) + 1]
        except IndexError:
            raise UsageError(f"no hosts matched the subscripted pattern {self.text!r}") from None


def parse_pattern(pattern: str) -> list[Term]:
    """The terms of `pattern` in the order they apply; UsageError when it cannot be read."""
    terms = split_pattern(pattern)
    if not terms:
        raise UsageError(f"empty target pattern {pattern!r} (use 'all' for every host)")
    return [_term(text) for text in order_terms(terms)]


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


def _term(text: str) -> Term:
    op: Literal["", "&", "!"] = "&" if text[0] == "&" else "!" if text[0] == "!" else ""
    expr = text[len(op) :]
    if not expr:
        raise UsageError(f"'{text}' in the target pattern needs a name after '{text}'")
    if expr.startswith(TAG_PREFIX):
        value = expr[len(TAG_PREFIX) :]
        if not value:
            raise UsageError("'tag=' in the target pattern needs a tag value")
        return Term(text, op, value, tag=True)
    expr, subscript = _split_subscript(expr)
    return Term(text, op, expr, subscript=subscript)


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
