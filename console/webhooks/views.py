"""What the webhook admin operations return: JSON objects, typed.

The same shapes in-process (`WebhookService`) and over the control socket, and what
`opsconsole webhooks ... --json` prints. None of them holds a token or its hash; a
secret appears only in the answer that created it.
"""

from __future__ import annotations

from typing import TypedDict


class WebhookView(TypedDict):
    name: str
    runbook: str
    pattern: str
    parameters: dict[str, str]
    enabled: bool
    created: float
    expires: float | None
    expired: bool
    signed: bool
    previous_secret_until: float | None
    allow_from: list[str]
    rate_limit: int


class CreatedWebhook(WebhookView):
    """`webhooks create`: the URL (with its token) and the HMAC secret, shown once."""

    url: str
    secret: str | None


class RotatedSecret(WebhookView):
    """`webhooks rotate-secret`: the new secret, shown once, and how long the old one
    is still accepted."""

    secret: str
    grace_hours: float
