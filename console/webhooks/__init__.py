"""Webhooks: the registry (tokens hashed, secrets encrypted), the HTTP handler, masking
and replay protection, rate limits, and the intake worker process that answers them."""
