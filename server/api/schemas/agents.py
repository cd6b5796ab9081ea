from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class AgentRead(BaseModel):
    id: str
    hostname: str
    pid: int
    version: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    state: str = Field(description="running, stopped, or lost (no heartbeat within the lease)")
    running_syncs: int
    this_agent: bool = Field(description="The agent answering this request")
