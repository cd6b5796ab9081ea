"""Scheduled syncs: APScheduler timers in each agent, slots claimed once in the database."""
