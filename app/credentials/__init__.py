"""Credentials: list, create, test, refresh, browser sign-in; secrets typed, never shown."""
