"""Assets (`A`, or "Assets" in the palette): credentials, variables, connections and
certificates by name, kind, use and age, and dialogs to create, replace and delete them.

Values are never shown: the engine answers with `AssetView`s, which carry none, and the
secret fields of the dialogs never echo what is typed. Replacing an asset means typing
its secrets again, as `opsconsole assets set-...` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from console.assets.model import AssetKind, AssetView, variable_value
from console.errors import OpsError, UsageError
from screens.commands import ASSETS, bindings_for
from screens.context import client_of
from screens.format import short_clock
from screens.forms import FieldRow, FormDialog, form_footer
from screens.key_footer import KeyFooter
from screens.status_line import StatusLine
from screens.vtable import Column, VirtualTable

ASSET_COLUMNS = (
    Column("Name", 22),
    Column("Kind", 11),
    Column("Secret", 7),
    Column("Updated", 14),
    Column("Used by", 20),
)
CONNECTION_ROWS = 4  # field rows in the connection form; more through the CLI
KIND_HINTS = {
    AssetKind.CREDENTIAL: "username and password, or a private key file",
    AssetKind.VARIABLE: "a JSON value or text; encrypted if you tick it",
    AssetKind.CONNECTION: "named fields, e.g. endpoint and token; tick the secret ones",
    AssetKind.CERTIFICATE: "a PEM file holding the certificate and its private key",
}


def asset_cells(view: AssetView) -> tuple[str, ...]:
    return (
        view.name,
        view.kind.value,
        "yes" if view.encrypted else "no",
        short_clock(view.updated),
        ", ".join(view.used_by) or "-",
    )


class AssetsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(ASSETS)

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, AssetView] = {}

    def compose(self) -> ComposeResult:
        yield Static("Assets: values are never shown", id="assets-header")
        yield VirtualTable(
            ASSET_COLUMNS, empty_text="No assets yet: n creates one.", id="assets-table"
        )
        yield StatusLine("", id="assets-detail", classes="status-line")
        yield KeyFooter()

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#assets-table", VirtualTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.action_reload()

    @work(exclusive=True, group="assets-load")
    async def action_reload(self) -> None:
        try:
            views = await client_of(self).assets.entries()
        except OpsError as exc:
            self.query_one("#assets-detail", Static).update(f"Cannot list assets: {exc}")
            return
        self.views = {v.name: v for v in views}
        self.table.set_rows([(v.name, asset_cells(v)) for v in views])
        self._describe(self.table.cursor_key)

    @on(VirtualTable.Highlighted, "#assets-table")
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._describe(event.key)

    def _describe(self, name: str | None) -> None:
        view = self.views.get(name) if name else None
        text = ""
        if view is not None:
            shown = ", ".join(f"{k}={v}" for k, v in view.fields.items() if k != "certificate")
            secret = ", ".join(view.secret_fields)
            text = " | ".join(
                part for part in (view.description, shown, secret and f"secret: {secret}") if part
            )
        self.query_one("#assets-detail", Static).update(text)

    def action_new(self) -> None:
        self.app.push_screen(KindPicker(), self._kind_chosen)

    def _kind_chosen(self, kind: AssetKind | None) -> None:
        if kind is not None:
            self.app.push_screen(AssetDialog(kind), self._saved)

    @on(VirtualTable.Selected, "#assets-table")
    def _selected(self) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        view = self.views.get(self.table.cursor_key or "")
        if view is not None:
            self.app.push_screen(AssetDialog(view.kind, view), self._saved)

    def _saved(self, view: AssetView | None) -> None:
        if view is not None:
            self.notify(f"Saved {view.kind.value} {view.name}", timeout=3)
            self.action_reload()

    def action_delete(self) -> None:
        view = self.views.get(self.table.cursor_key or "")
        if view is not None:
            self.app.push_screen(DeleteAsset(view), self._deleted)

    def _deleted(self, name: str | None) -> None:
        if name is not None:
            self.notify(f"Deleted {name}", timeout=3)
            self.action_reload()

    def action_close(self) -> None:
        self.dismiss(None)


class KindPicker(ModalScreen[AssetKind | None]):
    """Which kind of asset to create."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog small"):
            yield Label("New asset: which kind?", classes="dialog-title")
            yield OptionList(
                *(Option(f"{k.value:<12} {KIND_HINTS[k]}", id=k.value) for k in AssetKind),
                id="asset-kinds",
            )

    def on_mount(self) -> None:
        self.query_one("#asset-kinds", OptionList).focus()

    @on(OptionList.OptionSelected, "#asset-kinds")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(AssetKind(str(event.option.id)))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AssetDialog(FormDialog[AssetView | None]):
    """Create (`view` None) or replace one asset of `kind`; dismissed with what the
    engine saved. Errors from the engine show in the dialog, which stays open."""

    def __init__(self, kind: AssetKind, view: AssetView | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.view = view

    def compose(self) -> ComposeResult:
        verb = "Replace" if self.view else "New"
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"{verb} {self.kind.value}", classes="dialog-title")
            name = Input(self.view.name if self.view else "", id="asset-name")
            name.disabled = self.view is not None
            yield FieldRow("Name", name)
            description = self.view.description if self.view else ""
            yield FieldRow("Description", Input(description, id="asset-description"))
            yield from self._kind_fields()
            if self.view is not None and self.view.secret_fields:
                yield Static("Secrets are never shown: type them again.", classes="hint")
            yield from form_footer("asset", "Save")

    def _kind_fields(self) -> ComposeResult:
        fields: Mapping[str, Any] = self.view.fields if self.view else {}
        if self.kind is AssetKind.CREDENTIAL:
            yield FieldRow("Username", Input(str(fields.get("username", "")), id="asset-username"))
            yield FieldRow("Password", Input(password=True, id="asset-password"))
            yield FieldRow("or key file", Input(placeholder="path", id="asset-key-file"))
            yield FieldRow("Key passphrase", Input(password=True, id="asset-passphrase"))
        elif self.kind is AssetKind.VARIABLE:
            encrypted = bool(self.view and self.view.encrypted)
            value = "" if encrypted or "value" not in fields else str(fields["value"])
            yield FieldRow("Value", Input(value, password=encrypted, id="asset-value"))
            box = Checkbox("Encrypted (cannot be undone)", encrypted, id="asset-encrypted")
            box.disabled = encrypted
            yield box
        elif self.kind is AssetKind.CONNECTION:
            names = [*fields, *(self.view.secret_fields if self.view else ())]
            for row in range(CONNECTION_ROWS):
                yield from self._connection_row(row, names[row] if row < len(names) else "")
        else:
            yield FieldRow("PEM file", Input(placeholder="path", id="asset-pem"))

    def _connection_row(self, row: int, name: str) -> ComposeResult:
        secret = bool(self.view and name in self.view.secret_fields)
        value = "" if secret or not self.view else str(self.view.fields.get(name, ""))
        with Horizontal(classes="field"):
            yield Input(name, placeholder="field", id=f"conn-name-{row}", classes="conn-name")
            yield Input(value, placeholder="value", password=secret, id=f"conn-value-{row}")
            yield Checkbox("secret", secret, id=f"conn-secret-{row}", classes="conn-secret")

    def on_mount(self) -> None:
        first = "#asset-description" if self.view else "#asset-name"
        self.set_focus(self.query_one(first, Input))

    @on(Checkbox.Changed)
    def _secret_ticked(self, event: Checkbox.Changed) -> None:
        """A field ticked secret stops echoing at once."""
        if event.checkbox.id == "asset-encrypted":
            self.query_one("#asset-value", Input).password = event.value
        elif event.checkbox.id and event.checkbox.id.startswith("conn-secret-"):
            row = event.checkbox.id.rsplit("-", 1)[1]
            self.query_one(f"#conn-value-{row}", Input).password = event.value

    @on(Button.Pressed, "#asset-save")
    def _save_pressed(self) -> None:
        self.after_typing(self.submit)

    @on(Button.Pressed, "#asset-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def _text(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    async def submit(self) -> None:
        try:
            view = await self._save(self._text("asset-name").strip())
        except OpsError as exc:
            self.query_one("#asset-error", Static).update(str(exc))
            return
        self.dismiss(view)

    async def _save(self, name: str) -> AssetView:
        assets = client_of(self).assets
        description = self._text("asset-description").strip()
        if self.kind is AssetKind.CREDENTIAL:
            key_file = self._text("asset-key-file").strip()
            return await assets.set_credential(
                name,
                self._text("asset-username").strip(),
                password=None if key_file else self._text("asset-password"),
                private_key=_read(key_file) if key_file else None,
                passphrase=(self._text("asset-passphrase") or None) if key_file else None,
                description=description,
            )
        if self.kind is AssetKind.VARIABLE:
            encrypted = self.query_one("#asset-encrypted", Checkbox).value
            value = variable_value(self._text("asset-value"))
            return await assets.set_variable(
                name, value, encrypted=encrypted, description=description
            )
        if self.kind is AssetKind.CONNECTION:
            fields, secret = self._connection_fields()
            return await assets.set_connection(name, fields, secret=secret, description=description)
        pem = self._text("asset-pem").strip()
        return await assets.set_certificate(name, _read(pem), description=description)

    def _connection_fields(self) -> tuple[dict[str, str], list[str]]:
        fields: dict[str, str] = {}
        secret: list[str] = []
        for row in range(CONNECTION_ROWS):
            name = self._text(f"conn-name-{row}").strip()
            if name:
                fields[name] = self._text(f"conn-value-{row}")
                if self.query_one(f"#conn-secret-{row}", Checkbox).value:
                    secret.append(name)
        return fields, secret


class DeleteAsset(ModalScreen[str | None]):
    """Delete one asset: refused by the engine while something uses it, unless forced."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Keep"),
        Binding("y", "delete", "Delete"),
    ]

    def __init__(self, view: AssetView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        used = ", ".join(self.view.used_by)
        warning = f"\nUsed by {used}: deleting breaks them." if used else ""
        with Vertical(id="dialog", classes="dialog small"):
            yield Label(f"Delete {self.view.kind.value} {self.view.name}?", classes="dialog-title")
            yield Static(f"This cannot be undone.{warning}", id="delete-text")
            yield Static("", id="delete-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Delete (y)", id="delete-yes", variant="error")
                yield Button("Keep (n)", id="delete-no")

    def on_mount(self) -> None:
        self.query_one("#delete-no", Button).focus()

    @on(Button.Pressed, "#delete-yes")
    async def action_delete(self) -> None:
        try:
            await client_of(self).assets.delete(self.view.name, force=bool(self.view.used_by))
        except OpsError as exc:
            self.query_one("#delete-error", Static).update(str(exc))
            return
        self.dismiss(self.view.name)

    @on(Button.Pressed, "#delete-no")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _read(path: str) -> str:
    """A key or PEM file the operator named, read here as the CLI does: only its text
    reaches the engine."""
    if not path:
        raise UsageError("name the file to read")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
