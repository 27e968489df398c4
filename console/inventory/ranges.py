"""Expand Ansible host ranges: `web[01:20].example.com`, `db-[a:f]`, `node[1:10:2]`.

Semantics follow Ansible: `[begin:end(:step)]`, both ends inclusive; a begin with a
leading zero pads every number to its width (and the end must have the same width);
single letters give alphabetic ranges; several ranges in one name multiply. Where
Ansible silently yields nothing (begin after end) this is an error instead, because an
inventory line that produces no host is always a mistake.
"""

from __future__ import annotations

import string

from console.errors import OpsError


class RangeError(OpsError):
    """A malformed `[x:y]` range; the loader adds the file and line."""


def expand_range(name: str) -> list[str]:
    """All host names `name` stands for (just `[name]` when it has no range)."""
    if "[" not in name:
        return [name]
    head, _, rest = name.partition("[")
    body, closed, tail = rest.partition("]")
    if not closed:
        raise RangeError(f"range in {name!r} has '[' without a closing ']'")
    values = _range_values(name, body)
    names: list[str] = []
    for value in values:
        names.extend(expand_range(head + value + tail))
    return names


def _range_values(name: str, body: str) -> list[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(f"range [{body}] in {name!r} must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise RangeError(f"range [{body}] in {name!r} has no end value")
    if not step_text.isdigit() or int(step_text) < 1:
        raise RangeError(f"range [{body}] in {name!r}: step must be a positive number")
    step = int(step_text)
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise RangeError(f"range [{body}] in {name!r} begins after it ends")
        return list(letters[first : last + 1 : step])
    if not (begin.isdigit() and end.isdigit()):
        raise RangeError(f"range [{body}] in {name!r} must be numbers or single letters")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise RangeError(f"range [{body}] in {name!r}: padded begin and end need equal width")
    if int(begin) > int(end):
        raise RangeError(f"range [{body}] in {name!r} begins after it ends")
    return [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]
