"""Scheduled syncs: APScheduler timers in each agent, slots claimed once in the database."""

from server.scheduler.service import SchedulerService, notify_schedule_changed
from server.scheduler.slots import SlotClaim, claim_slot, following_slot

__all__ = ["SchedulerService", "SlotClaim", "claim_slot", "following_slot",
           "notify_schedule_changed"]
