"""Orchestrating the demo: start the peers, then create (or re-point) the demo instances
through the agent's own API, with a one-minute schedule and a first sync now."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from server.api.app import API_PREFIX
from server.db.models import Principal, PrincipalKind, Role
from server.db.types import utcnow
from server.demo import peers
from server.security.tokens import issue_token

log = logging.getLogger(__name__)


@dataclass
class Demo:
    peers: list[peers.Peer] = field(default_factory=list)
    instances: dict[str, str] = field(default_factory=dict)  # name -> id

    def stop(self) -> None:
        for peer in self.peers:
            try:
                peer.stop()
            except Exception:  # noqa: BLE001 - stopping a demo peer must not block shutdown
                log.warning("demo: %s did not stop cleanly", peer.name)


def _token(app: FastAPI) -> str:
    with app.state.session_factory() as session:
        demo = session.scalar(select(Principal).where(Principal.name == "demo-sandbox"))
        if demo is not None:  # the previous run's token is of no use any more
            for old in demo.tokens:
                old.revoked_at = old.revoked_at or utcnow()
        else:
            demo = Principal(id=uuid.uuid4(), name="demo-sandbox", role=Role.ADMIN,
                             kind=PrincipalKind.SERVICE)
            session.add(demo)
        issued = issue_token(session, demo, "demo sandbox (this run)")
        session.commit()
        return issued.token


async def _ensure(client: httpx.AsyncClient, peer: peers.Peer) -> str:
    connectors = (await client.get("/connectors", params={"limit": 500})).json()["items"]
    connector_id = next(c["id"] for c in connectors if c["key"] == peer.connector)
    auth_id = None
    if peer.credential is not None:
        name = f"{peer.name} credential"
        found = (await client.get("/auth-configs", params={"q": name})).json()["items"]
        body = {"name": name, **peer.credential}
        if found:
            auth_id = found[0]["id"]
            await client.put(f"/auth-configs/{auth_id}", json={
                "credentials": peer.credential["credentials"]})
        else:
            auth_id = (await client.post("/auth-configs", json=body)).json()["id"]
    found = (await client.get("/instances", params={"q": peer.name})).json()["items"]
    options = {"allow_loopback": True}
    if found:
        instance = found[0]
        await client.put(f"/instances/{instance['id']}", json={
            "configuration": peer.configuration, "options": options, "auth_config_id": auth_id})
    else:
        resp = await client.post("/instances", json={
            "name": peer.name, "connector_id": connector_id, "options": options,
            "configuration": peer.configuration, "auth_config_id": auth_id})
        resp.raise_for_status()
        instance = resp.json()
        await client.post("/schedules", json={"instance_id": instance["id"],
                                              "schedule_type": "interval",
                                              "interval_minutes": 1})
        for mapping in peer.mappings:
            await client.post("/mappings", json={"instance_id": instance["id"], **mapping})
    resp = await client.post(f"/instances/{instance['id']}/activate")
    if resp.status_code != 200:
        log.warning("demo: %s could not be activated: %s", peer.name, resp.text)
        return str(instance["id"])
    await client.post(f"/instances/{instance['id']}/sync")
    return str(instance["id"])


async def start_demo(app: FastAPI) -> Demo:
    """Start the peers and set up the demo instances; failures are logged, never fatal."""
    settings = app.state.settings
    demo = Demo()
    starters: list[Any] = [peers.simulators, peers.aws,
                           lambda: peers.directory(settings.data_dir / "demo-ldap"),
                           lambda: peers.csv_folder(settings.data_dir / "demo-files")]
    for starter in starters:
        try:
            started = await asyncio.to_thread(starter)
        except Exception as exc:  # noqa: BLE001 - a demo peer that fails is only skipped
            log.warning("demo: a peer could not start: %s", exc)
            continue
        if started is None:
            continue
        demo.peers.extend(started if isinstance(started, list) else [started])
    headers = {"Authorization": f"Bearer {await asyncio.to_thread(_token, app)}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://demo{API_PREFIX}",
                                 headers=headers, timeout=60) as client:
        for peer in demo.peers:
            try:
                demo.instances[peer.name] = await _ensure(client, peer)
            except Exception as exc:  # noqa: BLE001 - one broken demo instance is only logged
                log.warning("demo: %s could not be set up: %s", peer.name, exc)
    log.info("demo: %d instances running against local simulators", len(demo.instances))
    return demo
