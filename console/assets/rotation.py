"""Re-encrypting every stored secret under a new key, crash-safe, and noticing a wrong key.

With the key in the data directory: the new key is written to `secret.key.next` first
(0600, fsynced); every row of the `assets` and `webhooks` tables is then re-encrypted
under it, one atomic row write at a time; last, `secret.key.next` replaces `secret.key`
atomically. A crash anywhere leaves each row under the old key or the new one, and both
decrypt while `secret.key.next` exists (`console.secrets.data_dir_keys`); the next start or
`rotate-key` finishes the rotation with the same new key.

With `OPSCONSOLE_SECRET_KEY`, the key is not ours to write: the operator sets the new key
there and the old one in `OPSCONSOLE_SECRET_KEY_PREVIOUS`, and a rotation re-encrypts every
row under the new one, after which the previous key can go.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from console.errors import ConfigError
from console.secrets import (
    KEY_ENV,
    KEY_FILE,
    NEXT_KEY_FILE,
    PREVIOUS_KEY_ENV,
    SecretBox,
    SecretKeyMismatch,
    create_key_file,
    data_dir_keys,
    env_keys,
    fsync_dir,
)
from console.store import Store

WEBHOOK_SECRET_FIELDS = ("secret_encrypted", "previous_secret_encrypted")


def _asset_ciphertexts(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    secrets = doc.get("secrets") or {}
    for field in secrets:
        yield secrets, field


def _webhook_ciphertexts(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    for field in WEBHOOK_SECRET_FIELDS:
        if doc.get(field):
            yield doc, field


# Every table that holds ciphertexts, and where in a row they are.
ENCRYPTED_TABLES: dict[str, Callable[[dict[str, Any]], Iterator[tuple[dict[str, Any], str]]]] = {
    "assets": _asset_ciphertexts,
    "webhooks": _webhook_ciphertexts,
}


def rotation_pending(data_dir: Path, environ: Mapping[str, str]) -> bool:
    """A data-directory rotation was interrupted and must be finished."""
    return not environ.get(KEY_ENV) and (data_dir / NEXT_KEY_FILE).exists()


def rotate_key(store: Store, data_dir: Path, environ: Mapping[str, str]) -> int:
    """Re-encrypt every stored secret under the new key; how many were re-encrypted.
    Resumes an interrupted rotation with its key rather than starting another."""
    if environ.get(KEY_ENV):
        return _reencrypt(store, SecretBox(env_keys(environ)))
    pending = data_dir / NEXT_KEY_FILE
    for torn in data_dir.glob(f".{NEXT_KEY_FILE}.*.tmp"):  # a rotation killed while writing it
        torn.unlink(missing_ok=True)
    if not pending.exists():
        create_key_file(pending)
    count = _reencrypt(store, SecretBox(data_dir_keys(data_dir)))
    os.replace(pending, data_dir / KEY_FILE)
    fsync_dir(data_dir)
    return count


def _reencrypt(store: Store, box: SecretBox) -> int:
    count = 0
    for name, where in ENCRYPTED_TABLES.items():
        table = store.table(name)
        for key, doc in table.all().items():
            places = list(where(doc))
            for holder, field in places:
                holder[field] = box.rotate(holder[field])
            if places:
                table.upsert(key, doc)
                count += len(places)
    return count


def verify_key(store: Store, box: SecretBox, environ: Mapping[str, str]) -> None:
    """Decrypt one stored secret, so that a wrong key is refused before anything is
    written with it (which would leave secrets under two unrelated keys)."""
    sample = _first_ciphertext(store)
    if sample is None:
        return
    try:
        box.decrypt(sample)
    except SecretKeyMismatch:
        if not environ.get(KEY_ENV):
            raise
        raise ConfigError(
            f"${KEY_ENV} is not the key the stored secrets were encrypted with: set it to "
            f"that key; to change keys, put the old one in ${PREVIOUS_KEY_ENV}, the new one "
            f"in ${KEY_ENV}, and run `opsconsole assets rotate-key`"
        ) from None


def _first_ciphertext(store: Store) -> str | None:
    for name, where in ENCRYPTED_TABLES.items():
        for doc in store.table(name).all().values():
            for holder, field in where(doc):
                return str(holder[field])
    return None
