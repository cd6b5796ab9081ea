"""Shared Qt helpers: background operations, table models, themes, remembered layout."""
