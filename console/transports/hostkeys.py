"""Host key checking: known_hosts files, the three policies, and their typed errors.

asyncssh can check known_hosts itself, but it reports "unknown" and "changed" as one
error. An operator must be able to tell them apart (a new machine versus a possible
man in the middle), so the check is done here: asyncssh is given the keys known for
the host (so it negotiates their algorithm) and asks `validate()` about any other
key, which decides and remembers why it refused.

Policies (`console_host_key_policy`):
* `strict` (default): the key must be in a known_hosts file.
* `accept-new`: an unknown host's key is appended to the user's known_hosts (created
  0600) and accepted; a *changed* key is still refused.
* `off`: no checking at all (throwaway lab machines only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from console.errors import HostError, HostKeyChanged, HostKeyUnknown
from console.ssh_library import asyncssh

POLICIES = ("strict", "accept-new", "off")
_PARSED: dict[tuple[tuple[str, int, int], ...], asyncssh.SSHKnownHosts] = {}


def default_known_hosts() -> Path:
    return Path("~", ".ssh", "known_hosts").expanduser()


def host_pattern(host: str, port: int | None) -> str:
    """The known_hosts name OpenSSH uses: `host`, or `[host]:port` off port 22."""
    return host if port in (None, 22) else f"[{host}]:{port}"


class HostKeyChecker:
    """Checks one connection's host key against known_hosts under one policy."""

    def __init__(
        self,
        host_name: str,
        policy: str,
        record_file: Path,
        extra_files: Sequence[Path] = (),
    ) -> None:
        self.host_name = host_name
        self.policy = policy
        self.record_file = record_file
        self.files = [record_file, *extra_files]
        self.problem: HostError | None = None
        self._known: list[asyncssh.SSHKey] = []

    def _load(self) -> asyncssh.SSHKnownHosts | None:
        readable = [f for f in self.files if f.is_file() and os.access(f, os.R_OK)]
        if not readable:
            return None
        # Parsed once per content: 100 hosts must not parse a 100-line file 100 times.
        stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in readable)
        known = _PARSED.get(stamp)
        if known is None:
            known = asyncssh.read_known_hosts([str(f) for f in readable])
            _PARSED.clear()
            _PARSED[stamp] = known
        return known

    def trusted(self, host: str, addr: str, port: int | None) -> tuple[list, list, list]:
        """asyncssh's known_hosts callback: the trusted keys for this host."""
        known = self._load()
        if known is None:
            return [], [], []
        keys, ca_keys, revoked, *_ = known.match(host, addr, port)
        self._known = list(keys)
        return list(keys), list(ca_keys), list(revoked)

    def validate(self, host: str, port: int | None, key: asyncssh.SSHKey) -> bool:
        """Called for a key that is not among the trusted ones: accept or explain."""
        offered = key.get_fingerprint("sha256")
        pattern = host_pattern(host, port)
        if self._known:
            old = ", ".join(k.get_fingerprint("sha256") for k in self._known)
            self.problem = HostKeyChanged(
                self.host_name,
                "WARNING: REMOTE HOST KEY HAS CHANGED! Someone could be intercepting the "
                f"connection, or the host was reinstalled. {pattern} presented "
                f"{key.get_algorithm()} {offered} but known_hosts has {old}. Refusing to "
                "connect (even under accept-new). If the change is expected, remove the "
                f"old entry with: ssh-keygen -R '{pattern}' -f {self.record_file}",
            )
            return False
        if self.policy == "accept-new":
            self.record(pattern, key)
            return True
        line = f"{pattern} {_key_text(key)}"
        port_opt = f"-p {port} " if port not in (None, 22) else ""
        self.problem = HostKeyUnknown(
            self.host_name,
            f"host key of {pattern} is not in known_hosts ({self.record_file}). It presented "
            f"{key.get_algorithm()} {offered}. After verifying that fingerprint out of band, "
            f"add it with: ssh-keyscan {port_opt}{host} >> {self.record_file}  (the line is: "
            f"{line}), or set console_host_key_policy: accept-new for this host.",
        )
        return False

    def record(self, pattern: str, key: asyncssh.SSHKey) -> None:
        """Append the key to the user's known_hosts, creating it (and ~/.ssh) private."""
        self.record_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.record_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as out:
            out.write(f"{pattern} {_key_text(key)}\n")


def _key_text(key: asyncssh.SSHKey) -> str:
    """`ssh-ed25519 AAAA...`: the key as known_hosts writes it, without a comment."""
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {data}"
