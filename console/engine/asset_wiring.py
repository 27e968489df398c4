"""How the engine opens its asset vault: who uses which asset is gathered here from the
engine's parts (schedules, webhooks, the catalog's parameter types, the inventory), so
that `console.assets` needs nothing of the engine, and after a key rotation the webhook
service re-reads its re-encrypted secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from console.assets.usage import TriggerUse, UsageFacts, asset_users
from console.assets.vault import AssetVault
from console.errors import OpsError

if TYPE_CHECKING:
    from console.engine.options import EngineOptions
    from console.inventory.model import Host
    from console.runbooks.catalog import RunbookCatalog
    from console.schedules.book import ScheduleBook
    from console.settings import Settings
    from console.store import Store
    from console.webhooks.service import WebhookService


class Engine(Protocol):
    """What of `console.engine.core.Engine` the vault's wiring reads."""

    store: Store | None
    settings: Settings
    options: EngineOptions
    catalog: RunbookCatalog

    @property
    def schedules(self) -> ScheduleBook: ...

    @property
    def webhooks(self) -> WebhookService: ...

    def hosts(self, pattern: str = "all") -> list[Host]: ...


def open_vault(engine: Engine) -> AssetVault:
    """The vault of a started engine's data directory; finishes an interrupted key
    rotation first unless the engine only reads."""
    assert engine.store is not None
    vault = AssetVault(
        engine.store,
        engine.settings.data_dir,
        users=lambda: asset_users(_facts(engine), lambda rb: _parameter_types(engine, rb)),
        on_rotated=lambda: _reload_webhooks(engine),
    )
    if not engine.options.read_only:
        vault.finish_interrupted_rotation()
    return vault


def _facts(engine: Engine) -> UsageFacts:
    triggers: list[TriggerUse] = []
    try:
        triggers += [
            TriggerUse(f"schedule:{s.name}", s.runbook, s.parameters)
            for s in engine.schedules.schedules()
        ]
        triggers += [
            TriggerUse(f"webhook:{w.name}", w.runbook, w.parameters)
            for w in engine.webhooks.registry.all()
        ]
    except OpsError:
        pass  # an engine that only reads has no triggers to hold an asset
    try:
        hosts = [(h.name, h.vars) for h in engine.hosts("all")]
    except OpsError:
        hosts = []  # a broken inventory is reported where it is used, not here
    return UsageFacts(triggers, hosts)


def _parameter_types(engine: Engine, runbook: str) -> Mapping[str, str]:
    try:
        parameters = engine.catalog.get(runbook).metadata.parameters
    except OpsError:
        return {}  # a trigger of a runbook that is gone uses no asset we can know of
    return {name: p.type for name, p in parameters.items()}


async def _reload_webhooks(engine: Engine) -> None:
    try:
        service = engine.webhooks
    except OpsError:
        return
    await service.reload()
