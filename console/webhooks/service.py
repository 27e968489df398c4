"""Webhooks kept in the store, the listener that serves them, and their admin operations.

The registry is written through to the store table `webhooks`; HMAC secrets are
encrypted with the data directory's SecretBox; tokens exist only in the URL shown once
at creation. Requests are served by the intake worker (`console.webhooks.intake`): every change
to the table is pushed to it before the operation returns, so a disabled or deleted
webhook is refused from then on. Admin operations are async and return typed JSON
objects (`console.webhooks.views`), so the CLI calls them the same way in-process and
over the control socket (this is the engine's `console.engine.client.WebhookAdmin`).
"""

from __future__ import annotations

import logging
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.errors import UsageError
from console.secrets import SecretBox
from console.store import Store
from console.webhooks.intake.process import Flush, ImportRecords, IntakeConfig, IntakeProcess
from console.webhooks.listener import listen_socket, listener_url, tls_context
from console.webhooks.registry import ROTATION_GRACE, Webhook, WebhookRegistry, webhook_url
from console.webhooks.views import CreatedWebhook, RotatedSecret, WebhookView

log = logging.getLogger(__name__)

Check = Callable[[str, str, dict[str, str]], None]


class WebhookTable:
    """The registry's persistence protocol over the store's `webhooks` table."""

    def __init__(self, store: Store) -> None:
        self._table = store.table("webhooks")

    def load(self) -> list[dict[str, Any]]:
        return list(self._table.all().values())

    def save(self, name: str, record: dict[str, Any]) -> None:
        self._table.upsert(name, record)

    def delete(self, name: str) -> None:
        self._table.delete(name)


class WebhookService:
    def __init__(self, store: Store, data_dir: Path, url_base: str, check: Check) -> None:
        """`url_base` is where the listener is (or will be) reachable; `check` validates
        a new webhook's runbook, pattern and parameters against the engine."""
        self.registry = WebhookRegistry(WebhookTable(store), SecretBox.for_data_dir(data_dir))
        self.registry.load()
        self.url_base = url_base
        self._data_dir = data_dir
        self._check = check
        self._intake: IntakeProcess | None = None
        self._socket: socket.socket | None = None

    async def start_listener(
        self,
        import_records: ImportRecords,
        flush: Flush,
        host: str,
        port: int,
        tls_cert: str | None,
        tls_key: str | None,
        public_url: str | None,
    ) -> None:
        """Bind the address and start the intake worker on it. Raises ConfigError when
        the address cannot be bound or the TLS files cannot be loaded."""
        if tls_cert is not None or tls_key is not None:
            tls_context(tls_cert, tls_key)  # its errors are the engine's, at once
        sock = listen_socket(host, port)
        config = IntakeConfig(self._data_dir, tls_cert, tls_key, public_url)
        intake = IntakeProcess(
            sock, config, lambda: [w.to_dict() for w in self.registry.all()], import_records, flush
        )
        try:
            await intake.start()
        except BaseException:
            sock.close()
            raise
        self._socket, self._intake = sock, intake
        bound_host, bound_port = sock.getsockname()[:2]
        self.url_base = listener_url(bound_host, bound_port, tls_cert is not None, public_url)
        log.info("webhook listener on %s", self.url_base)

    @property
    def listening(self) -> bool:
        return self._intake is not None

    @property
    def intake(self) -> IntakeProcess | None:
        return self._intake

    async def stop_listener(self) -> None:
        """Stop taking requests; returns once every acknowledged one is imported."""
        if self._intake is not None:
            await self._intake.stop()
            self._intake = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def reload(self) -> None:
        """Re-read the webhooks from the store (their secrets were re-encrypted under a
        new key) and hand them to the intake worker."""
        self.registry.load()
        await self._push()

    async def _push(self) -> None:
        if self._intake is not None:
            await self._intake.push()

    @staticmethod
    def _view(webhook: Webhook) -> WebhookView:
        """What `webhooks list` shows: never the token, nor its hash, nor the secret."""
        return {
            "name": webhook.name,
            "runbook": webhook.runbook,
            "pattern": webhook.pattern,
            "parameters": dict(webhook.parameters),
            "enabled": webhook.enabled,
            "created": webhook.created,
            "expires": webhook.expires,
            "expired": webhook.expired(time.time()),
            "signed": webhook.requires_signature,
            "previous_secret_until": webhook.previous_secret_until,
            "allow_from": list(webhook.allow_from),
            "rate_limit": webhook.rate_limit,
        }

    async def create(
        self,
        name: str,
        runbook: str,
        pattern: str,
        parameters: dict[str, str],
        expires: float | None = None,
        signed: bool = False,
        allow_from: list[str] | None = None,
        rate_limit: int | None = None,
    ) -> CreatedWebhook:
        """Create a webhook; the result holds its URL (and HMAC secret), shown once."""
        self._check(runbook, pattern, parameters)
        secret = secrets.token_hex(32) if signed else None
        extra = {"rate_limit": rate_limit} if rate_limit else {}
        webhook, token = self.registry.create(
            name,
            runbook,
            pattern=pattern,
            parameters=parameters,
            secret=secret,
            allow_from=allow_from or (),
            expires=expires,
            **extra,
        )
        await self._push()
        log.info("webhook created", extra={"webhook": name, "runbook": runbook})
        return {**self._view(webhook), "url": webhook_url(self.url_base, token), "secret": secret}

    async def entries(self) -> list[WebhookView]:
        return [self._view(w) for w in self.registry.all()]

    async def set_enabled(self, name: str, enabled: bool) -> WebhookView:
        webhook = self.registry.enable(name) if enabled else self.registry.disable(name)
        await self._push()
        return self._view(webhook)

    async def rotate_secret(self, name: str, grace_hours: float | None = None) -> RotatedSecret:
        """A new HMAC secret for a signed webhook, in the result only (shown once); the
        previous one is accepted for `grace_hours` more (default 24, see
        `WebhookRegistry`)."""
        if grace_hours is None:
            grace_hours = ROTATION_GRACE / 3600
        webhook, secret = self.registry.rotate_secret(name, grace_hours * 3600)
        await self._push()
        log.info("webhook secret rotated", extra={"webhook": name, "grace_hours": grace_hours})
        return {**self._view(webhook), "secret": secret, "grace_hours": grace_hours}

    async def delete(self, name: str) -> WebhookView:
        webhook = self.registry.remove(name)
        await self._push()
        return self._view(webhook)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or `:PORT` (loopback) for `serve --listen`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)
