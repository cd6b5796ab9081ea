"""Agents sharing one database, and the schedule slots they claim (issue 6).

Each running agent has a row it refreshes every few seconds (``heartbeat_at``). A scheduled
slot is claimed by inserting its ``(schedule_id, slot_time)`` row: the unique key makes the
database, not the agents, decide who runs it, so every slot runs once however many agents see
it come due.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, enum_column
from server.db.models.enums import StrEnum
from server.db.types import utcnow


class AgentState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # said goodbye (clean shutdown)


class SlotOutcome(StrEnum):
    STARTED = "started"  # an execution was created for the slot
    SKIPPED_ACTIVE = "skipped_active"  # a sync of the instance was still pending or running
    SKIPPED_INACTIVE = "skipped_inactive"  # the instance is not active


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    version: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[AgentState] = mapped_column(enum_column(AgentState, "agent_state"),
                                              default=AgentState.RUNNING)
    stopped_at: Mapped[dt.datetime | None]
    #: Syncs the agent runs or has queued, as of its last heartbeat.
    running_syncs: Mapped[int] = mapped_column(default=0)


class ScheduleSlot(UuidPk, Base):
    __tablename__ = "schedule_slots"
    __table_args__ = (UniqueConstraint("schedule_id", "slot_time"),)

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sync_schedules.id", ondelete="CASCADE"))
    #: The slot's nominal time (without jitter): the same on every agent.
    slot_time: Mapped[dt.datetime]
    agent_id: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    outcome: Mapped[SlotOutcome] = mapped_column(enum_column(SlotOutcome, "slot_outcome"))
    # SET NULL: executions are pruned with their instance history; the claim stays.
    execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sync_executions.id", ondelete="SET NULL"), index=True)
