"""Sealing of worker-group messages with the group key: signed and encrypted.

Why both: NATS credentials let a client publish, so a worker must run only what the
engine signed (an HMAC-SHA256 over subject, message id and body, keyed by the group
key), and JetStream keeps orders on disk, where an invocation's environment may hold
secrets, so the body is encrypted too (Fernet, with a key derived from the group key
by HKDF; a separate derived key signs, so the two uses never share a key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from console.errors import ConfigError

SIGNATURE_HEADER = "Opsconsole-Signature"
MIN_KEY_CHARS = 16


class ForgedMessage(Exception):
    """A message whose signature does not verify, or whose body does not decrypt."""


def _derive(group_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(group_key)


class GroupSeal:
    """Signs and encrypts (engine and workers alike) with one group's shared key."""

    def __init__(self, group_key: str) -> None:
        if len(group_key.strip()) < MIN_KEY_CHARS:
            raise ConfigError(
                f"a worker group key must have at least {MIN_KEY_CHARS} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        secret = group_key.strip().encode()
        self._sign_key = _derive(secret, b"opsconsole worker group: sign")
        fernet_key = base64.urlsafe_b64encode(_derive(secret, b"opsconsole worker group: encrypt"))
        self._fernet = Fernet(fernet_key)

    def signature(self, subject: str, message_id: str, body: bytes) -> str:
        mac = hmac.new(self._sign_key, digestmod=hashlib.sha256)
        for part in (subject.encode(), message_id.encode(), body):
            mac.update(len(part).to_bytes(8, "big"))  # framed: no two splits sign alike
            mac.update(part)
        return mac.hexdigest()

    def seal(self, subject: str, message_id: str, plain: bytes) -> tuple[bytes, str]:
        """(the encrypted body, its signature header value)."""
        body = self._fernet.encrypt(plain)
        return body, self.signature(subject, message_id, body)

    def open(self, subject: str, message_id: str, body: bytes, signature: str | None) -> bytes:
        """The plain body; ForgedMessage when the signature or the encryption fails."""
        expected = self.signature(subject, message_id, body)
        if signature is None or not hmac.compare_digest(expected, signature):
            raise ForgedMessage(f"bad signature from subject {subject}")
        try:
            return self._fernet.decrypt(body)
        except InvalidToken:
            raise ForgedMessage(f"undecryptable body from subject {subject}") from None
