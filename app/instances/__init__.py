"""Instances list with live status, last and next sync, and quick actions."""
