"""Secret fields of a connector's configuration are sealed at rest and never returned."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from server.db.engine import make_session_factory
from server.db.models import ConfigRevision, IntegrationInstance, WebhookEndpoint, WebhookScheme
from server.events.signing import signing_secrets
from server.revisions.service import RollbackRefused, list_revisions, rollback
from server.services.registry import Registry
from server.sync.runtime import build_connector
from server.vault import MasterKey, Vault, rotate_master_key
from server.vault.rotation import snapshot_envelope
from server.webhooks.endpoints import open_secrets, seal_secrets
from tests.support.api import Api

HEC = "hec-" + uuid.uuid4().hex


def test_config_secrets_are_sealed_masked_kept_and_rotated(api: Api, tmp_path: object) -> None:
    created = api.create_instance("SIEM", "splunk", {
        "base_url": "http://127.0.0.1:9", "hec_url": "http://127.0.0.1:9",
        "hec_token": HEC}, activate=False)
    assert created["secret_fields"] == ["hec_token"]
    assert "hec_token" not in created["configuration"]
    assert HEC not in api.get(f"/instances/{created['id']}").text
    with api.engine.connect() as conn:
        assert HEC not in str(conn.execute(text("select configuration from "
                                                "integration_instances")).all())

    # An update that leaves the secret out keeps it; the connector still gets it.
    updated = api.put(f"/instances/{created['id']}", {"configuration": {
        "base_url": "http://127.0.0.1:10", "hec_url": "http://127.0.0.1:10"}}).json()
    assert updated["secret_fields"] == ["hec_token"]
    app = api.client.app  # type: ignore[attr-defined]
    vault: Vault = app.state.vault
    registry: Registry = app.state.registry
    factory = make_session_factory(api.engine)
    with factory() as session:
        instance = session.get(IntegrationInstance, uuid.UUID(created["id"]))
        assert instance is not None
        connector = build_connector(session, registry, vault, instance)
        assert connector.config.hec_token.get_secret_value() == HEC  # type: ignore[attr-defined]
        assert connector.config.base_url == "http://127.0.0.1:10"  # type: ignore[attr-defined]

    # Rotating the master key re-wraps instance secrets and webhook / subscription secrets.
    instance_id = uuid.UUID(created["id"])
    with factory() as session:
        session.add(WebhookEndpoint(instance_id=instance_id, scheme=WebhookScheme.SHARED_SECRET,
                                    secrets=seal_secrets(vault, instance_id, [HEC + "w"])))
        session.commit()
    sub = api.post("/event-subscriptions", {
        "instance_id": created["id"], "event_type": "sync.failed", "action_type": "webhook",
        "action_config": {"url": "http://127.0.0.1:9/hook", "allow_loopback": True}}).json()
    with factory() as session:
        signing = signing_secrets(session, vault, uuid.UUID(sub["id"]))
        session.commit()
    new_key = MasterKey.generate()
    rotate_master_key(factory, vault, new_key)
    rotated = Vault.from_key(new_key)
    with factory() as session:
        instance = session.get(IntegrationInstance, instance_id)
        assert instance is not None
        connector = build_connector(session, registry, rotated, instance)
        assert connector.config.hec_token.get_secret_value() == HEC  # type: ignore[attr-defined]
        endpoint = session.get(WebhookEndpoint, instance_id)
        assert endpoint is not None
        assert open_secrets(rotated, endpoint) == [HEC + "w"]
        assert signing_secrets(session, rotated, uuid.UUID(sub["id"])) == signing

    # Revisions keep the sealed secrets too: the rotation re-wrapped them without making a
    # revision of its own, so rolling back after it restores a secret the new key opens.
    with factory() as session:
        revisions = list_revisions(session, "instance", instance_id)
    assert [r.revision for r in revisions] == [1, 2]
    first = next(r for r in revisions if r.revision == 1)
    assert snapshot_envelope("instance", first.snapshot)["kid"] == new_key.kid  # type: ignore[index]
    with factory() as session:
        assert rollback(session, rotated, "instance", instance_id, 1, None) == [
            "configuration"]
        session.commit()
    with factory() as session:
        instance = session.get(IntegrationInstance, instance_id)
        assert instance is not None
        connector = build_connector(session, registry, rotated, instance)
        assert connector.config.hec_token.get_secret_value() == HEC  # type: ignore[attr-defined]
        assert connector.config.base_url == "http://127.0.0.1:9"  # type: ignore[attr-defined]

    # A snapshot sealed by a key the agent no longer has cannot be restored: a clear refusal.
    with factory() as session:
        rev = session.scalars(select(ConfigRevision).where(
            ConfigRevision.object_id == instance_id, ConfigRevision.revision == 2)).one()
        gone = Vault.from_key(MasterKey.generate())
        sealed = gone.seal(str(instance_id), {"hec_token": HEC})
        snap = dict(rev.snapshot)
        snap["configuration"] = {**snap["configuration"],
                                 "__sealed__": {**snap["configuration"]["__sealed__"],
                                                "envelope": sealed}}
        rev.snapshot = snap
        session.commit()
    with factory() as session, pytest.raises(RollbackRefused, match="no longer has") as info:
        rollback(session, rotated, "instance", instance_id, 2, None)
    assert HEC not in str(info.value)
    assert rotate_master_key(factory, rotated, MasterKey.generate()).stale_snapshots == 1
