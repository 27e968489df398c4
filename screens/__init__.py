"""The Textual console: panes, dialogs and widgets. Talks to the engine only through
`console.engine.client.EngineClient`."""
