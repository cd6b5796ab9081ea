"""The sync engine: read -> map -> validate -> upsert into the evidence store, resumably."""
