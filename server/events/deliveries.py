"""Stored webhook deliveries -> outbox events, a batch per step.

The agent's event worker runs this in its own process on PostgreSQL
(:mod:`server.events.parser_process`) and in-process on SQLite. A step claims a batch (``FOR
UPDATE SKIP LOCKED`` and a claim lease: safe beside other agents and processes), parses each
delivery, then writes the events, the deliveries' status and their log entries in one
transaction: one commit, one audit-chain append per batch (per-delivery transactions could
not keep up with the intake, issue 6).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from typing import Any, NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk import ConnectorError
from connectors.sdk.webhooks import WebhookRequest
from server.db.models import (
    DeliveryStatus,
    IntegrationInstance,
    LogType,
    WebhookDelivery,
    WebhookScheme,
)
from server.db.types import utcnow
from server.events import outbox
from server.events.emit import emit_many, event_row
from server.services import activity
from server.services.registry import Registry
from server.sync.runtime import build_connector
from server.vault import Vault

log = logging.getLogger(__name__)

#: Deliveries parsed and committed together by one step.
DELIVERY_BATCH = 500
#: An event parsed from a delivery: type, data, its own time (ISO text) if it has one.
ParsedEvent = tuple[str, dict[str, Any], str | None]
Outcome = tuple["ClaimedDelivery", list[ParsedEvent], str | None]


class ClaimedDelivery(NamedTuple):
    """What parsing a stored delivery needs (plain columns: no ORM object per delivery)."""

    id: uuid.UUID
    instance_id: uuid.UUID
    delivery_id: str
    scheme: WebhookScheme
    headers: dict[str, Any]
    body: bytes
    received_at: dt.datetime


class DeliveryParser:
    """Claims, parses and records stored deliveries (the steps run in worker threads)."""

    def __init__(self, session_factory: sessionmaker[Session], registry: Registry,
                 vault: Vault, agent_id: str) -> None:
        self.session_factory = session_factory
        self.registry = registry
        self.vault = vault
        self.agent_id = agent_id

    def claim(self, limit: int = DELIVERY_BATCH) -> list[ClaimedDelivery]:
        now = utcnow()
        with self.session_factory() as session:
            rows = [ClaimedDelivery(*row) for row in session.execute(
                select(WebhookDelivery.id, WebhookDelivery.instance_id,
                       WebhookDelivery.delivery_id, WebhookDelivery.scheme,
                       WebhookDelivery.headers, WebhookDelivery.body,
                       WebhookDelivery.received_at).where(
                    WebhookDelivery.status == DeliveryStatus.RECEIVED,
                    or_(WebhookDelivery.claimed_until.is_(None),
                        WebhookDelivery.claimed_until < now))
                .order_by(WebhookDelivery.received_at).limit(limit)
                .with_for_update(skip_locked=True))]
            if rows:
                session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([r.id for r in rows]))
                    .values(claimed_by=self.agent_id, claimed_until=now + outbox.CLAIM)
                    .execution_options(synchronize_session=False))
            session.commit()
            return rows

    def connectors(self, deliveries: list[ClaimedDelivery]) -> dict[uuid.UUID, Any]:
        """One connector per instance whose deliveries it verifies (None: unavailable)."""
        wanted = {d.instance_id for d in deliveries if d.scheme == WebhookScheme.CONNECTOR}
        out: dict[uuid.UUID, Any] = {}
        if not wanted:
            return out
        with self.session_factory() as session:
            for instance_id in wanted:
                instance = session.get(IntegrationInstance, instance_id)
                try:
                    out[instance_id] = (build_connector(session, self.registry, self.vault,
                                                        instance) if instance else None)
                except ConnectorError as exc:
                    log.warning("webhook deliveries of instance %s: connector unavailable: %s",
                                instance_id, exc)
                    out[instance_id] = None
        return out

    async def parse_all(self, claimed: list[ClaimedDelivery], connectors: dict[uuid.UUID, Any]
                        ) -> list[Outcome]:
        """Each delivery's events, or why it could not be parsed; closes the connectors."""
        outcomes: list[Outcome] = []
        try:
            for delivery in claimed:
                events, error = await self.parse(delivery, connectors.get(delivery.instance_id))
                outcomes.append((delivery, events, error))
        finally:
            for connector in connectors.values():
                if connector is not None:
                    await connector.aclose()
        return outcomes

    @staticmethod
    async def parse(delivery: ClaimedDelivery, connector: Any
                    ) -> tuple[list[ParsedEvent], str | None]:
        events: list[ParsedEvent] = []
        try:
            if connector is not None:
                request = WebhookRequest(body=delivery.body, headers=delivery.headers,
                                         received_at=delivery.received_at.timestamp())
                key = connector.metadata.key
                for parsed in await connector.parse_webhook(request):
                    kind = (parsed.type if parsed.type.startswith(f"{key}.")
                            else f"{key}.{parsed.type}")
                    events.append((kind, parsed.payload, parsed.occurred_at))
            else:
                events.append(_generic_event(delivery.body))
        except ConnectorError as exc:
            return [], exc.message
        except ValueError:
            return [], "the body is not valid JSON"
        return events, None

    def finish(self, outcomes: list[Outcome]) -> None:
        """Events, delivery status and one log/audit entry per delivery, committed together."""
        with self.session_factory() as session:
            now = utcnow()
            present = set(session.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.id.in_([d.id for d, _, _ in outcomes]))))
            rows: list[dict[str, Any]] = []
            #: One UPDATE per outcome (status, events, error): usually one for the batch.
            settled: dict[tuple[DeliveryStatus, int, str | None], list[uuid.UUID]] = {}
            entries: list[activity.Entry] = []
            for delivery, events, error in outcomes:
                if delivery.id not in present:  # deleted meanwhile (its instance was)
                    continue
                for i, (event_type, data, occurred) in enumerate(events):
                    rows.append(event_row(
                        event_type, {**data, "_delivery_id": delivery.delivery_id},
                        dedupe_key=f"webhook:{delivery.id}:{i}",
                        instance_id=delivery.instance_id, occurred_at=_occurred(occurred),
                        now=now))
                outcome = ((DeliveryStatus.PROCESSED, len(events), None) if error is None
                           else (DeliveryStatus.FAILED, 0, error[:2000]))
                settled.setdefault(outcome, []).append(delivery.id)
                entries.append(_log_entry(delivery, events, error))
            emit_many(session, rows)
            for (status, count, error), ids in settled.items():
                session.execute(
                    update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                    .values(status=status, events=count, error=error, processed_at=now,
                            claimed_by=None, claimed_until=None)
                    .execution_options(synchronize_session=False))
            activity.record_many(session, entries)
            session.commit()


