"""Connect dialog: saved agent profiles, token entry, connection test."""
