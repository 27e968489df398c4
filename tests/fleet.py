"""A fleet of real OpenSSH hosts on loopback, for tests, benchmarks and demos.

Why: opsconsole talks to real machines over SSH, so its tests talk to real `sshd`
servers. Each host is an `sshd` with its own ed25519 host key, listening on its own
loopback address (127.A.B.1, 127.A.B.2, ... with a random A.B per fleet, so that fleets
started at the same time by other test runs on this machine do not collide).

Two modes (`Fleet.isolated` says which one you got):

* isolated (root): every host runs in `unshare --mount --uts --pid --ipc --fork
  --kill-child`; its PID 1 mounts an overlayfs over `/` (a per-host upper layer), gives
  itself a private /dev/pts, /proc, /run and /tmp, pivots into it and execs sshd. So a
  file written on one host is invisible on the others and on the machine, `hostname`
  and `/etc/machine-id` differ per host, and `ps` on a host shows only its processes.
* plain (not root, or `isolated=False`): one sshd process per host sharing the
  machine's filesystem, on a high port, logging in as the current user.

Teardown is guaranteed three ways: `Fleet.stop()` (the fixtures call it in `finally`)
SIGKILLs every host (`unshare --kill-child` takes the host's whole PID namespace with
it); every host is started under `setpriv --pdeathsig KILL`, so the kernel kills it
if the process that started the fleet dies (even by SIGKILL); and `start_fleet` first
reaps stale fleets: the registry (`/tmp/opsconsole-fleets-UID`, one JSON per fleet) records
the owner's and the hosts' PIDs with their start times, and only PIDs recorded there
whose owner is gone are killed. Note that the parent-death signal fires when the
*thread* that started a host ends: start fleets from a long-lived thread (pytest's main
thread), never from `asyncio.to_thread`.

Jump hosts (`Fleet.jump_pair()`, isolated mode only): the jump host and the inner host
share a network namespace of their own, connected to the machine by one veth pair. The
jump's sshd listens on the veth address (198.18.x.y, a benchmarking range nobody
routes); the inner host's sshd listens on a loopback address *inside* that namespace
(127.77.0.N), which the machine cannot reach. So the only way to the inner host is
through the jump host (`ssh -J`), and a test that reaches it proves the jump was used.

Command line, for benchmarks and demos:

    python -m tests.fleet start --count 20 --dir /tmp/fleet   # prints the inventory path
    python -m tests.fleet stop --dir /tmp/fleet
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REGISTRY = Path(
    os.environ.get("OPSCONSOLE_FLEET_REGISTRY", f"/tmp/opsconsole-fleets-{os.getuid()}")
)
STOCK_BASHRC = Path("/usr/share/base-files/dot.bashrc")
STOCK_PROFILE = Path("/usr/share/base-files/dot.profile")
SSHD = "/usr/sbin/sshd"
LOGIN_USER = "opsuser"  # start_fleet(login_user=True)
LOGIN_UID = 1500
START_TIMEOUT = 60.0
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "USER": "root",
    "LANG": "C.UTF-8",
}

# PID 1 of an isolated host. $1 is the host directory (upper layer, work dir, mount
# point), $2 the hostname, $3 a file to wait for before starting sshd (or "-").
INIT_SCRIPT = r"""#!/bin/sh
set -eu
H="$1"; R="$H/root"
if [ "$3" != "-" ]; then
    n=0
    while [ ! -e "$3" ]; do
        n=$((n + 1)); [ "$n" -gt 1000 ] && { echo "network never got ready" >&2; exit 1; }
        sleep 0.01
    done
    ip link set lo up
fi
hostname "$2"
# The previous incarnation's overlay may still be draining after a restart.
n=0
until mount -t overlay overlay -o "lowerdir=/,upperdir=$H/upper,workdir=$H/work" "$R"; do
    n=$((n + 1)); [ "$n" -gt 50 ] && exit 1
    sleep 0.1
done
mount --rbind /dev "$R/dev"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
"""

SSHD_CONFIG = """\
# Written by tests/fleet.py for one test host.
ListenAddress {address}
Port {port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication {password_auth}
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
# Curve25519 costs a fraction of the default sntrup761 hybrid per connection.
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
# Tests open many connections at once; never drop them at random.
MaxStartups 200
MaxSessions 100
AllowTcpForwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel INFO
"""


class FleetError(RuntimeError):
    """The fleet could not be started or changed; the message says why and where to look."""


# --- small process helpers -------------------------------------------------------------


def _start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks), or None if it does not exist.

    A PID plus its start time names one process for good: PIDs are reused, this pair is not.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def _alive(pid: int, start: int | None) -> bool:
    return start is not None and _start_time(pid) == start


def _kill(pid: int, start: int | None) -> None:
    """SIGKILL `pid` only if it is still the very process we recorded."""
    if _alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _children_of(parents: set[int]) -> dict[int, int]:
    """Map parent PID -> one child PID, for the given parents (one scan of /proc)."""
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid in parents:
            found[ppid] = int(entry.name)
    return found


def _listening(netns_pid: int | None = None) -> set[tuple[str, int]]:
    """(address, port) of every listening IPv4 TCP socket, in our or `netns_pid`'s netns.

    Reading /proc is how we wait for sshd without connecting to it (which would fork a
    session and litter its log).
    """
    path = f"/proc/{netns_pid}/net/tcp" if netns_pid else "/proc/net/tcp"
    result: set[tuple[str, int]] = set()
    try:
        lines = Path(path).read_text().splitlines()[1:]
    except OSError:
        return result
    for line in lines:
        parts = line.split()
        if parts[3] != "0A":  # TCP_LISTEN
            continue
        hex_addr, hex_port = parts[1].split(":")
        address = socket.inet_ntoa(int(hex_addr, 16).to_bytes(4, "little"))
        result.add((address, int(hex_port, 16)))
    return result


def _parent_death_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL`: the kernel kills the host if its starter dies."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


# --- keys ------------------------------------------------------------------------------


def _new_ed25519(path: Path, comment: str) -> str:
    """Write an unencrypted OpenSSH ed25519 private key (+ .pub); return the public line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(private)
    path.chmod(0o600)
    Path(f"{path}.pub").write_text(f"{public} {comment}\n")
    return public


def _known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


# --- the host --------------------------------------------------------------------------


@dataclass
class FleetHost:
    """One test host. `run()` executes inside it directly (not over SSH), for assertions."""

    name: str
    address: str
    port: int
    host_key_line: str  # the host's CURRENT key, as a known_hosts line
    isolated: bool = False
    directory: Path = field(default=Path(), repr=False)
    pid: int | None = field(default=None, repr=False)  # outer PID of the host's sshd / PID 1
    pid_start: int | None = field(default=None, repr=False)  # its start time, see _start_time
    launcher: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    role: str = field(default="fleet", repr=False)  # "fleet", or "jump"/"inner" of a jump pair
    jump_partner: str | None = field(default=None, repr=False)  # jump pairs share a netns
    link_address: str | None = field(default=None, repr=False)  # machine side of the veth
    veth: str | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        """sshd's log (`sshd -e`): logins, with source addresses, and start-up errors."""
        return self.directory / "sshd.log"

    @property
    def running(self) -> bool:
        return self.launcher is not None and self.launcher.poll() is None

    def run(
        self, command: str, *, check: bool = False, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the host as root (nsenter), capturing text output.

        Plain mode has nothing to enter: the command runs on the machine, as you.
        """
        if not self.isolated:
            argv = ["/bin/sh", "-c", command]
        else:
            if self.pid is None or not self.running:
                raise FleetError(f"{self.name} is stopped; start_host({self.name!r}) first")
            # -n matters for jump pairs (own netns); for the others it is the machine's.
            argv = ["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w"]
            argv += ["--", "/bin/sh", "-c", command]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            input=input,
            env=HOST_ENV if self.isolated else None,
        )


# --- the fleet -------------------------------------------------------------------------


@dataclass
class Fleet:
    """N running hosts plus the client-side files to reach them (key, known_hosts, config)."""

    hosts: list[FleetHost]
    client_key: Path
    known_hosts: Path
    user: str
    isolated: bool
    workdir: Path
    ssh_config: Path  # an OpenSSH client config naming every host; use with `ssh -F`
    pair_hosts: list[FleetHost] = field(default_factory=list)  # from jump_pair()
    # With `start_fleet(..., login_user=True)`: LOGIN_USER on every host, who logs in
    # with this password (or a key added to ~/.ssh/authorized_keys) and may sudo with it.
    login_password: str | None = field(default=None, repr=False)
    registry_file: Path = field(default=Path(), repr=False)

    # -- lookups and client files --

    def host(self, name: str) -> FleetHost:
        for host in [*self.hosts, *self.pair_hosts]:
            if host.name == name:
                return host
        raise KeyError(f"no fleet host named {name!r}")

    @property
    def mode(self) -> str:
        """ "isolated" (own filesystem, hostname, PIDs per host) or "plain" (shared machine)."""
        return "isolated" if self.isolated else "plain"

    @property
    def home(self) -> Path:
        """A home directory whose ~/.ssh holds the fleet's client key, known_hosts, config."""
        return self.workdir / "home"

    def ssh_env(self) -> dict[str, str]:
        """Environment for SSH client code: os.environ with HOME = `self.home`, no agent.

        asyncssh and anything else that honours $HOME then uses the fleet's key,
        known_hosts and config (host names, ProxyJump for jump pairs) by default and never
        touches /root/.ssh. In-process code: `monkeypatch.setenv("HOME", str(fleet.home))`.
        OpenSSH's `ssh` reads its config from the passwd entry, not $HOME: give it
        `-F fleet.ssh_config` (see `ssh_command`).
        """
        env = dict(os.environ)
        env["HOME"] = str(self.home)
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def ssh_command(self, name: str, command: str, *, strict: bool = True) -> list[str]:
        """argv for the real OpenSSH client running `command` on host `name`."""
        argv = ["ssh", "-F", str(self.ssh_config)]
        if not strict:
            argv += ["-o", "StrictHostKeyChecking=no"]
        return [*argv, name, command]

    def ssh(
        self, name: str, command: str, *, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` on `name` over real SSH (strict host key checking)."""
        return subprocess.run(
            self.ssh_command(name, command),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.ssh_env(),
        )

    def inventory(
        self,
        path: Path,
        *,
        extra_hosts: dict[str, dict[str, Any]] | None = None,
        host_vars: dict[str, dict[str, Any]] | None = None,
        group_vars: dict[str, Any] | None = None,
    ) -> Path:
        """Write an Ansible YAML inventory and return its path.

        Group `fleet` holds every fleet host; jump pairs are in groups `jumphosts` and
        `behind_jump` (the inner host carries `console_jump_host: <jump host name>`).
        `extra_hosts` (name -> vars) are listed under `all` only, outside `fleet`, for
        hosts that do not exist (unreachable on purpose, say). `host_vars` (name -> vars)
        override per host; `group_vars` become the vars of group `fleet`.
        """
        host_vars = host_vars or {}

        def entry(host: FleetHost) -> dict[str, Any]:
            values: dict[str, Any] = {
                "ansible_host": host.address,
                "ansible_port": host.port,
                "ansible_user": self.user,
                "ansible_ssh_private_key_file": str(self.client_key),
            }
            if host.role == "inner":
                values["console_jump_host"] = host.jump_partner
            values.update(host_vars.get(host.name, {}))
            return values

        fleet_group: dict[str, Any] = {"hosts": {h.name: entry(h) for h in self.hosts}}
        fleet_group["vars"] = {"ansible_ssh_common_args": f"-F {self.ssh_config}"}
        fleet_group["vars"].update(group_vars or {})
        children: dict[str, Any] = {"fleet": fleet_group}
        jumps = [h for h in self.pair_hosts if h.role == "jump"]
        inners = [h for h in self.pair_hosts if h.role == "inner"]
        common = {"ansible_ssh_common_args": f"-F {self.ssh_config}"}
        if jumps:
            children["jumphosts"] = {"hosts": {h.name: entry(h) for h in jumps}, "vars": common}
        if inners:
            children["behind_jump"] = {
                "hosts": {h.name: entry(h) for h in inners},
                "vars": common,
            }
        document: dict[str, Any] = {"all": {"children": children}}
        if extra_hosts:
            document["all"]["hosts"] = extra_hosts
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def refresh_known_hosts(self) -> None:
        """Rewrite known_hosts (and ssh config) with every host's current key."""
        _write_client_files(self)

    # -- changing hosts --

    def stop_host(self, name: str) -> None:
        """Make `name` unreachable: kill its sshd (and, isolated, every process in it)."""
        host = self.host(name)
        _stop(host)
        _save_state(self)

    def start_host(self, name: str) -> None:
        """Bring a stopped host back, with the same files, key and address."""
        host = self.host(name)
        if host.running:
            return
        _launch(self, host)
        _wait_listening([host])
        _save_state(self)

    def rotate_host_key(self, name: str) -> None:
        """Give `name` a new host key and restart its sshd; known_hosts is NOT updated.

        `host.host_key_line` describes the new key afterwards.
        """
        host = self.host(name)
        was_running = host.running
        _stop(host)
        public = _new_ed25519(_host_key_path(self, host), f"root@{host.name}")
        host.host_key_line = f"{_known_hosts_name(host.address, host.port)} {public}"
        if was_running:
            self.start_host(name)

    def jump_pair(self) -> tuple[FleetHost, FleetHost]:
        """Start a jump host and an inner host that is reachable only through it.

        See the module docstring for how (own network namespace + veth). Both hosts are
        in `pair_hosts`, the ssh config (`ssh -F fleet.ssh_config innerNN` jumps
        automatically) and known_hosts; they are not in `hosts` or group `fleet`.
        """
        if not self.isolated:
            raise FleetError("jump pairs need network namespaces: run the fleet as root")
        number = sum(1 for h in self.pair_hosts if h.role == "jump") + 1
        subnet = random.randrange(0, 256), random.randrange(0, 64) * 4
        link = f"198.18.{subnet[0]}.{subnet[1] + 1}"
        jump = FleetHost(
            name=f"jump{number:02d}",
            address=f"198.18.{subnet[0]}.{subnet[1] + 2}",
            port=22,
            host_key_line="",
            isolated=True,
            directory=self.workdir / "hosts" / f"jump{number:02d}",
            role="jump",
            link_address=link,
            veth=f"fj{secrets.token_hex(4)}",
        )
        inner = FleetHost(
            name=f"inner{number:02d}",
            address=f"127.77.0.{number}",
            port=22,
            host_key_line="",
            isolated=True,
            directory=self.workdir / "hosts" / f"inner{number:02d}",
            role="inner",
        )
        jump.jump_partner, inner.jump_partner = inner.name, jump.name
        for host in (jump, inner):
            _prepare_host(self, host)
            self.pair_hosts.append(host)
        _write_client_files(self)
        self.start_host(jump.name)
        self.start_host(inner.name)
        return jump, inner

    # -- lifetime --

    def stop(self) -> None:
        """Kill every host and forget the fleet. Safe to call twice."""
        for host in [*self.pair_hosts, *self.hosts]:
            _signal_stop(host)
        for host in [*self.pair_hosts, *self.hosts]:
            _stop(host)
        for host in self.pair_hosts:
            if host.veth:  # the kernel would delete it too, but only a moment later
                subprocess.run(["ip", "link", "del", host.veth], capture_output=True)
        self.registry_file.unlink(missing_ok=True)
        (self.workdir / "fleet.json").unlink(missing_ok=True)

    def pids(self) -> set[int]:
        """Every process this fleet started (launchers and hosts' PID 1), for leak checks."""
        pids: set[int] = set()
        for host in [*self.hosts, *self.pair_hosts]:
            if host.launcher is not None:
                pids.add(host.launcher.pid)
            if host.pid is not None:
                pids.add(host.pid)
        return pids

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- building a fleet ------------------------------------------------------------------


def start_fleet(
    count: int, workdir: Path, *, isolated: bool | None = None, login_user: bool = False
) -> Fleet:
    """Start `count` hosts with their files under `workdir`; use as a context manager.

    `isolated=None` means isolated when running as root. `login_user=True` (isolated
    only) adds LOGIN_USER with a password, password logins and sudo (see
    `_add_login_user`). Raises FleetError (with the failing host's sshd log) if a host
    does not come up.
    """
    is_root = os.geteuid() == 0
    if isolated is None:
        isolated = is_root
    if isolated and not is_root:
        raise FleetError("an isolated fleet needs root (namespaces and overlayfs)")
    if login_user and not isolated:
        raise FleetError("a login user needs an isolated fleet (useradd inside each host)")
    reap_stale_fleets()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(
        hosts=[],
        client_key=workdir / "home" / ".ssh" / "id_ed25519",
        known_hosts=workdir / "home" / ".ssh" / "known_hosts",
        user="root" if isolated else pwd.getpwuid(os.getuid()).pw_name,
        isolated=isolated,
        workdir=workdir,
        ssh_config=workdir / "home" / ".ssh" / "config",
        login_password=secrets.token_urlsafe(12) if login_user else None,
    )
    fleet.registry_file = REGISTRY / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json"
    _new_ed25519(fleet.client_key, "opsconsole-fleet-client")
    (workdir / "host-init.sh").write_text(INIT_SCRIPT)
    addresses, port = _allocate_addresses(count, privileged=is_root)
    width = max(2, len(str(count)))
    for index, address in enumerate(addresses, start=1):
        name = f"host{index:0{width}d}"
        host = FleetHost(name, address, port, "", isolated, workdir / "hosts" / name)
        _prepare_host(fleet, host)
        fleet.hosts.append(host)
    _write_client_files(fleet)
    try:
        for host in fleet.hosts:
            _launch(fleet, host)
        _save_state(fleet)
        _wait_listening(fleet.hosts)
        _save_state(fleet)
        for host in fleet.hosts if login_user else ():
            _add_login_user(fleet, host)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _add_login_user(fleet: Fleet, host: FleetHost) -> None:
    """LOGIN_USER (uid LOGIN_UID) with the fleet's password, a home with an empty
    ~/.ssh/authorized_keys, and sudo to any user with that password: for tests of
    password logins and of become. Only in this host's upper layer."""
    script = (
        f"useradd -m -s /bin/sh -u {LOGIN_UID} {LOGIN_USER} && chpasswd && "
        f"install -d -m 700 -o {LOGIN_USER} /home/{LOGIN_USER}/.ssh && "
        f"install -m 600 -o {LOGIN_USER} /dev/null /home/{LOGIN_USER}/.ssh/authorized_keys && "
        f"echo '{LOGIN_USER} ALL=(ALL:ALL) ALL' > /etc/sudoers.d/{LOGIN_USER} && "
        f"chmod 440 /etc/sudoers.d/{LOGIN_USER} && command -v sudo"
    )
    done = host.run(script, input=f"{LOGIN_USER}:{fleet.login_password}\n")
    if done.returncode != 0:
        raise FleetError(
            f"adding {LOGIN_USER} on {host.name} failed (is sudo installed?): {done.stderr}"
        )


def _allocate_addresses(count: int, *, privileged: bool) -> tuple[list[str], int]:
    """Pick a random 127.A.B.0 block free for all hosts, and the port they share.

    Port 22 when we may bind it and nothing holds it (say a wildcard sshd on CI), else one
    free high port.
    """
    for _attempt in range(20):
        a, b = random.randrange(16, 250), random.randrange(0, 250 - count // 250)
        addresses = [f"127.{a}.{b + i // 250}.{i % 250 + 1}" for i in range(count)]
        port = 22 if privileged and _bindable(addresses[0], 22) else _free_port(addresses[0])
        if port and all(_bindable(address, port) for address in addresses):
            return addresses, port
    raise FleetError("found no free block of loopback addresses in 127.0.0.0/8")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _host_key_path(fleet: Fleet, host: FleetHost) -> Path:
    if fleet.isolated:
        return host.directory / "upper" / "etc" / "ssh" / "ssh_host_ed25519_key"
    return host.directory / "ssh_host_ed25519_key"


def _prepare_host(fleet: Fleet, host: FleetHost) -> None:
    """Write the host's identity: host key, sshd config and (isolated) its upper layer."""
    public = _new_ed25519(_host_key_path(fleet, host), f"root@{host.name}")
    host.host_key_line = f"{_known_hosts_name(host.address, host.port)} {public}"
    authorized = Path(f"{fleet.client_key}.pub").read_text()
    if not fleet.isolated:
        (host.directory / "authorized_keys").write_text(authorized)
        (host.directory / "sshd_config").write_text(
            SSHD_CONFIG.format(
                address=host.address,
                port=host.port,
                host_key=_host_key_path(fleet, host),
                pid_file=host.directory / "sshd.pid",
                authorized_keys=host.directory / "authorized_keys",
                password_auth="no",
            )
        )
        return
    upper = host.directory / "upper"
    (host.directory / "work").mkdir(parents=True, exist_ok=True)
    (host.directory / "root").mkdir(parents=True, exist_ok=True)
    (upper / "etc" / "ssh" / "sshd_config").write_text(
        SSHD_CONFIG.format(
            address=host.address,
            port=host.port,
            host_key="/etc/ssh/ssh_host_ed25519_key",
            pid_file="/run/sshd.pid",
            authorized_keys=".ssh/authorized_keys",
            password_auth="yes" if fleet.login_password else "no",
        )
    )
    (upper / "etc" / "hostname").write_text(f"{host.name}\n")
    (upper / "etc" / "machine-id").write_text(f"{uuid.uuid4().hex}\n")
    hosts_file = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    (upper / "etc" / "hosts").write_text(f"{hosts_file}127.0.1.1\t{host.name}\n")
    ssh_dir = upper / "root" / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    # Opaque: the machine's own /root/.ssh (its keys, known_hosts) stays invisible.
    os.setxattr(ssh_dir, "trusted.overlay.opaque", b"y")
    (ssh_dir / "authorized_keys").write_text(authorized)
    # Stock dotfiles: the machine's /root/.bashrc runs pyenv init (0.2 s per command).
    for source, target in ((STOCK_BASHRC, ".bashrc"), (STOCK_PROFILE, ".profile")):
        if source.exists():
            shutil.copyfile(source, upper / "root" / target)


def _write_client_files(fleet: Fleet) -> None:
    """known_hosts and an OpenSSH client config that name every host of the fleet."""
    hosts = [*fleet.hosts, *fleet.pair_hosts]
    fleet.known_hosts.write_text("".join(f"{h.host_key_line}\n" for h in hosts))
    blocks = []
    for host in hosts:
        block = f"Host {host.name}\n    HostName {host.address}\n    Port {host.port}\n"
        if host.role == "inner":
            block += f"    ProxyJump {host.jump_partner}\n"
        blocks.append(block)
    blocks.append(
        "Host *\n"
        f"    User {fleet.user}\n"
        f"    IdentityFile {fleet.client_key}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {fleet.known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 5\n"
        "    KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n"
        "    LogLevel ERROR\n"
    )
    fleet.ssh_config.write_text("\n".join(blocks))


# --- starting and stopping one host ----------------------------------------------------


def _launch(fleet: Fleet, host: FleetHost) -> None:
    """Start the host's process tree (not waiting for sshd to listen)."""
    host.directory.mkdir(parents=True, exist_ok=True)
    log = (host.directory / "sshd.log").open("ab")
    prefix = _parent_death_prefix()
    if not fleet.isolated:
        # sshd insists on its privilege separation directory, even on a machine without
        # a running sshd (there /run/sshd does not exist).
        with contextlib.suppress(OSError):
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        argv = [*prefix, SSHD, "-D", "-e", "-f", str(host.directory / "sshd_config")]
        host.launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        host.pid, host.pid_start = host.launcher.pid, _start_time(host.launcher.pid)
        log.close()
        return
    partner = fleet.host(host.jump_partner) if host.jump_partner else None
    ready_flag = "-"
    namespaces = ["--mount", "--uts", "--pid", "--ipc", "--fork", "--kill-child"]
    if partner is not None and partner.running and partner.pid is not None:
        prefix += ["nsenter", f"--net=/proc/{partner.pid}/ns/net", "--"]
    elif partner is not None:
        namespaces.append("--net")
        ready = host.directory / "net-ready"
        ready.unlink(missing_ok=True)
        ready_flag = str(ready)
    init = [str(fleet.workdir / "host-init.sh"), str(host.directory), host.name, ready_flag]
    argv = [*prefix, "unshare", *namespaces, "--", "/bin/sh", *init]
    host.launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    host.pid = host.pid_start = None
    if ready_flag != "-":
        _find_host_pids([host])
        _connect_jump_network(fleet, host)
        Path(ready_flag).touch()


def _connect_jump_network(fleet: Fleet, host: FleetHost) -> None:
    """Create the veth pair between the machine and a jump pair's new network namespace."""
    jump = host if host.role == "jump" else fleet.host(str(host.jump_partner))
    assert jump.veth and jump.link_address and host.pid
    ns = f"nsenter -t {host.pid} -n"
    commands = [
        f"ip link add {jump.veth} type veth peer name eth0 netns {host.pid}",
        f"ip addr add {jump.link_address}/30 dev {jump.veth}",
        f"ip link set {jump.veth} up",
        f"{ns} ip addr add {jump.address}/30 dev eth0",
        f"{ns} ip link set eth0 up",
    ]
    for command in commands:
        done = subprocess.run(command.split(), capture_output=True, text=True)
        if done.returncode != 0:
            raise FleetError(f"setting up the jump network failed: {command}: {done.stderr}")


def _find_host_pids(hosts: list[FleetHost]) -> None:
    """Learn each isolated host's PID 1 (the child `unshare --fork` made)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        waiting = {h.launcher.pid: h for h in hosts if h.pid is None and h.launcher}
        if not waiting:
            return
        for parent, child in _children_of(set(waiting)).items():
            waiting[parent].pid, waiting[parent].pid_start = child, _start_time(child)
        for host in waiting.values():
            if host.pid is None and host.launcher and host.launcher.poll() is not None:
                raise FleetError(f"{host.name} exited at start-up:\n{_tail(host.log)}")
        if time.monotonic() > deadline:
            raise FleetError("hosts did not start: " + ", ".join(h.name for h in waiting.values()))
        time.sleep(0.005)


def _wait_listening(hosts: list[FleetHost]) -> None:
    """Block until every host's sshd listens; fail fast with its log if one dies."""
    isolated = [h for h in hosts if h.isolated]
    _find_host_pids(isolated)
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(hosts)
    while pending:
        root_listening = _listening()
        still = []
        for host in pending:
            listening = root_listening
            if host.jump_partner and host.pid:
                listening = _listening(host.pid)
            if (host.address, host.port) in listening:
                continue
            if host.launcher is None or host.launcher.poll() is not None:
                raise FleetError(f"{host.name}'s sshd exited:\n{_tail(host.log)}")
            still.append(host)
        pending = still
        if pending and time.monotonic() > deadline:
            raise FleetError(
                f"sshd not listening after {START_TIMEOUT:.0f} s on "
                + ", ".join(f"{h.name} ({h.log})" for h in pending)
            )
        if pending:
            time.sleep(0.02)


def _signal_stop(host: FleetHost) -> None:
    """Send SIGKILL without waiting (so a whole fleet dies in parallel).

    Isolated: kill the host's PID 1 (the kernel then kills its whole PID namespace), so
    `unshare`, its parent, reaps it and exits; killing `unshare` first would leave the
    PID 1 zombies to init.
    """
    if host.launcher is None or host.launcher.poll() is not None:
        return
    if host.isolated and host.pid is not None:
        _kill(host.pid, host.pid_start)
    else:
        host.launcher.kill()


def _stop(host: FleetHost) -> None:
    """Kill the host and wait until its PID 1 is gone (so its overlay is released)."""
    if host.launcher is None:
        return
    _signal_stop(host)
    try:
        host.launcher.wait(timeout=5)
    except subprocess.TimeoutExpired:
        host.launcher.kill()  # --kill-child and the parent-death signal take the rest
        host.launcher.wait()
    if host.isolated and host.pid is not None:
        _kill(host.pid, host.pid_start)
        deadline = time.monotonic() + 10
        while _alive(host.pid, host.pid_start) and time.monotonic() < deadline:
            time.sleep(0.005)
    host.launcher = None
    host.pid = host.pid_start = None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


# --- state: the registry of running fleets, and stale-fleet reaping ----------------------


def _save_state(fleet: Fleet) -> None:
    """Record owner and host PIDs (with start times) in the registry and the workdir."""
    processes = []
    for host in [*fleet.hosts, *fleet.pair_hosts]:
        for pid in (host.launcher.pid if host.launcher else None, host.pid):
            if pid is not None:
                processes.append([pid, _start_time(pid)])
    state = {
        "owner": [os.getpid(), _start_time(os.getpid())],
        "workdir": str(fleet.workdir),
        "processes": processes,
    }
    text = json.dumps(state)
    REGISTRY.mkdir(parents=True, exist_ok=True)
    for path in (fleet.registry_file, fleet.workdir / "fleet.json"):
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)


def _kill_recorded(state: dict[str, Any]) -> None:
    for pid, start in state.get("processes", []):
        _kill(int(pid), start)


def reap_stale_fleets() -> list[str]:
    """Kill the hosts of fleets whose owning process is gone; return their workdirs.

    Only PIDs recorded in the registry, with matching start times, are touched, and
    only when the recorded owner is dead: fleets of other live test runs are left alone.
    """
    reaped = []
    for path in sorted(REGISTRY.glob("*.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        owner_pid, owner_start = state["owner"]
        if _alive(int(owner_pid), owner_start):
            continue
        _kill_recorded(state)
        path.unlink(missing_ok=True)
        reaped.append(str(state.get("workdir")))
    return reaped


# --- command line ----------------------------------------------------------------------


def _cmd_start(args: argparse.Namespace) -> int:
    began = time.monotonic()
    isolated = None if args.isolated is None else args.isolated == "yes"
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    with start_fleet(args.count, Path(args.dir), isolated=isolated) as fleet:
        started = time.monotonic() - began
        inventory = fleet.inventory(Path(args.dir) / "inventory.yaml")
        print(f"{len(fleet.hosts)} {fleet.mode} hosts up in {started:.2f} s", file=sys.stderr)
        print(f"try: ssh -F {fleet.ssh_config} {fleet.hosts[0].name} hostname", file=sys.stderr)
        print(inventory, flush=True)
        try:
            while not stop_requested:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        began = time.monotonic()
    print(f"stopped in {time.monotonic() - began:.2f} s", file=sys.stderr)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    """Ask the `start` process to stop; kill what it recorded if it does not."""
    state_file = Path(args.dir) / "fleet.json"
    if not state_file.exists():
        print(f"no running fleet in {args.dir}", file=sys.stderr)
        return 1
    state = json.loads(state_file.read_text())
    owner_pid, owner_start = state["owner"]
    if _alive(owner_pid, owner_start):
        os.kill(owner_pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(owner_pid, owner_start) and time.monotonic() < deadline:
            time.sleep(0.05)
    _kill_recorded(state)
    state_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a fleet and keep it up until Ctrl-C/stop")
    start.add_argument("--count", type=int, default=20)
    start.add_argument("--dir", required=True, help="working directory for keys, logs, inventory")
    start.add_argument("--isolated", choices=("yes", "no"), default=None)
    start.set_defaults(handler=_cmd_start)
    stop = commands.add_parser("stop", help="stop the fleet started in --dir")
    stop.add_argument("--dir", required=True)
    stop.set_defaults(handler=_cmd_stop)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
