"""The agent's event worker: parse stored webhook deliveries, dispatch the outbox, run actions.

It wakes when this agent stored a delivery or an event, and polls every ``poll`` seconds for
work other agents queued. Actions run concurrently (at most ``parallel``), each on its own
claim, so a slow receiver holds up nothing else. On PostgreSQL the agent hands parsing and
dispatching to a process of their own (:meth:`EventWorker.hand_off`,
:mod:`server.events.parser_process`): the intake then has this process's interpreter to
itself, and the worker here runs the actions (a sync started by an event runs in the
agent's own sync manager).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk import ConnectorError
from connectors.sdk.http.guard import AddressPolicy, guarded_transport
from server.config import Settings
from server.db.models import (
    AuthenticationConfig,
    EventAction,
    EventSubscription,
    InstanceStatus,
    IntegrationInstance,
    OutboxEvent,
    SyncSchedule,
    TriggerType,
)
from server.db.types import utcnow
from server.events import action_secrets, configs, outbox
from server.events.deliveries import DELIVERY_BATCH, DeliveryParser
from server.events.emit import emit
from server.events.filters import MISSING, resolve
from server.events.notify import NotifyError, send_email
from server.events.signing import signing_secrets
from server.services import activity
from server.services.registry import Registry
from server.sync.manager import SyncAlreadyActive, SyncManager, create_execution
from server.sync.runtime import build_connector
from server.vault import Vault, VaultError
from server.webhooks.standard import sign_headers

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")
CREDENTIAL_CHECK_SECONDS = 3600.0
#: While work keeps being queued (an intake burst: the intake wakes the worker after every
#: commit), the worker takes small batches and pauses twice as long as each step took (at
#: least ``BUSY_PAUSE``). Acknowledging deliveries then keeps most of the process's one
#: interpreter (the GIL): on the webhook bench at 2,000/s, a worker taking full batches
#: meanwhile put the intake's p50 at 0.5-0.8 s; with it stopped, about 10 ms. The events
#: follow later, and once the oldest waiting delivery is ``MAX_LAG`` behind the worker takes
#: full batches without pausing again (the acknowledgements slow down instead). None of this
#: applies when another process parses the deliveries (:meth:`EventWorker.hand_off`).
BUSY_WINDOW = 0.05
BUSY_BATCH = 100
BUSY_PAUSE = 0.05
MAX_LAG = 10.0
def render(template: Any, doc: dict[str, Any]) -> Any:
    """``${data.instance}`` placeholders from the event envelope, in strings, lists, objects.

    A string that is exactly one placeholder takes the value as it is (a number stays one);
    a missing field renders as null (alone) or as nothing (inside text).
    """
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            value = resolve(doc, whole.group(1))
            return None if value is MISSING else value
        return _PLACEHOLDER.sub(lambda m: _text(resolve(doc, m.group(1))), template)
    if isinstance(template, list):
        return [render(v, doc) for v in template]
    if isinstance(template, dict):
        return {k: render(v, doc) for k, v in template.items()}
    return template


def _text(value: Any) -> str:
    if value is MISSING:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


class ActionFailed(Exception):
    def __init__(self, message: str, *, status_code: int | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.status_code, self.permanent = status_code, permanent


class EventWorker:
    def __init__(
        self, session_factory: sessionmaker[Session], registry: Registry, vault: Vault,
        manager: SyncManager, settings: Settings, agent_id: str, *, lease: dt.timedelta,
        poll: float = 0.5, parallel: int = 16,
    ) -> None:
        self.session_factory = session_factory
        self.registry = registry
        self.vault = vault
        self.manager = manager
        self.settings = settings
        self.agent_id = agent_id
        self.lease = lease
        self.poll = poll
        self._slots = asyncio.Semaphore(parallel)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._last_credential_check = 0.0
        self._last_wake = 0.0  # monotonic time work was last queued from outside
        self._lagging = False  # the oldest delivery claimed last waited over MAX_LAG
        self.parser = DeliveryParser(session_factory, registry, vault, agent_id)
        #: Wakes the process deliveries and dispatching were handed to (None: done here).
        self._elsewhere: Callable[[], None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._main(), name="event-worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def wake(self) -> None:
        """Work was queued (callable from any thread)."""
        elsewhere = self._elsewhere
        if elsewhere is not None:  # its process parses and dispatches, then calls notify()
            elsewhere()
            return
        self._last_wake = time.monotonic()
        self._kick()

    def hand_off(self, wake: Callable[[], None]) -> None:
        """Another process parses deliveries and dispatches events from now on.

        ``wake`` tells it work was queued; it calls :meth:`notify` when it made some here.
        """
        self._elsewhere = wake

    def take_back(self) -> None:
        """Parse and dispatch in this process again (the other one could not run)."""
        self._elsewhere = None
        self._kick()

    def notify(self) -> None:
        """The other process queued actions: run them now (any thread)."""
        self._kick()

    def _kick(self) -> None:
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    def yielding(self) -> bool:
        """Work is being queued right now and the events are not too far behind."""
        return (self._elsewhere is None and time.monotonic() - self._last_wake < BUSY_WINDOW
                and not self._lagging)

    async def _main(self) -> None:
        assert self._wake is not None
        while True:
            started = time.monotonic()
            try:
                busy = await self.tick()
            except Exception:
                log.exception("event worker step failed; retrying")
                busy = False
            if busy and self.yielding():  # a third of the time at most, however slow
                await asyncio.sleep(max(BUSY_PAUSE, 2 * (time.monotonic() - started)))
            elif not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()

    async def tick(self) -> bool:
        """One round: deliveries -> events -> actions. True when it found work."""
        busy = False
        if self._elsewhere is None:
            batch = BUSY_BATCH if self.yielding() else DELIVERY_BATCH
            busy = await self._deliveries(batch)
            busy |= bool(await asyncio.to_thread(self._dispatch, batch))
        if time.monotonic() - self._last_credential_check > CREDENTIAL_CHECK_SECONDS:
            self._last_credential_check = time.monotonic()
            await asyncio.to_thread(self.check_credentials)
        for action_id in await asyncio.to_thread(self._claim):
            task = asyncio.get_running_loop().create_task(self._run_action(action_id))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            busy = True
        return busy

    def _dispatch(self, limit: int = DELIVERY_BATCH) -> int:
        with self.session_factory() as session:
            return outbox.dispatch(session, limit=limit)

    def _claim(self) -> list[uuid.UUID]:
        with self.session_factory() as session:
            return outbox.claim_actions(session, self.agent_id)

    # ---- inbound deliveries ----------------------------------------------------------------

    async def _deliveries(self, limit: int = DELIVERY_BATCH) -> bool:
        """Parse a batch of stored deliveries (:class:`DeliveryParser`) in this process."""
        claimed = await asyncio.to_thread(self.parser.claim, limit)
        self._lagging = bool(claimed) and (
            utcnow() - min(d.received_at for d in claimed)).total_seconds() > MAX_LAG
        if not claimed:
            return False
        connectors = await asyncio.to_thread(self.parser.connectors, claimed)
        outcomes = await self.parser.parse_all(claimed, connectors)
        await asyncio.to_thread(self.parser.finish, outcomes)
        self._kick()
        return True

    # ---- credential expiry -------------------------------------------------------------------

    def check_credentials(self) -> int:
        """Emit ``credential.expiring`` once per credential, instance and expiry date."""
        now = utcnow()
        horizon = now + dt.timedelta(days=self.settings.credential_expiry_warning_days)
        emitted = 0
        with self.session_factory() as session:
            creds = session.scalars(select(AuthenticationConfig).where(
                AuthenticationConfig.expiration.is_not(None),
                AuthenticationConfig.expiration <= horizon))
            for cred in creds:
                assert cred.expiration is not None
                users: list[uuid.UUID | None] = list(session.scalars(
                    select(IntegrationInstance.id).where(
                        IntegrationInstance.auth_config_id == cred.id))) or [None]
                for instance_id in users:
                    emitted += emit(session, "credential.expiring", {
                        "credential_id": str(cred.id), "credential": cred.name,
                        "expires_at": cred.expiration.isoformat(),
                        "days_left": max((cred.expiration - now).days, 0),
                        "instance_id": str(instance_id) if instance_id else None,
                    }, dedupe_key=f"credential.expiring:{cred.id}:{instance_id}:"
                                  f"{cred.expiration.date().isoformat()}",
                        instance_id=instance_id)
            session.commit()
        return emitted

    # ---- actions -----------------------------------------------------------------------------

    async def _run_action(self, action_id: uuid.UUID) -> None:
        async with self._slots:
            try:
                await self.run_action(action_id)
            except Exception:
                log.exception("event action %s failed unexpectedly", action_id)

    async def run_action(self, action_id: uuid.UUID) -> None:
        loaded = await asyncio.to_thread(self._load_action, action_id)
        if loaded is None:
            return
        kind, config, doc, refs = loaded
        started = utcnow()
        if kind == "sync":
            await self._sync_action(action_id, config, doc, refs, started)
            return
        try:
            if kind == "webhook":
                code, result = await self._webhook(action_id, config, doc, refs["secrets"])
            elif kind == "notification":
                code, result = None, await self._notify(config, doc, refs)
            else:
                code, result = None, await self._write(config, doc, refs)
        except ActionFailed as exc:
            await asyncio.to_thread(self._settle, action_id, config, started, False,
                                    exc.status_code, str(exc), None, exc.permanent, refs)
            self._kick()
            return
        await asyncio.to_thread(self._settle, action_id, config, started, True, code, None,
                                result, False, refs)

    def _load_action(self, action_id: uuid.UUID
                     ) -> tuple[str, configs.Retry, dict[str, Any], dict[str, Any]] | None:
        with self.session_factory() as session:
            action = session.get(EventAction, action_id)
            if action is None:
                return None
            event = session.get(OutboxEvent, action.event_id)
            assert event is not None
            doc = outbox.envelope(event)
            refs: dict[str, Any] = {"describe": action.target}
            if action.schedule_id is not None:
                schedule = session.get(SyncSchedule, action.schedule_id)
                if schedule is None:
                    self._gone(session, action, "the schedule was deleted")
                    return None
                refs.update(instance_id=schedule.instance_id, schedule_id=schedule.id,
                            describe=f"event schedule {schedule.id}")
                return "sync", configs.SyncAction(max_attempts=3), doc, refs
            sub = (session.get(EventSubscription, action.subscription_id)
                   if action.subscription_id else None)
            if sub is None:
                self._gone(session, action, "the subscription was deleted")
                return None
            stored = sub.action_config or {}
            unbound = sorted(set(action_secrets.declared(stored))
                             - set(action_secrets.hints(stored)))
            if unbound:
                self._gone(session, action, f"{', '.join(unbound)} of the subscription is "
                           f"not set yet: send it with PUT /event-subscriptions/{sub.id}")
                return None
            try:
                config = configs.parse_action(
                    sub.action_type, action_secrets.opened(self.vault, sub.id, stored))
            except VaultError as exc:
                self._gone(session, action, f"the action's secrets cannot be opened: {exc}")
                return None
            except ValueError as exc:
                self._gone(session, action, f"invalid action_config: {exc}")
                return None
            refs.update(instance_id=sub.instance_id, subscription_id=sub.id,
                        describe=f"{sub.action_type.value} for {sub.event_type}")
            if sub.action_type.value == "webhook":
                refs["secrets"] = signing_secrets(session, self.vault, sub.id)
                session.commit()
            return sub.action_type.value, config, doc, refs

    def _gone(self, session: Session, action: EventAction, reason: str) -> None:
        outbox.settle(session, action, agent_id=self.agent_id, ok=False, started=utcnow(),
                      max_attempts=1, backoff_seconds=1, error=reason, permanent=True)

    def _settle(self, action_id: uuid.UUID, config: configs.Retry, started: dt.datetime,
                ok: bool, code: int | None, error: str | None, result: dict[str, Any] | None,
                permanent: bool, refs: dict[str, Any]) -> None:
        with self.session_factory() as session:
            action = session.get(EventAction, action_id)
            if action is None:
                return
            outbox.settle(session, action, agent_id=self.agent_id, ok=ok, started=started,
                          max_attempts=config.max_attempts,
                          backoff_seconds=config.backoff_seconds, status_code=code,
                          error=error, result=result, permanent=permanent,
                          instance_id=refs.get("instance_id"), describe=refs["describe"])

    async def _sync_action(self, action_id: uuid.UUID, config: configs.Retry,
                           doc: dict[str, Any], refs: dict[str, Any],
                           started: dt.datetime) -> None:
        execution_id = await asyncio.to_thread(self._start_sync, action_id, config, doc, refs,
                                               started)
        if execution_id is not None:
            self.manager.launch(execution_id)

    def _start_sync(self, action_id: uuid.UUID, config: configs.Retry, doc: dict[str, Any],
                    refs: dict[str, Any], started: dt.datetime) -> uuid.UUID | None:
        """Create the execution and settle the action in one transaction (exactly once)."""
        assert isinstance(config, configs.SyncAction)
        target = config.instance_id or refs["instance_id"]
        with self.session_factory() as session:
            action = session.get(EventAction, action_id, with_for_update=True)
            if action is None or action.status.value != "pending":
                return None
            instance = session.get(IntegrationInstance, target, with_for_update=True)
            settle = {"agent_id": self.agent_id, "started": started,
                      "max_attempts": config.max_attempts,
                      "backoff_seconds": config.backoff_seconds, "instance_id": target,
                      "describe": refs["describe"]}
            if instance is None or instance.status not in (InstanceStatus.ACTIVE,
                                                           InstanceStatus.ERROR):
                state = instance.status.value if instance else "deleted"
                outbox.settle(session, action, ok=False, permanent=True,
                              error=f"the instance to sync is {state}", **settle)
                return None
            options = {"event_id": doc["id"], "event_type": doc["type"],
                       "streams": config.streams, "full_refresh": config.full_refresh}
            try:
                execution = create_execution(session, instance, TriggerType.EVENT,
                                             schedule_id=refs.get("schedule_id"),
                                             options=options)
            except SyncAlreadyActive as exc:
                outbox.settle(session, action, ok=True, result={
                    "skipped": "a sync of the instance is already pending or running",
                    "execution_id": str(exc.execution_id)}, **settle)
                return None
            execution.agent_id, execution.lease_expires_at = self.agent_id, utcnow() + self.lease
            if refs.get("schedule_id"):
                schedule = session.get(SyncSchedule, refs["schedule_id"])
                if schedule is not None:
                    schedule.last_execution = utcnow()
            activity.record(session, "sync.request", f"sync started by event {doc['type']}",
                            instance_id=instance.id, sync_id=execution.id,
                            details={"event_id": doc["id"], "target": action.target})
            outbox.settle(session, action, ok=True,
                          result={"execution_id": str(execution.id)}, **settle)
            return execution.id

    async def _webhook(self, action_id: uuid.UUID, config: configs.Retry, doc: dict[str, Any],
                       secrets: list[str]) -> tuple[int, dict[str, Any]]:
        assert isinstance(config, configs.WebhookAction)
        body = json.dumps(doc, separators=(",", ":"), default=str).encode()
        headers = {"content-type": "application/json", "user-agent": "SimpleTrust-Agent",
                   **config.headers,
                   **sign_headers(secrets, f"msg_{action_id.hex}", int(time.time()), body)}
        transport = guarded_transport(AddressPolicy(allow_loopback=config.allow_loopback))
        try:
            async with httpx.AsyncClient(transport=transport, timeout=config.timeout_seconds,
                                         follow_redirects=False, trust_env=False) as client:
                response = await client.post(config.url, content=body, headers=headers)
        except (httpx.HTTPError, ConnectorError, OSError) as exc:
            raise ActionFailed(f"could not reach the receiver: {type(exc).__name__}") from None
        if 200 <= response.status_code < 300:
            return response.status_code, {"status_code": response.status_code}
        # 4xx other than timeouts and throttling will not get better by retrying, but a
        # receiver being deployed often answers 404 for a while: retry everything.
        raise ActionFailed(f"the receiver answered {response.status_code}",
                           status_code=response.status_code)

    async def _notify(self, config: configs.Retry, doc: dict[str, Any], refs: dict[str, Any]
                      ) -> dict[str, Any]:
        assert isinstance(config, configs.NotifyAction)
        message = str(render(config.message, doc))
        sent: list[str] = ["log"]
        await asyncio.to_thread(self._log_notice, message, doc, refs)
        if config.email is not None:
            try:
                await asyncio.to_thread(send_email, self.settings, config.email.to,
                                        str(render(config.email.subject, doc)),
                                        f"{message}\n\n{json.dumps(doc, indent=2, default=str)}")
            except NotifyError as exc:
                raise ActionFailed(str(exc)) from None
            sent.append("email")
        if config.slack_url:
            transport = guarded_transport(AddressPolicy(allow_loopback=config.allow_loopback))
            try:
                async with httpx.AsyncClient(transport=transport, timeout=10,
                                             trust_env=False) as client:
                    response = await client.post(config.slack_url, json={"text": message})
            # Broad on purpose: the URL is a secret, so no error text of the client may leave.
            except (httpx.HTTPError, httpx.InvalidURL, ConnectorError, OSError,
                    ValueError) as exc:
                raise ActionFailed(f"Slack webhook unreachable: {type(exc).__name__}") from None
            if response.status_code >= 300:
                raise ActionFailed(f"Slack webhook answered {response.status_code}",
                                   status_code=response.status_code)
            sent.append("slack")
        return {"channels": sent}

    def _log_notice(self, message: str, doc: dict[str, Any], refs: dict[str, Any]) -> None:
        with self.session_factory() as session:
            activity.record(session, "event.notify", message[:2000],
                            instance_id=refs.get("instance_id"),
                            details={"event_id": doc["id"], "event_type": doc["type"]})
            session.commit()

    async def _write(self, config: configs.Retry, doc: dict[str, Any], refs: dict[str, Any]
                     ) -> dict[str, Any]:
        assert isinstance(config, configs.WriteAction)
        target = config.instance_id or refs["instance_id"]
        connector = await asyncio.to_thread(self._connector_for, target)
        try:
            result = await connector.write(config.action, render(config.payload, doc))
        except ConnectorError as exc:
            transient = getattr(exc, "category", None) in ("transient", "rate_limited")
            raise ActionFailed(f"{config.action}: {exc}", permanent=not transient) from None
        finally:
            await connector.aclose()
        return {"action": result.action, "output": result.output}

    def _connector_for(self, instance_id: uuid.UUID) -> Any:
        with self.session_factory() as session:
            instance = session.get(IntegrationInstance, instance_id)
            if instance is None:
                raise ActionFailed("the instance was deleted", permanent=True)
            try:
                connector = build_connector(session, self.registry, self.vault, instance)
            except ConnectorError as exc:
                raise ActionFailed(f"the connector cannot be built: {exc}",
                                   permanent=True) from None
            session.commit()
            return connector
