"""Schedule rules shared by the API and the scheduler: what is valid, when it runs next."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from apscheduler.triggers.cron import CronTrigger

from server.db.models import ScheduleType, SyncSchedule


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """Parse a five-field crontab expression; ValueError with a readable reason."""
    if len(expression.split()) != 5:
        raise ValueError("needs five fields: minute hour day-of-month month day-of-week")
    try:
        return CronTrigger.from_crontab(expression, timezone=zoneinfo.ZoneInfo(timezone))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a valid cron expression: {exc}") from None


def schedule_problems(s: SyncSchedule) -> list[tuple[str, str]]:
    """What is missing or contradictory for the schedule's type, as (field, message)."""
    problems: list[tuple[str, str]] = []
    if s.schedule_type == ScheduleType.INTERVAL and not s.interval_minutes:
        problems.append(("interval_minutes", "required for an interval schedule"))
    if s.schedule_type == ScheduleType.CRON:
        if not s.cron_expression:
            problems.append(("cron_expression", "required for a cron schedule"))
        else:
            try:
                cron_trigger(s.cron_expression, s.timezone)
            except ValueError as exc:
                problems.append(("cron_expression", str(exc)))
    if s.schedule_type == ScheduleType.EVENT and not s.event_trigger:
        problems.append(("event_trigger", "required for an event-based schedule"))
    return problems


def next_run(s: SyncSchedule, now: dt.datetime) -> dt.datetime | None:
    """The next time a time-based schedule fires after ``now`` (None: inactive or event)."""
    if not s.is_active:
        return None
    if s.schedule_type == ScheduleType.INTERVAL and s.interval_minutes:
        base = s.last_execution or now
        nxt = base + dt.timedelta(minutes=s.interval_minutes)
        return max(nxt, now) if s.last_execution else nxt
    if s.schedule_type == ScheduleType.CRON and s.cron_expression:
        fire = cron_trigger(s.cron_expression, s.timezone).get_next_fire_time(None, now)
        return fire.astimezone(dt.UTC) if fire else None
    return None
