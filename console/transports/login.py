"""What a host logs in and becomes another user with, from the inventory and assets.

`console_credential: NAME` (host or group var) names a credential asset: the SSH
login then uses its username and its password, or its private key (with passphrase)
imported in memory, never written to disk, and nothing else (no key files, no agent),
so that a successful login proves the credential worked. A group's `ansible_user`
yields to the credential's username; one written on the host itself and different
from it is a contradiction the user must resolve, so it is a HostConfigError naming both.

`ansible_become: true` runs commands under sudo as `ansible_become_user` (root by
default). sudo's password is the password of `console_become_credential`, else of the
login credential; without either, sudo runs with `-n` (a NOPASSWD rule, or failing
clearly instead of waiting for a password nobody sends).

Every problem here is the host's: the host run fails naming the host and the asset,
and other hosts go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.assets.model import (
    AssetKind,
    AssetNotFound,
    AssetResolver,
    ResolvedAsset,
    WrongAssetKind,
)
from console.errors import AuthenticationFailed, HostConfigError
from console.inventory.model import BECOME_METHODS, Host
from console.ssh_library import asyncssh

_PLAIN_BECOME_PASSWORDS = ("ansible_become_password", "ansible_become_pass")


@dataclass(frozen=True)
class Login:
    """The SSH login a credential gives: exactly one of `password` and `keys`."""

    credential: str
    username: str
    password: str | None = field(default=None, repr=False)
    keys: Sequence[asyncssh.SSHKey] = field(default=(), repr=False)

    @property
    def method(self) -> str:
        return "password" if self.password is not None else "private key"


@dataclass(frozen=True)
class Become:
    """How commands run as another user: sudo to `user`, with `password` when given."""

    user: str
    password: str | None = field(default=None, repr=False)
    credential: str | None = None  # where the password came from, for messages


def login_for(host: Host, assets: AssetResolver | None) -> Login | None:
    """The host's credential login, or None when it names no credential."""
    name = host.credential
    if name is None:
        return None
    asset = _credential(host, "console_credential", name, assets)
    values = asset.values
    username = str(values.get("username") or "")
    if not username:
        raise HostConfigError(
            host.name, f"credential {name!r} (console_credential) has no username"
        )
    explicit = host.user_set_on_host
    if explicit is not None and explicit != username:
        raise HostConfigError(
            host.name,
            f"ansible_user {explicit!r} set on the host contradicts the username "
            f"{username!r} of its credential {name!r} (console_credential); remove one",
        )
    if values.get("private_key"):
        return Login(name, username, keys=[_import_key(host, name, values)])
    if values.get("password"):
        return Login(name, username, password=str(values["password"]))
    raise HostConfigError(
        host.name, f"credential {name!r} has neither a password nor a private key"
    )


def become_for(host: Host, assets: AssetResolver | None) -> Become | None:
    """How the host's commands become `ansible_become_user`, or None without become."""
    if not host.become:
        return None
    if host.become_method not in BECOME_METHODS:
        raise HostConfigError(
            host.name,
            f"ansible_become_method {host.become_method!r} is not supported; "
            f"use {' or '.join(BECOME_METHODS)}",
        )
    written = [v for v in _PLAIN_BECOME_PASSWORDS if v in host.vars]
    if written:
        raise HostConfigError(
            host.name,
            f"{written[0]} is not read (a password in the inventory is a "
            "password in clear text); store it as a credential asset and name it with "
            "console_become_credential",
        )
    name, var = host.become_credential, "console_become_credential"
    if name is None:
        name, var = host.credential, "console_credential"
    if name is None:
        return Become(host.become_user)
    password = _credential(host, var, name, assets).values.get("password")
    if not password:
        if var == "console_become_credential":
            raise HostConfigError(
                host.name, f"credential {name!r} ({var}) has no password for sudo"
            )
        return Become(host.become_user)  # a key login: sudo -n, as without a credential
    return Become(host.become_user, str(password), name)


def _credential(host: Host, var: str, name: str, assets: AssetResolver | None) -> ResolvedAsset:
    """The credential asset `name` that `var` names; HostConfigError naming the asset."""
    if assets is None:
        raise HostConfigError(host.name, f"{var} {name!r} needs the asset vault, which is not open")
    try:
        return assets.resolve(name, AssetKind.CREDENTIAL)
    except AssetNotFound:
        raise HostConfigError(
            host.name,
            f"{var} names credential {name!r}, but there is no such asset "
            "(see `opsconsole assets list`)",
        ) from None
    except WrongAssetKind:
        raise HostConfigError(
            host.name, f"{var} names {name!r}, which is not a credential asset"
        ) from None


def _import_key(host: Host, name: str, values: Mapping[str, Any]) -> asyncssh.SSHKey:
    """The credential's private key, decrypted in memory with its passphrase."""
    key_text = str(values.get("private_key"))
    passphrase = values.get("passphrase") or None
    try:
        return asyncssh.import_private_key(key_text, passphrase)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        raise AuthenticationFailed(
            host.name, f"cannot use the private key of credential {name!r}: {exc}"
        ) from None
