"""Read the parts of `ansible_ssh_common_args` that map cleanly onto opsconsole settings.

Only three things are understood: a jump host (`-J host` or `-o ProxyJump=host`), the
host key policy (`-o StrictHostKeyChecking=...`) and the known-hosts file
(`-o UserKnownHostsFile=...`). Other OpenSSH options are ignored because opsconsole
does not run the `ssh` binary; the explicit `console_*` variables always win.
"""

from __future__ import annotations

import shlex

# OpenSSH StrictHostKeyChecking values → opsconsole host key policies.
_STRICTNESS = {
    "yes": "strict",
    "ask": "strict",
    "accept-new": "accept-new",
    "no": "off",
    "off": "off",
}


def parse_ssh_args(text: str) -> dict[str, str]:
    """`{'jump_host'|'host_key_policy'|'known_hosts_file': value}` found in `text`."""
    try:
        words = shlex.split(text)
    except ValueError:
        return {}
    found: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        value: str | None = None
        if word in ("-J", "-o") and index + 1 < len(words):
            value = words[index + 1]
            index += 1
        elif word.startswith(("-J", "-o")) and len(word) > 2:
            value = word[2:]
        if value is not None:
            _read_option(word[:2], value, found)
        index += 1
    return found


def _read_option(flag: str, value: str, found: dict[str, str]) -> None:
    if flag == "-J":
        found["jump_host"] = value
        return
    key, sep, setting = value.partition("=")
    if not sep:
        key, _, setting = value.partition(" ")
    key, setting = key.strip().lower(), setting.strip()
    if key == "proxyjump" and setting.lower() != "none":
        found["jump_host"] = setting
    elif key == "stricthostkeychecking" and setting.lower() in _STRICTNESS:
        found["host_key_policy"] = _STRICTNESS[setting.lower()]
    elif key == "userknownhostsfile" and setting:
        found["known_hosts_file"] = setting.split()[0]
