"""Which schedules, webhooks and hosts use an asset, so that deleting it in use is
refused. The engine gathers the facts (it knows the triggers, the catalog's parameter
types and the inventory) and this module only reads them, so the asset package needs
nothing of the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.assets.model import ASSET_PARAMETER_TYPES, name_key

# The host variables that name a credential asset: the login, and sudo's password.
HOST_CREDENTIAL_VARS = ("console_credential", "console_become_credential")


@dataclass(frozen=True)
class TriggerUse:
    """A schedule or webhook: what it starts and with which raw parameters."""

    ref: str  # "schedule:NAME" or "webhook:NAME"
    runbook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UsageFacts:
    triggers: Iterable[TriggerUse] = ()
    hosts: Iterable[tuple[str, Mapping[str, Any]]] = ()  # (host name, merged vars)


# The declared parameter types of a runbook ({} when the runbook is gone or broken).
ParameterTypes = Callable[[str], Mapping[str, str]]


def asset_users(facts: UsageFacts, parameter_types: ParameterTypes) -> dict[str, list[str]]:
    """name_key(asset) -> ["schedule:NAME", "webhook:NAME", "host:NAME", ...]."""
    users: dict[str, list[str]] = {}
    for trigger in facts.triggers:
        types = parameter_types(trigger.runbook)
        for param, value in trigger.parameters.items():
            if types.get(param) in ASSET_PARAMETER_TYPES and isinstance(value, str):
                _add(users, value, trigger.ref)
    for host, host_vars in facts.hosts:
        for var in HOST_CREDENTIAL_VARS:
            credential = host_vars.get(var)
            if isinstance(credential, str):
                _add(users, credential, f"host:{host}")
    return users


def _add(users: dict[str, list[str]], asset: str, ref: str) -> None:
    refs = users.setdefault(name_key(asset), [])
    if ref not in refs:
        refs.append(ref)
