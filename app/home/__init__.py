"""Home dashboard: health tiles, sync charts, alerts, recent activity, quick actions."""
