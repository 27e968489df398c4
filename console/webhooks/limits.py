"""How deeply a webhook body may nest, checked without recursion.

A JSON body becomes `WebhookData.RequestBodyJson`, which the engine stores, copies and
sends to hosts with recursive code (json, copy.deepcopy): 700 levels in 1.4 KB were
enough to raise RecursionError there. So the worker refuses a body nested deeper than
`MAX_JSON_DEPTH` with 400 before it acknowledges anything, as Rack (params depth 32)
and Jackson (StreamReadConstraints) refuse theirs, and the engine checks every journal
record again before importing it (a journal written by an older version may hold one).
"""

from __future__ import annotations

import re
from typing import Any

MAX_JSON_DEPTH = 64  # arrays and objects inside one another in a webhook's JSON body
# WebhookData holds the parsed body one level down: {"RequestBodyJson": body}.
MAX_RECORD_DEPTH = MAX_JSON_DEPTH + 1

_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)  # a string, or a bracket
_OPENERS = frozenset(b"[{")


def body_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a body that starts like JSON (`[` or `{`) nests deeper than `limit`.
    Brackets inside strings do not count. Other bodies are not JSON and stay text."""
    start = body.lstrip()[:1]
    if not start or start[0] not in _OPENERS:
        return False
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # nearly every body: decided at C speed
    depth = 0
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def value_depth(value: Any) -> int:
    """How many lists and dicts are inside one another in `value` (iteratively: the
    value may be too deep for recursion, which is what this is used to find out)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest
