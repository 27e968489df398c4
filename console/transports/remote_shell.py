"""How a command is wrapped to run on a POSIX host over SSH.

Two problems are solved here, without any agent on the host:

* **Environment values stay off the command line.** Any user on the host can read
  every process's `/proc/*/cmdline`, so `FOO=secret cmd` would leak. Instead the
  values travel over the channel's stdin, ahead of the caller's own stdin, as an
  *env block* that a constant `/bin/sh` preamble reads with the `read` builtin
  (which reads a pipe byte by byte, so the caller's stdin is left untouched for the
  command). Each value is encoded as printable ASCII with `\\0NNN` octal escapes for
  every other byte and decoded by `printf %b`: no `eval`, so quotes, `;`, `$( )` and
  newlines in a value are data, never code. Names must be valid shell identifiers.

* **Cancel and timeout must end the remote process, not just our reading of it.**
  Closing an SSH channel does not kill a command that is not on a pty. OpenSSH's
  sshd starts every session's shell with `setsid()`, and the wrapper `exec`s into
  `/bin/sh` in that same process, so the command and all its children share one
  process group whose id the wrapper reports on stderr before anything else runs
  (a marker line with a per-run nonce). To stop the command, a second channel on
  the same connection runs `kill_script(pgid)`.

The user's command is the wrapper's `$2` and runs with `eval` in the wrapper shell,
so its exit status is the channel's exit status.

* **Become (sudo) keeps both.** `BECOME_WRAPPER` reports its group, then `exec`s sudo
  in its own place, so sudo and the command stay in the reported group; the env block
  is read by the command's shell after sudo, as the become user. sudo's password comes
  on stdin ahead of the env block, only when sudo asks (`console.transports.sudo`).
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Mapping

from console.errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./,:=+@-")
END_OF_ENV = b".\n"

# Reports the wrapper's process group (read from /proc on Linux, ps elsewhere).
_REPORT_GROUP = r"""
read -r _ _ _ _ g _ 2>/dev/null </proc/$$/stat || g=$(ps -o pgid= -p $$)
printf '\036opsconsole:%s:pid=%s:pgid=%s\036\n' "$1" $$ $g >&2
""".strip()
# Reads the env block, then runs the command ($2).
_READ_ENV_AND_RUN = r"""
while IFS= read -r n && [ "$n" != . ]; do
  IFS= read -r v; v=$(printf '%bx' "$v"); export "$n=${v%x}"
done
unset n v g
eval "$2"
""".strip()

# $1 = nonce, $2 = the user's command.
WRAPPER = f"{_REPORT_GROUP}\n{_READ_ENV_AND_RUN}"

# Become: $3 = the become user, $4 = `-S` (a password comes on stdin) or `-n` (none
# may be asked for), $5 = BECOME_INNER. The wrapper reports its group and execs sudo
# in its place (same process, same group: the kill still reaches everything). sudo's
# prompt is a marker line, so the controller sends the password only when sudo asks
# and knows a second prompt means a wrong password; the command, as the become user,
# says it started before the controller sends the env block.
_SUDO = r"""
p=$(printf '\036opsconsole:%s:sudo-prompt\036\n_' "$1"); p=${p%_}
exec sudo "$4" -p "$p" -u "$3" -- /bin/sh -c "$5" opsconsole "$1" "$2"
""".strip()
BECOME_WRAPPER = f"{_REPORT_GROUP}\n{_SUDO}"
_BECAME = r"""printf '\036opsconsole:%s:became\036\n' "$1" >&2"""
BECOME_INNER = f"{_BECAME}\n{_READ_ENV_AND_RUN}"

_MARKER = re.compile(rb"\x1eopsconsole:([0-9a-f]+):pid=(\d+):pgid=\s*(\d+)\x1e")


def new_nonce() -> str:
    return secrets.token_hex(6)


def wrap(command: str, nonce: str) -> str:
    """The remote command line: the constant wrapper, the nonce and the command."""
    return _sh_c(WRAPPER, nonce, command)


def wrap_become(command: str, nonce: str, user: str, *, with_password: bool) -> str:
    """The remote command line running `command` as `user` through sudo."""
    mode = "-S" if with_password else "-n"
    return _sh_c(BECOME_WRAPPER, nonce, command, user, mode, BECOME_INNER)


def as_user(script: str, user: str, *, with_password: bool) -> str:
    """`script` run as `user` by sudo, the password (if any) read once from stdin,
    no prompt: for the kill of a become command, whose processes are that user's."""
    mode = "-S" if with_password else "-n"
    return f"sudo {mode} -p '' -u {shlex.quote(user)} -- /bin/sh -c {shlex.quote(script)}"


def sudo_prompt(nonce: str) -> bytes:
    """The line sudo prints (on stderr) each time it asks for the password."""
    return b"\x1eopsconsole:%s:sudo-prompt\x1e\n" % nonce.encode()


def became(nonce: str) -> bytes:
    """The line the command prints (on stderr) once it runs as the become user."""
    return b"\x1eopsconsole:%s:became\x1e\n" % nonce.encode()


def _sh_c(script: str, nonce: str, *args: str) -> str:
    quoted = " ".join(shlex.quote(a) for a in (script, "opsconsole", nonce, *args))
    return f"exec /bin/sh -c {quoted}"


def encode_value(value: str) -> bytes:
    """A value as one line of safe ASCII that `printf %b` turns back into the bytes."""
    raw = value.encode()
    if b"\0" in raw:
        raise UsageError("environment values cannot contain NUL bytes")
    return b"".join(bytes([c]) if c in _SAFE else b"\\0%03o" % c for c in raw)


def env_block(env: Mapping[str, str] | None) -> bytes:
    """The bytes sent on stdin ahead of the caller's stdin (always ends the block)."""
    parts: list[bytes] = []
    for name, value in (env or {}).items():
        if not _NAME.match(name):
            raise UsageError(f"environment variable name {name!r} is not a valid shell identifier")
        parts.append(name.encode() + b"\n" + encode_value(str(value)) + b"\n")
    parts.append(END_OF_ENV)
    return b"".join(parts)


def parse_marker(line: bytes, nonce: str) -> str | None:
    """What to kill if `line` is this run's marker line, else None: the process group
    (`-PGID`) when the wrapper leads its own group, as under OpenSSH; otherwise (a
    server that does not start sessions with setsid) only the wrapper's own pid, so
    that a kill can never reach a group the command does not own."""
    match = _MARKER.search(line)
    if match is None or match.group(1).decode() != nonce:
        return None
    pid, pgid = int(match.group(2)), int(match.group(3))
    return f"-{pgid}" if pgid == pid else str(pid)


def kill_script(target: str, grace: float = 2.0) -> str:
    """TERM `target` (a pid, or -PGID for a process group), wait up to `grace` seconds
    for it to go, then KILL it. Returns only once it is gone, so "cancelled" means
    "not running any more"."""
    steps = int(grace / 0.1)
    return (
        f"kill -TERM {target} 2>/dev/null; i=0; "
        f"while kill -0 {target} 2>/dev/null && [ $i -lt {steps} ]; "
        "do sleep 0.1; i=$((i+1)); done; "
        f"kill -KILL {target} 2>/dev/null; "
        f"while kill -0 {target} 2>/dev/null; do sleep 0.05; done; true"
    )
