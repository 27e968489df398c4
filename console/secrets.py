"""Encryption at rest for secrets the engine must store (webhook HMAC secrets, and
later credential assets).

A `SecretBox` encrypts with Fernet (AES-128-CBC plus HMAC-SHA256, authenticated, so a
tampered or foreign ciphertext is detected rather than decrypted into garbage). The key
comes from `OPSCONSOLE_SECRET_KEY` when set (so a systemd unit can keep it out of the data
directory), otherwise from `<data_dir>/secret.key`, which is created on first use with mode
0600 and written atomically so that two processes racing to create it agree on one key.

Nothing here logs; neither the key nor a plaintext appears in a repr or an error message.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from console.errors import ConfigError

KEY_FILE = "secret.key"
KEY_ENV = "OPSCONSOLE_SECRET_KEY"


class SecretKeyMismatch(ConfigError):
    """A stored secret cannot be decrypted: wrong key, or the ciphertext was damaged."""


class SecretBox:
    """Encrypts and decrypts short strings with one key. Ciphertexts are ASCII strings,
    safe to store in JSON."""

    def __init__(self, key: bytes | str, source: str = "the secret key") -> None:
        """`source` names where the key came from, for error messages (never the key)."""
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{source} is not a valid key (expected 32 url-safe base64-encoded bytes, "
                f"as written by `SecretBox.generate_key()`)"
            ) from exc
        self._source = source

    def __repr__(self) -> str:
        return f"SecretBox(source={self._source!r})"

    @staticmethod
    def generate_key() -> str:
        """A fresh random key, in the form `OPSCONSOLE_SECRET_KEY` and `secret.key` hold."""
        return Fernet.generate_key().decode("ascii")

    @classmethod
    def for_data_dir(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The engine's box: the key from the environment, else from the data directory's
        key file (created on first use)."""
        env = os.environ if environ is None else environ
        from_env = env.get(KEY_ENV)
        if from_env:
            return cls(from_env.strip(), source=f"${KEY_ENV}")
        path = Path(data_dir) / KEY_FILE
        return cls(load_or_create_key(path), source=str(path))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretKeyMismatch(
                f"a stored secret cannot be decrypted with {self._source}: the key is not the "
                f"one it was encrypted with (restore the original key, or set the secret again)"
            ) from exc


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (0600, atomically) when it does not exist yet.

    Refuses a key file that group or others can read, as OpenSSH does for private keys:
    a readable key would make every stored secret readable too.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    _create_key(path)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); "
                f"run `chmod 600 {path}`"
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    return data.strip()


def _create_key(path: Path) -> None:
    """Write a new key to a private temporary file, then hard-link it into place.

    `link` fails if the key file already exists, so when two processes race, the first
    one's key wins and the second simply reads it: no process ever sees a half-written
    or replaced key.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first; use theirs
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
