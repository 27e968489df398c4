"""What makes an asset's values acceptable, checked before anything is stored: a secret
long enough to mask, connection fields that make distinct runbook variables, an SSH
private key that opens with its passphrase, a certificate whose private key belongs to
it. Every refusal is a UsageError naming the field, never the value."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from console.assets.model import MIN_SECRET_LENGTH
from console.errors import UsageError
from console.runbooks.asset_env import HELPER_SUFFIXES, env_key

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def check_secret(asset: str, field: str, value: str) -> str:
    """Refuse a secret so short that masking it would mask every occurrence of a few
    letters in every job's output."""
    if len(value) < MIN_SECRET_LENGTH:
        raise UsageError(
            f"{asset}: the {field} is too short to mask safely: a secret needs at least "
            f"{MIN_SECRET_LENGTH} characters"
        )
    return value


def check_fields(asset: str, fields: Iterable[str]) -> None:
    """Connection fields become attribute names and, upper-cased, environment variables
    in runbooks (`OPS_PARAM_<NAME>_<FIELD>`): each must be a name, none may be a
    variable the language helpers read themselves, and no two may make one variable."""
    seen: dict[str, str] = {}
    for field in fields:
        if not field.isidentifier():
            raise UsageError(
                f"{asset}: connection field {field!r} is not a name: use letters, digits "
                "and `_`, not starting with a digit"
            )
        key = env_key(field)
        if key in HELPER_SUFFIXES:
            raise UsageError(
                f"{asset}: connection field {field!r} would be the variable `..._{key}`, "
                "which the runbook helpers use for the asset itself; name the field otherwise"
            )
        if key in seen:
            raise UsageError(
                f"{asset}: connection fields {seen[key]!r} and {field!r} would both be the "
                f"variable `..._{key}` in runbooks; rename one"
            )
        seen[key] = field


def check_private_key(asset: str, key: str, passphrase: str | None) -> None:
    """The key must open (with its passphrase) as SSH will open it at login time."""
    from console.ssh_library import asyncssh

    try:
        asyncssh.import_private_key(key, passphrase)
    except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
        text = str(exc).lower()
        locked = "passphrase" in text or "decrypt" in text
        reason = "wrong or missing passphrase" if locked else None
        raise UsageError(
            f"{asset}: the private key cannot be read"
            + (f" ({reason})" if reason else "")
            + ": give an OpenSSH or PEM private key file (and --passphrase-stdin if it has one)"
        ) from None


def pem_blocks(text: str) -> list[tuple[str, str]]:
    """(label, block) of every PEM block in `text`, in order."""
    return [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text)]


def split_certificate(asset: str, pem: str) -> tuple[str, str, dict[str, Any]]:
    """(certificate chain PEM, private key PEM, what to show of the leaf certificate).
    UsageError when either part is missing or the key is not the certificate's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    blocks = pem_blocks(pem)
    certs = [block for label, block in blocks if label == "CERTIFICATE"]
    keys = [block for label, block in blocks if label.endswith("PRIVATE KEY")]
    if not certs:
        raise UsageError(f"{asset}: the PEM holds no certificate (-----BEGIN CERTIFICATE-----)")
    if not keys:
        raise UsageError(
            f"{asset}: the PEM holds no private key: put the certificate and its unencrypted "
            "private key in one file"
        )
    try:
        chain = [x509.load_pem_x509_certificate(c.encode("ascii")) for c in certs]
        key = serialization.load_pem_private_key(keys[0].encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        problem = "encrypted" if "encrypted" in str(exc).lower() else "malformed"
        raise UsageError(
            f"{asset}: the PEM's certificate or private key is {problem}: give the "
            "certificate and its unencrypted private key"
        ) from None
    leaf = chain[0]
    if _public(key.public_key()) != _public(leaf.public_key()):
        raise UsageError(f"{asset}: the private key does not belong to the certificate")
    return "".join(c + "\n" for c in certs), keys[0] + "\n", _describe(leaf)


def _public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _describe(cert: Any) -> dict[str, Any]:
    """Subject, issuer, expiry and the SHA-1 thumbprint Azure identifies certificates by."""
    from cryptography.hazmat.primitives import hashes

    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.astimezone(UTC).isoformat(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),
    }
