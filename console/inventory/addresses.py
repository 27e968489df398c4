"""Recognise host identifiers the way Ansible does: `name`, `name:port`, `[v6]:port`.

Two places depend on this grammar: a YAML host key such as `db01:2222` carries a port,
and a target pattern without commas is only split on `:` when it is *not* a valid
address (so `web[1:3]` and `fe80::1` stay one pattern). Hostnames may contain
`[x:y(:z)]` ranges; IPv4 and IPv6 addresses may contain numeric ranges.
"""

from __future__ import annotations

import ipaddress
import re

_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_IPV4_PART = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_IPV4 = re.compile(rf"^(?:{_IPV4_PART}\.){{3}}{_IPV4_PART}$")
_LABEL = rf"(?:\w|{_ALNUM_RANGE})(?:[\w-]|{_ALNUM_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.IGNORECASE)
_HEX_RANGE = re.compile(r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]", re.IGNORECASE)
_BRACKETED_PORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")


def _is_ipv6(text: str) -> bool:
    if "%" in text or ":" not in text:
        return False
    try:
        ipaddress.IPv6Address(_HEX_RANGE.sub("0", text))
    except ValueError:
        return False
    return True


def parse_address(text: str) -> tuple[str, int | None] | None:
    """`(host, port)` when `text` is a host identifier with an optional port, else None.

    Like Ansible, the bracketed form is tried first and then the bare `host:port` form
    on what is left; ranges are allowed in the host part.
    """
    port: int | None = None
    for form in (_BRACKETED_PORT, _HOST_PORT):
        match = form.match(text)
        if match:
            text, port = match.group(1), int(match.group(2))
    if _IPV4.match(text) or _is_ipv6(text) or _HOSTNAME.match(text):
        return text, port
    return None
