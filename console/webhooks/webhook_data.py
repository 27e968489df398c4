"""Azure's `WebhookData`, built from a request the listener accepted."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from console.webhooks.masking import TokenScrubber
from console.webhooks.registry import Webhook


def _clean(text: str) -> str:
    """Header text as aiohttp decodes it may hold lone surrogates (invalid UTF-8
    bytes); make it valid text so the job record can be stored as JSON."""
    if text.isascii():  # nearly every header: nothing to repair
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)  # made once, not per body


def webhook_data(
    webhook: Webhook, headers: Mapping[str, str], body: bytes, scrub: TokenScrubber
) -> dict[str, Any]:
    """Azure's `WebhookData`: the webhook's name and the request's headers and body.

    Job inputs are stored, shown with the job and sent to its hosts, so credential
    headers are masked and the webhook's token is removed wherever it appears (`scrub`,
    see `console.webhooks.masking`). `RequestBodyJson` is added when the body is strict
    JSON, so runbooks need not parse it themselves.
    """
    merged: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for name, raw in headers.items():
        value = scrub.header_value(name, _clean(raw))
        key = spelled.setdefault(name.lower(), scrub(_clean(name)))
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    text = scrub(body.decode("utf-8", "replace"))
    data: dict[str, Any] = {
        "WebhookName": webhook.name,
        "RequestHeader": merged,
        "RequestBody": text,
    }
    with contextlib.suppress(ValueError, RecursionError):  # not JSON: RequestBody only
        data["RequestBodyJson"] = _STRICT_JSON.decode(text)
    return data