def _log_entry(delivery: ClaimedDelivery, events: list[ParsedEvent], error: str | None
               ) -> activity.Entry:
    """The delivery's log entry (and so its audit-trail entry)."""
    if error is None:
        return activity.Entry(
            "webhook.delivery", f"webhook delivery {delivery.delivery_id} processed: "
            f"{len(events)} event(s) ({', '.join(sorted({e[0] for e in events})) or 'none'})",
            delivery.instance_id, details={"delivery_id": delivery.delivery_id,
                                           "id": str(delivery.id), "events": len(events)})
    return activity.Entry(
        "webhook.delivery", f"webhook delivery {delivery.delivery_id} could not be parsed: "
        f"{error}", delivery.instance_id, LogType.WARNING,
        {"delivery_id": delivery.delivery_id, "id": str(delivery.id)})


def _occurred(occurred: str | None) -> dt.datetime | None:
    """An event's own time from its ISO text; None (now) when absent or unreadable."""
    if not occurred:
        return None
    try:
        when = dt.datetime.fromisoformat(occurred.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


def _generic_event(body: bytes) -> tuple[str, dict[str, Any], str | None]:
    data = json.loads(body)
    if not isinstance(data, dict):
        data = {"body": data}
    kind = data.get("type")
    event_type = (f"webhook.{kind}" if isinstance(kind, str)
                  and re.fullmatch(r"[A-Za-z0-9_.\-]{1,150}", kind) else "webhook.received")
    stamp = data.get("timestamp")
    return event_type, data, stamp if isinstance(stamp, str) else None
