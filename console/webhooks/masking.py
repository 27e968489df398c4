"""What of a webhook request may be kept: credentials in it are masked before it
becomes `WebhookData`, because `WebhookData` is a job parameter, and job parameters are
journaled, stored, shown (`jobs show`, the TUI) and sent to every host of the job.

Two rules:

- A header whose name says it carries a credential (it contains one of
  `CREDENTIAL_NAME_PARTS`, case-insensitively: `X-Api-Key`, `Authorization`,
  `X-Hub-Signature-256`, `Cookie`, `X-Session-Id`...) keeps its name; its value becomes
  `MASK`. Masking by name, not by a fixed list, because every service invents its own
  header names for its keys.
- The webhook's own token is replaced by `MASK` wherever else it appears: in any
  header (a proxy's `X-Forwarded-Uri: /webhooks/<token>`, `X-Original-URL`, `Referer`,
  a query string quoted in one of them) and in the body. The token is 256 random bits
  in URL-safe base64, so replacing it cannot hit anything else.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "<redacted>"
CREDENTIAL_NAME_PARTS = ("token", "key", "secret", "signature", "auth", "cookie", "session")


def is_credential_header(name: str) -> bool:
    """Whether a header's name says that its value is a credential."""
    lowered = name.lower()
    return any(part in lowered for part in CREDENTIAL_NAME_PARTS)


class TokenScrubber:
    """Replaces the forms of one token (as decoded from the path, and as the client
    spelled it in the raw path) by `MASK` in any text."""

    def __init__(self, forms: Iterable[str]) -> None:
        # Longest first, so that a form containing another is replaced whole.
        self._forms = sorted({form for form in forms if form}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def header_value(self, name: str, value: str) -> str:
        """The value of header `name` as it may be kept."""
        return MASK if is_credential_header(name) else self(value)
