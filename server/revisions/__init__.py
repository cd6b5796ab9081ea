"""Revision history of instances, credentials (metadata), mappings, schedules, subscriptions."""
