"""Inventory data and change tracking: what is on every machine (facts, software,
services, tracked files), collected agentlessly in one round trip, and what changed."""
