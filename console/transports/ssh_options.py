"""What asyncssh is told when it connects to one host: algorithms, keepalives,
ssh_config files, and who logs in with what (a credential asset alone, else the
inventory's user and key file, else the pool's keys or ssh_config's), plus the hint a
refused login gets. Kept apart from the pool, which only decides when to connect and
how long to keep a connection."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from console.errors import AuthenticationFailed
from console.inventory.model import Host
from console.ssh_library import asyncssh
from console.transports.hostkeys import HostKeyChecker
from console.transports.login import Login
from console.transports.ssh_config import SSHConfigCache

# curve25519 first: far cheaper than the post-quantum hybrids (test-fleet.md); the
# rest of asyncssh's defaults follow as fallbacks.
KEX_PREFERENCE = ("curve25519-sha256", "curve25519-sha256@libssh.org")


@dataclass
class SSHOptions:
    """The options every connection of one pool shares, and its cache of key files.

    `ssh_config` lists ssh_config files (None: asyncssh's default); `client_keys` the
    key files tried when the inventory names none."""

    keepalive_interval: float
    ssh_config: Sequence[Path] | None = None
    client_keys: Sequence[Path] | None = None
    _loaded_keys: dict[tuple[str, int], Sequence[asyncssh.SSHKeyPair]] = field(
        default_factory=dict, init=False
    )
    _config: SSHConfigCache = field(init=False)

    def __post_init__(self) -> None:
        self._config = SSHConfigCache(self.ssh_config)

    @property
    def config_parses(self) -> int:
        """ssh_config parses shared between hosts so far (see console.transports.ssh_config)."""
        return self._config.parses

    async def for_host(
        self,
        host: Host,
        checker: HostKeyChecker | None,
        tunnel: asyncssh.SSHClientConnection | None,
        login: Login | None,
    ) -> dict[str, object]:
        """asyncssh options: a credential wins, then inventory values; unset ones fall
        to ssh_config."""
        common: dict[str, object] = {
            "keepalive_interval": self.keepalive_interval,
            "keepalive_count_max": 3,
            "kex_algs": _kex_algs(),
            "compression_algs": None,
        }
        options = {
            **common,
            "known_hosts": checker.trusted if checker is not None else None,
        }
        port = host.port if "ansible_port" in host.vars else None
        if port is not None:
            options["port"] = port
        auth = self._auth_options(host, login)
        user = auth.get("username")
        options.update(
            await self._config.options(
                host.address, port, user if isinstance(user, str) else None, common
            )
        )
        options.update(auth)  # after the config's: its `client_keys: ()` means "not given"
        if tunnel is not None:
            options["tunnel"] = tunnel
        return options

    def _auth_options(self, host: Host, login: Login | None) -> dict[str, object]:
        """Who logs in with what: the credential alone when there is one, else the
        inventory's user and key file, else the pool's keys (or ssh_config's)."""
        if login is not None:
            return _login_options(login)
        options: dict[str, object] = {}
        if host.user is not None:
            options["username"] = host.user
        if host.private_key_file is not None:
            key_file = Path(host.private_key_file).expanduser()
            if not key_file.is_file():
                raise AuthenticationFailed(
                    host.name, f"ansible_ssh_private_key_file {key_file} does not exist"
                )
            options["client_keys"] = self._keypairs(host, key_file)
        elif self.client_keys is not None:
            options["client_keys"] = [str(p) for p in self.client_keys]
        return options

    def _keypairs(self, host: Host, key_file: Path) -> Sequence[asyncssh.SSHKeyPair]:
        """The key (with its certificate, if any) read once per file version: given as
        a path, asyncssh would read and parse it again for every host."""
        stamp = (str(key_file), key_file.stat().st_mtime_ns)
        pairs = self._loaded_keys.get(stamp)
        if pairs is None:
            try:
                pairs = asyncssh.load_keypairs([str(key_file)])
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                raise AuthenticationFailed(
                    host.name, f"cannot use private key {key_file}: {exc}"
                ) from exc
            self._loaded_keys[stamp] = pairs
        return pairs


def extra_known_hosts(host: Host) -> list[Path]:
    """Per-host known_hosts files from the inventory: `console_known_hosts_file`, or a
    `-o UserKnownHostsFile=...` in Ansible's `ansible_ssh_common_args`."""
    named = (host.vars.get("console_known_hosts_file"), host.known_hosts_file)
    return [Path(str(value)).expanduser() for value in named if value]


def auth_hint(host: Host, login: Login | None) -> str:
    """Why a login was refused, in terms of what the user can check (never a secret)."""
    if login is not None:
        return (
            f"authentication failed for user {login.username} with the {login.method} of "
            f"credential {login.credential!r} (console_credential); check the asset and "
            "that the host accepts it"
        )
    user = host.user or os.environ.get("USER", "the local user")
    key = host.private_key_file or "ssh-agent / ~/.ssh/id_* / IdentityFile"
    return (
        f"authentication failed for user {user} with {key}; check ansible_user and "
        "ansible_ssh_private_key_file, and that the public key is in the host's "
        "authorized_keys"
    )


def _kex_algs() -> list[str]:
    from asyncssh.kex import get_default_kex_algs

    rest = [a.decode() for a in get_default_kex_algs() if a.decode() not in KEX_PREFERENCE]
    return [*KEX_PREFERENCE, *rest]


def _login_options(login: Login) -> dict[str, object]:
    """Only the credential: no key files, no agent, so a login proves it worked."""
    options: dict[str, object] = {
        "username": login.username,
        "client_keys": list(login.keys),
        "agent_path": None,
    }
    if login.password is not None:
        options["password"] = login.password
        options["preferred_auth"] = "password,keyboard-interactive"
    else:
        options["preferred_auth"] = "publickey"
    return options
