"""The connector configuration wizard: choose, sign in, configure, test, preview, schedule,
create; plus configuration history."""
