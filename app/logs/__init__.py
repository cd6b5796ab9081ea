"""Integration logs viewer: filters, live tail, JSON detail pane, CSV/JSON export."""
