"""Worker groups: run host runs on machines inside other networks, over NATS JetStream."""
