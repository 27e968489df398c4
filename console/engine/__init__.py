"""The engine and the ways to reach it.

`core.Engine` wires every domain together for one data directory; `control` serves it
over the control socket, `remote.RemoteClient` is the client side of that socket, and
`client` is the one interface (`EngineClient`) that the CLI and the console use for
both. `serve` runs it headless; `connect` attaches to a running engine or starts one.

Importing this package imports nothing else, so `console.engine.client` stays cheap
for the console.
"""
