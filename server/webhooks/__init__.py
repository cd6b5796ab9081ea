"""Inbound webhooks: per-instance keys, verification schemes, durable intake, processing."""
