"""Webhooks: secret URLs that start one runbook with stored parameters.

The URL's token is the secret, as in Azure Automation. It is shown once, at creation;
only its SHA-256 is kept, so a copy of the data directory does not let anyone call the
webhook. Beyond Azure, a webhook may also require a GitHub-style HMAC signature of the
body (`X-Hub-Signature-256`), accept only some client networks, and is rate limited.

`WebhookRegistry` is the engine's in-memory table, keyed by token hash and written
through to a store the engine provides (`WebhookStore`). The HTTP side is `console.webhooks.http`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from console.errors import ConfigError, UsageError
from console.secrets import SecretBox

ONE_YEAR = 365 * 24 * 3600
ROTATION_GRACE = 24 * 3600.0  # seconds the previous HMAC secret stays valid after rotation
DEFAULT_RATE_LIMIT = 60  # requests per minute
DEFAULT_BURST = 10  # requests accepted at once after a quiet period
TOKEN_BYTES = 32
SIGNATURE_HEADER = "X-Hub-Signature-256"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def new_token() -> str:
    """A fresh URL-safe token carrying 256 random bits."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The form in which a token is stored and looked up: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def webhook_url(url_base: str, token: str) -> str:
    """The URL to give the caller, e.g. `https://host:8443/webhooks/<token>`."""
    return f"{url_base.rstrip('/')}/webhooks/{token}"


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse an allow-list; a bare address means that one host."""
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise UsageError(
                f"{cidr!r} is not an IP network (examples: 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)"
            ) from exc
    return tuple(nets)


@dataclass
class Webhook:
    """One webhook. `parameters` are raw strings; the runbook's declared types convert
    them when the job starts, as for any other trigger."""

    name: str
    runbook: str
    token_hash: str
    pattern: str = "all"
    parameters: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    created: float = field(default_factory=time.time)
    expires: float | None = None  # None here means "one year after `created`"
    secret_encrypted: str | None = None  # HMAC secret, encrypted with the engine's SecretBox
    previous_secret_encrypted: str | None = None  # the one before `rotate_secret`, encrypted
    previous_secret_until: float | None = None  # when the previous secret stops being valid
    allow_from: list[str] = field(default_factory=list)  # CIDRs; empty allows every client
    rate_limit: int = DEFAULT_RATE_LIMIT
    burst: int = DEFAULT_BURST
    _networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.expires is None:
            self.expires = self.created + ONE_YEAR
        if not _NAME.match(self.name):
            raise UsageError(
                f"webhook name {self.name!r} must start with a letter or digit and use only "
                f"letters, digits, '.', '_' and '-' (at most 128 characters)"
            )
        if not self.runbook:
            raise UsageError(f"webhook {self.name}: a runbook is required")
        if not _HEX64.match(self.token_hash):
            raise UsageError(f"webhook {self.name}: token_hash must be a SHA-256 hex digest")
        if self.rate_limit < 1 or self.burst < 1:
            raise UsageError(
                f"webhook {self.name}: rate limit and burst must be at least 1 "
                f"(got {self.rate_limit}/min, burst {self.burst})"
            )
        self._networks = parse_networks(self.allow_from)

    @property
    def requires_signature(self) -> bool:
        return self.secret_encrypted is not None

    def expired(self, now: float) -> bool:
        assert self.expires is not None
        return now >= self.expires

    def allows(self, address: str | None) -> bool:
        """Whether a client at `address` may call this webhook. An unknown address (not
        an IP, e.g. a Unix socket peer) is refused whenever an allow-list is set."""
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # "::ffff:192.0.2.7" from a dual-stack socket
        return any(ip.version == net.version and ip in net for net in self._networks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runbook": self.runbook,
            "token_hash": self.token_hash,
            "pattern": self.pattern,
            "parameters": dict(self.parameters),
            "enabled": self.enabled,
            "created": self.created,
            "expires": self.expires,
            "secret_encrypted": self.secret_encrypted,
            "previous_secret_encrypted": self.previous_secret_encrypted,
            "previous_secret_until": self.previous_secret_until,
            "allow_from": list(self.allow_from),
            "rate_limit": self.rate_limit,
            "burst": self.burst,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Webhook:
        """Rebuild a stored webhook; a damaged record is a ConfigError naming it."""
        name = data.get("name", "?")
        try:
            return cls(
                name=str(data["name"]),
                runbook=str(data["runbook"]),
                token_hash=str(data["token_hash"]),
                pattern=str(data.get("pattern", "all")),
                parameters={str(k): str(v) for k, v in dict(data.get("parameters", {})).items()},
                enabled=bool(data.get("enabled", True)),
                created=float(data["created"]),
                expires=_optional_float(data.get("expires")),
                secret_encrypted=data.get("secret_encrypted"),
                previous_secret_encrypted=data.get("previous_secret_encrypted"),
                previous_secret_until=_optional_float(data.get("previous_secret_until")),
                allow_from=[str(c) for c in data.get("allow_from", [])],
                rate_limit=int(data.get("rate_limit", DEFAULT_RATE_LIMIT)),
                burst=int(data.get("burst", DEFAULT_BURST)),
            )
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise ConfigError(f"stored webhook {name!r} is damaged: {exc}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class WebhookStore(Protocol):
    """Persistence the engine provides; one record per webhook name."""

    def load(self) -> list[dict[str, Any]]: ...

    def save(self, name: str, record: dict[str, Any]) -> None: ...

    def delete(self, name: str) -> None: ...


class WebhookRegistry:
    """The webhooks the listener serves, keyed by token hash, written through to `store`.

    Every change is saved to the store first and applied in memory only after the save
    succeeded, so memory never claims a state the disk does not have.
    """

    def __init__(self, store: WebhookStore | None = None, box: SecretBox | None = None) -> None:
        self._store = store
        self._box = box
        self._by_hash: dict[str, Webhook] = {}
        self._by_name: dict[str, Webhook] = {}

    def load(self) -> None:
        """Replace the in-memory table with the store's records."""
        self._by_hash.clear()
        self._by_name.clear()
        if self._store is None:
            return
        for record in self._store.load():
            self._remember(Webhook.from_dict(record))

    def create(
        self,
        name: str,
        runbook: str,
        *,
        pattern: str = "all",
        parameters: Mapping[str, str] | None = None,
        secret: str | None = None,
        allow_from: Iterable[str] = (),
        rate_limit: int = DEFAULT_RATE_LIMIT,
        burst: int = DEFAULT_BURST,
        expires: float | None = None,
        now: float | None = None,
    ) -> tuple[Webhook, str]:
        """Create, store and serve a new webhook. Returns it and its token, which exists
        nowhere else: show it to the user once (`webhook_url`) and forget it."""
        if secret is not None and self._box is None:
            raise ConfigError("a signed webhook needs the engine's secret key (no SecretBox)")
        token = new_token()
        created = time.time() if now is None else now
        webhook = Webhook(
            name=name,
            runbook=runbook,
            token_hash=hash_token(token),
            pattern=pattern,
            parameters=dict(parameters or {}),
            created=created,
            expires=expires,
            secret_encrypted=None if secret is None else self._encrypt(secret),
            allow_from=list(allow_from),
            rate_limit=rate_limit,
            burst=burst,
        )
        if webhook.expired(created):
            raise UsageError(f"webhook {name}: the expiry time is already in the past")
        self.add(webhook)
        return webhook, token

    def add(self, webhook: Webhook) -> None:
        if webhook.name in self._by_name:
            raise UsageError(f"a webhook named {webhook.name!r} already exists")
        if webhook.token_hash in self._by_hash:
            raise UsageError(f"webhook {webhook.name}: its token is already in use")
        self._save(webhook)
        self._remember(webhook)

    def remove(self, name: str) -> Webhook:
        webhook = self.by_name(name)
        if self._store is not None:
            self._store.delete(name)
        del self._by_name[name]
        del self._by_hash[webhook.token_hash]
        return webhook

    def enable(self, name: str, now: float | None = None) -> Webhook:
        """Enable a webhook. As in Azure, an expired one cannot be revived: extend its
        expiry before it passes, or delete it and create a new one."""
        webhook = self.by_name(name)
        if webhook.expired(time.time() if now is None else now):
            raise UsageError(f"webhook {name} has expired; delete it and create a new one")
        return self._replace(webhook, enabled=True)

    def disable(self, name: str) -> Webhook:
        return self._replace(self.by_name(name), enabled=False)

    def set_expiry(self, name: str, expires: float, now: float | None = None) -> Webhook:
        """Move the expiry of a webhook that has not expired yet."""
        webhook = self.by_name(name)
        current = time.time() if now is None else now
        if webhook.expired(current):
            raise UsageError(f"webhook {name} has expired; delete it and create a new one")
        if expires <= current:
            raise UsageError(f"webhook {name}: the new expiry time is already in the past")
        return self._replace(webhook, expires=expires)

    def by_name(self, name: str) -> Webhook:
        try:
            return self._by_name[name]
        except KeyError:
            raise UsageError(f"no webhook named {name!r}") from None

    def all(self) -> list[Webhook]:
        return sorted(self._by_name.values(), key=lambda w: w.name)

    def lookup(self, token: str) -> Webhook | None:
        """The webhook a presented token opens, or None.

        The token is hashed before anything else, so the dict lookup works on a digest
        the caller cannot steer, and the final comparison is constant-time: how long this
        takes does not depend on how much of a real token the caller guessed.
        """
        presented = hash_token(token)
        webhook = self._by_hash.get(presented)
        if webhook is None or not hmac.compare_digest(webhook.token_hash, presented):
            return None
        return webhook

    def rotate_secret(
        self, name: str, grace: float = ROTATION_GRACE, now: float | None = None
    ) -> tuple[Webhook, str]:
        """Give a signed webhook a new HMAC secret; returns it (shown once, like the
        token). The current secret stays valid for `grace` seconds, so senders can be
        switched over without refused deliveries (Stripe's "roll secret" keeps the old
        one up to a day by default; we keep it `ROTATION_GRACE`). Only one previous
        secret is kept: rotating again ends the older one's grace at once."""
        webhook = self.by_name(name)
        if not webhook.requires_signature:
            raise UsageError(
                f"webhook {name} is not signed: it has no secret to rotate (create a signed "
                f"webhook with `webhooks create --secret`)"
            )
        if grace < 0:
            raise UsageError(f"webhook {name}: the grace period cannot be negative")
        secret = secrets.token_hex(32)
        current = time.time() if now is None else now
        updated = self._replace(
            webhook,
            secret_encrypted=self._encrypt(secret),
            previous_secret_encrypted=webhook.secret_encrypted if grace > 0 else None,
            previous_secret_until=current + grace if grace > 0 else None,
        )
        return updated, secret

    def verify_signature(
        self, webhook: Webhook, body: bytes, header: str | None, now: float | None = None
    ) -> bool:
        """Check GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`
        in constant time, with the current secret or a previous one still in its grace
        period. True when the webhook does not require a signature."""
        if webhook.secret_encrypted is None:
            return True
        if not header or not header.startswith("sha256="):
            return False
        presented = header.encode("utf-8", "replace")
        if self._signed_by(webhook.secret_encrypted, body, presented):
            return True
        current = time.time() if now is None else now
        return (
            webhook.previous_secret_encrypted is not None
            and webhook.previous_secret_until is not None
            and current < webhook.previous_secret_until
            and self._signed_by(webhook.previous_secret_encrypted, body, presented)
        )

    def _signed_by(self, encrypted: str, body: bytes, presented: bytes) -> bool:
        assert self._box is not None, "a signed webhook was loaded without a SecretBox"
        key = self._box.decrypt(encrypted).encode("utf-8")
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), presented)

    def _encrypt(self, secret: str) -> str:
        assert self._box is not None
        return self._box.encrypt(secret)

    def _replace(self, webhook: Webhook, **changes: Any) -> Webhook:
        updated = replace(webhook, **changes)
        self._save(updated)
        self._remember(updated)
        return updated

    def _save(self, webhook: Webhook) -> None:
        if self._store is not None:
            self._store.save(webhook.name, webhook.to_dict())

    def _remember(self, webhook: Webhook) -> None:
        self._by_name[webhook.name] = webhook
        self._by_hash[webhook.token_hash] = webhook
