"""The nesting limit of webhook bodies: brackets inside JSON strings do not count, and
a body that is not JSON is never refused for its brackets."""

from __future__ import annotations

import json

from console.webhooks.limits import MAX_JSON_DEPTH, body_too_deep, value_depth


def test_the_limit_counts_arrays_and_objects_not_brackets_in_strings() -> None:
    at_limit = json.dumps(json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)).encode()
    assert not body_too_deep(at_limit)
    assert body_too_deep(b"[" + at_limit + b"]")
    assert body_too_deep(b'{"a":' * 65 + b"1" + b"}" * 65)
    in_strings = json.dumps({"text": "[{" * 500, "quote": '\\"[[[' * 100}).encode()
    assert not body_too_deep(in_strings)
    assert not body_too_deep(b"log line: " + b"[" * 500)  # not JSON: stays text


def test_value_depth_needs_no_recursion() -> None:
    value: object = []
    for _ in range(100_000):
        value = [value]
    assert value_depth(value) == 100_001
    assert value_depth({"a": [1, {"b": 2}]}) == 3
    assert value_depth("text") == 0
