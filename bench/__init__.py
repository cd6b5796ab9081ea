"""Benchmarks of SimpleTrust Integrations (``python -m bench.sync_bench``; see
``docs/guides/performance.md``). Not shipped with the product; dlt is a bench-only extra."""
