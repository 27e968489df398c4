"""Encryption at rest for secrets the engine must store (webhook HMAC secrets, assets).

A `SecretBox` encrypts with Fernet (AES-128-CBC plus HMAC-SHA256, authenticated, so a
tampered or foreign ciphertext is detected rather than decrypted into garbage). The key
comes from `OPSCONSOLE_SECRET_KEY` when set (so a systemd unit can keep it out of the data
directory), otherwise from `<data_dir>/secret.key`, which is created on first use with mode
0600 and written atomically so that two processes racing to create it agree on one key.

A box holds a keyring, newest key first (`MultiFernet`): it encrypts with the newest and
decrypts with any. Key rotation (`console.assets.rotation`) is crash-safe because of it:
the new key is first written to `secret.key.next`, and while that file exists every box
reads both keys, so each stored secret is readable whether it was re-encrypted yet or not;
only when every row is re-encrypted does `secret.key.next` replace `secret.key`. A box of
the data directory re-reads the key files when a ciphertext does not decrypt, so another
process (the webhook intake worker) keeps working across a rotation it did not do. With
`OPSCONSOLE_SECRET_KEY`, `OPSCONSOLE_SECRET_KEY_PREVIOUS` is the old key during a change.

Nothing here logs; neither a key nor a plaintext appears in a repr or an error message.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from console.errors import ConfigError

KEY_FILE = "secret.key"
NEXT_KEY_FILE = "secret.key.next"
KEY_ENV = "OPSCONSOLE_SECRET_KEY"
PREVIOUS_KEY_ENV = "OPSCONSOLE_SECRET_KEY_PREVIOUS"


class SecretKeyMismatch(ConfigError):
    """A stored secret cannot be decrypted: wrong key, or the ciphertext was damaged."""


@dataclass(frozen=True)
class Key:
    """One key of a keyring and where it came from (for messages; never the key)."""

    material: bytes = field(repr=False)
    source: str


def _fernet(key: Key) -> Fernet:
    try:
        return Fernet(key.material)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{key.source} is not a valid key (expected 32 url-safe base64-encoded bytes, "
            f"as written by `SecretBox.generate_key()`)"
        ) from exc


class SecretBox:
    """Encrypts and decrypts short strings with a keyring (newest key first).
    Ciphertexts are ASCII strings, safe to store in JSON."""

    def __init__(
        self,
        key: bytes | str | Sequence[Key],
        source: str = "the secret key",
        reload: Callable[[], list[Key]] | None = None,
    ) -> None:
        """`key`: one key (named by `source` in messages) or a keyring, newest first.
        `reload` re-reads the keyring when a ciphertext does not decrypt."""
        if isinstance(key, (bytes, str)):
            material = key.encode("ascii") if isinstance(key, str) else key
            key = [Key(material, source)]
        self._reload = reload
        self._set_keys(list(key))

    def _set_keys(self, keys: list[Key]) -> None:
        self._keys = keys
        self._multi = MultiFernet([_fernet(k) for k in keys])

    def __repr__(self) -> str:
        return f"SecretBox(source={self.source!r})"

    @property
    def source(self) -> str:
        """Where the encrypting key comes from."""
        return self._keys[0].source

    @staticmethod
    def generate_key() -> str:
        """A fresh random key, in the form `OPSCONSOLE_SECRET_KEY` and `secret.key` hold."""
        return Fernet.generate_key().decode("ascii")

    @classmethod
    def for_data_dir(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The engine's box: the key from the environment, else from the data directory's
        key files (created on first use)."""
        env = os.environ if environ is None else environ
        if env.get(KEY_ENV):
            return cls(env_keys(env))
        return cls(data_dir_keys(Path(data_dir)), reload=lambda: data_dir_keys(Path(data_dir)))

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._decrypt(ciphertext)
        except SecretKeyMismatch:
            if not self._reload_keys():
                raise
        return self._decrypt(ciphertext)

    def rotate(self, ciphertext: str) -> str:
        """The same secret encrypted under the newest key (SecretKeyMismatch if no key
        of the ring decrypts it)."""
        try:
            return self._multi.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise self._mismatch() from exc

    def _decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise self._mismatch() from exc

    def _mismatch(self) -> SecretKeyMismatch:
        return SecretKeyMismatch(
            f"a stored secret cannot be decrypted with {self.source}: the key is not the "
            f"one it was encrypted with (restore the original key, or set the secret again)"
        )

    def _reload_keys(self) -> bool:
        """Add keys written since (another process rotated); True if any is new. Known
        keys stay, so ciphertexts this process still holds keep decrypting."""
        if self._reload is None:
            return False
        known = {k.material for k in self._keys}
        fresh = [k for k in self._reload() if k.material not in known]
        if fresh:
            self._set_keys(fresh + self._keys)
        return bool(fresh)


def env_keys(env: Mapping[str, str]) -> list[Key]:
    """`OPSCONSOLE_SECRET_KEY`, then `OPSCONSOLE_SECRET_KEY_PREVIOUS` when set."""
    keys = [Key(env[KEY_ENV].strip().encode("ascii", "replace"), f"${KEY_ENV}")]
    if env.get(PREVIOUS_KEY_ENV):
        keys.append(
            Key(env[PREVIOUS_KEY_ENV].strip().encode("ascii", "replace"), f"${PREVIOUS_KEY_ENV}")
        )
    return keys


def data_dir_keys(data_dir: Path) -> list[Key]:
    """`secret.key.next` (a rotation under way) then `secret.key` (created if missing)."""
    keys = []
    pending = data_dir / NEXT_KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        keys.append(Key(_read_key(pending), str(pending)))
    path = data_dir / KEY_FILE
    keys.append(Key(load_or_create_key(path), str(path)))
    return keys


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (0600, atomically) when it does not exist yet.

    Refuses a key file that group or others can read, as OpenSSH does for private keys:
    a readable key would make every stored secret readable too.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    create_key_file(path)
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


def create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file, then hard-link it into place.

    `link` fails if the key file already exists, so when two processes race, the first
    one's key wins and the second simply reads it: no process ever sees a half-written
    or replaced key. A rotation writes `secret.key.next` the same way.
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
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
