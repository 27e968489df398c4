"""The Textual console: panes, dialogs and widgets. Talks to the engine only through
`console.client.EngineClient`."""
