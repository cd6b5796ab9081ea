"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 16:16:24.899698
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.types
from server.db.models.records import INSTANCE_REFERENCE, INSTANCE_REFERENCE_DROP

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("started_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "running",
                "stopped",
                name="agent_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("stopped_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("running_syncs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seq", "key_id", name=op.f("uq_audit_checkpoints_seq_key_id")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_seq"), ["seq"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=True),
        sa.Column("before_hash", sa.String(length=64), nullable=True),
        sa.Column("after_hash", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_audit_entries_entry_hash")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_action"), ["action"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_entries_object_type"), ["object_type", "object_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_entries_recorded_at"), ["recorded_at"], unique=False
        )

    op.create_table(
        "integration_connectors",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column(
            "system_type",
            sa.Enum(
                "ITSM",
                "Cloud",
                "Security",
                "Directory",
                "SIEM",
                "DevOps",
                "File",
                "Generic",
                name="system_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("vendor", sa.String(length=200), nullable=True),
        sa.Column(
            "capabilities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "schema_definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "config_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "auth_methods",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_built_in", sa.Boolean(), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(
                "built_in",
                "plugin",
                "declarative",
                name="connector_origin",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "declarative_spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("documentation_url", sa.String(length=2000), nullable=True),
        sa.Column("icon_url", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_connectors")),
        sa.UniqueConstraint("key", name=op.f("uq_integration_connectors_key")),
    )
    op.create_table(
        "principals",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "user",
                "service",
                name="principal_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "operator",
                "auditor",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
    )
    op.create_table(
        "record_provenance",
        sa.Column(
            "provenance",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_provenance")),
    )
    op.create_table(
        "sync_seen_keys",
        sa.Column("sync_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("sync_id", "record_id", name=op.f("pk_sync_seen_keys")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_api_tokens_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_tokens_principal_id"), ["principal_id"], unique=False
        )

    op.create_table(
        "authentication_configs",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "auth_type",
            sa.Enum(
                "api_key",
                "basic",
                "bearer",
                "oauth2_client_credentials",
                "oauth2_authorization_code",
                "jwt_bearer",
                "certificate",
                "aws",
                "ldap_bind",
                name="auth_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "credentials",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "oauth_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("expiration", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_used", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("is_system_account", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_authentication_configs_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authentication_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_authentication_configs_name")),
    )
    op.create_table(
        "config_revisions",
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["principals.id"],
            name=op.f("fk_config_revisions_author_id_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_revisions")),
        sa.UniqueConstraint(
            "object_type",
            "object_id",
            "revision",
            name=op.f("uq_config_revisions_object_type_object_id_revision"),
        ),
    )
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_config_revisions_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "integration_instances",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "configuring",
                "active",
                "inactive",
                "error",
                name="instance_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("webhook_key", sa.String(length=64), nullable=True),
        sa.Column("connection_url", sa.String(length=2000), nullable=True),
        sa.Column("auth_config_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_connected", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("version_compatibility", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["auth_config_id"],
            ["authentication_configs.id"],
            name=op.f("fk_integration_instances_auth_config_id_authentication_configs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["integration_connectors.id"],
            name=op.f("fk_integration_instances_connector_id_integration_connectors"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_integration_instances_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_instances")),
        sa.UniqueConstraint("name", name=op.f("uq_integration_instances_name")),
        sa.UniqueConstraint("webhook_key", name=op.f("uq_integration_instances_webhook_key")),
    )
    with op.batch_alter_table("integration_instances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_instances_auth_config_id"), ["auth_config_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_integration_instances_connector_id"), ["connector_id"], unique=False
        )

    op.create_table(
        "oauth_sign_ins",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("auth_config_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column(
            "sealed",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["auth_config_id"],
            ["authentication_configs.id"],
            name=op.f("fk_oauth_sign_ins_auth_config_id_authentication_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_oauth_sign_ins_principal_id_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_sign_ins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_sign_ins_state_hash")),
    )
    with op.batch_alter_table("oauth_sign_ins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_sign_ins_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "action_invocations",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_action_invocations_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_action_invocations_principal_id_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_invocations")),
        sa.UniqueConstraint(
            "instance_id",
            "idempotency_key",
            name=op.f("uq_action_invocations_instance_id_idempotency_key"),
        ),
    )
    op.create_table(
        "alerts",
        sa.Column("active_key", sa.String(length=300), nullable=True),
        sa.Column("fingerprint", sa.String(length=300), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "consecutive_failures",
                "instance_error",
                "sync_hung",
                "instance_stale",
                "credential_expiring",
                "throttling_spike",
                "version_incompatible",
                name="alert_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "warning",
                "critical",
                name="alert_severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "acknowledged",
                "resolved",
                name="alert_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seen_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["principals.id"],
            name=op.f("fk_alerts_acknowledged_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_alerts_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("active_key", name=op.f("uq_alerts_active_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_fingerprint"), ["fingerprint"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alerts_status"), ["status", "last_seen_at"], unique=False
        )

    op.create_table(
        "circuit_breakers",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "closed",
                "open",
                name="breaker_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("opened_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("retry_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_circuit_breakers_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_circuit_breakers")),
    )
    op.create_table(
        "connector_metrics",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("period_end", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("availability_percentage", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("average_response_time", sa.Integer(), nullable=False),
        sa.Column("error_rate", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("total_operations", sa.Integer(), nullable=False),
        sa.Column("data_transferred", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("throttling_events", sa.Integer(), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("response_time_p50", sa.Integer(), nullable=False),
        sa.Column("response_time_p95", sa.Integer(), nullable=False),
        sa.Column("records_processed", sa.Integer(), nullable=False),
        sa.Column("syncs", sa.Integer(), nullable=False),
        sa.Column("failed_syncs", sa.Integer(), nullable=False),
        sa.Column("average_sync_duration", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_connector_metrics_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_metrics")),
        sa.UniqueConstraint(
            "instance_id",
            "period_start",
            "period_end",
            name=op.f("uq_connector_metrics_instance_id_period_start_period_end"),
        ),
    )
    with op.batch_alter_table("connector_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connector_metrics_period_start"), ["period_start"], unique=False
        )

    op.create_table(
        "data_mappings",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "source_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "target_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "field_mappings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "transformations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_data_mappings_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_data_mappings_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_mappings")),
        sa.UniqueConstraint("instance_id", "name", name=op.f("uq_data_mappings_instance_id_name")),
    )
    with op.batch_alter_table("data_mappings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_mappings_instance_id"), ["instance_id"], unique=False
        )

    op.create_table(
        "event_outbox",
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "dispatched",
                name="outbox_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_event_outbox_instance_id_integration_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_event_outbox_dedupe_key")),
    )
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_outbox_event_type"), ["event_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_event_outbox_status"), ["status", "created_at"], unique=False
        )

    op.create_table(
        "event_subscriptions",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column(
            "filter_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "action_type",
            sa.Enum(
                "notification",
                "sync",
                "webhook",
                "write_action",
                name="action_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "action_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_event_subscriptions_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_event_subscriptions_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_subscriptions")),
    )
    with op.batch_alter_table("event_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_subscriptions_event_type"), ["event_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_event_subscriptions_instance_id"), ["instance_id"], unique=False
        )

    op.create_table(
        "evidence_records",
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_change", sa.String(length=16), nullable=False),
        sa.Column(
            "changed_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("last_sync_id", sa.Uuid(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("provenance_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_records")),
        sa.UniqueConstraint(
            "external_id",
            "instance_id",
            "entity_type",
            name=op.f("uq_evidence_records_external_id_instance_id_entity_type"),
        ),
    )
    with op.batch_alter_table("evidence_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_records_entity_type"),
            ["entity_type", "updated_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_evidence_records_instance_id"),
            ["instance_id", "entity_type", "is_deleted"],
            unique=False,
        )
    # instance_id refers to integration_instances through triggers, not a foreign key (see
    # server.db.models.records.INSTANCE_REFERENCE): one check per statement on PostgreSQL.
    for statement in INSTANCE_REFERENCE[op.get_context().dialect.name]:
        op.execute(statement)

    op.create_table(
        "stream_states",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sync_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_stream_states_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "stream", name=op.f("pk_stream_states")),
    )
    op.create_table(
        "sync_schedules",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column(
            "schedule_type",
            sa.Enum(
                "interval",
                "cron",
                "event",
                name="schedule_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("interval_minutes", sa.Integer(), nullable=True),
        sa.Column("cron_expression", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("event_trigger", sa.String(length=200), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("last_execution", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_execution", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_sync_schedules_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_schedules")),
    )
    with op.batch_alter_table("sync_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_schedules_instance_id"), ["instance_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sync_schedules_next_execution"), ["next_execution"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column(
            "scheme",
            sa.Enum(
                "connector",
                "standard_webhooks",
                "shared_secret",
                name="webhook_scheme",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("received_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "processed",
                "failed",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_webhook_deliveries_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "instance_id", "delivery_id", name=op.f("uq_webhook_deliveries_instance_id_delivery_id")
        ),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_status"), ["status", "received_at"], unique=False
        )

    op.create_table(
        "webhook_endpoints",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column(
            "scheme",
            sa.Enum(
                "connector",
                "standard_webhooks",
                "shared_secret",
                name="webhook_scheme",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "secrets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("header_name", sa.String(length=100), nullable=True),
        sa.Column("tolerance_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_webhook_endpoints_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "data_mapping_versions",
        sa.Column("mapping_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_data_mapping_versions_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mapping_id"],
            ["data_mappings.id"],
            name=op.f("fk_data_mapping_versions_mapping_id_data_mappings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_mapping_versions")),
        sa.UniqueConstraint(
            "mapping_id", "version", name=op.f("uq_data_mapping_versions_mapping_id_version")
        ),
    )
    op.create_table(
        "event_actions",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("action_type", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "succeeded",
                "failed",
                name="event_action_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event_outbox.id"],
            name=op.f("fk_event_actions_event_id_event_outbox"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["sync_schedules.id"],
            name=op.f("fk_event_actions_schedule_id_sync_schedules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
            name=op.f("fk_event_actions_subscription_id_event_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_actions")),
        sa.UniqueConstraint("event_id", "target", name=op.f("uq_event_actions_event_id_target")),
    )
    with op.batch_alter_table("event_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_actions_status"), ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_event_actions_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "evidence_record_versions",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column(
            "changed_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("sync_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("provenance_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["evidence_records.id"],
            name=op.f("fk_evidence_record_versions_record_id_evidence_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_record_versions")),
        sa.UniqueConstraint(
            "record_id", "version", name=op.f("uq_evidence_record_versions_record_id_version")
        ),
    )
    with op.batch_alter_table("evidence_record_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_record_versions_sync_id"), ["sync_id"], unique=False
        )

    op.create_table(
        "subscription_secrets",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column(
            "secrets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rotated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("previous_until", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
            name=op.f("fk_subscription_secrets_subscription_id_event_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription_secrets")),
    )
    op.create_table(
        "sync_executions",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column(
            "trigger_type",
            sa.Enum(
                "scheduled",
                "manual",
                "event",
                name="trigger_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "completed",
                "failed",
                "cancelled",
                name="sync_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("start_time", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end_time", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("records_processed", sa.Integer(), nullable=True),
        sa.Column("success_count", sa.Integer(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=True),
        sa.Column(
            "error_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("initiated_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "stats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "mapping_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["initiated_by"],
            ["principals.id"],
            name=op.f("fk_sync_executions_initiated_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_sync_executions_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["sync_schedules.id"],
            name=op.f("fk_sync_executions_schedule_id_sync_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_executions")),
    )
    with op.batch_alter_table("sync_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_executions_instance_id"),
            ["instance_id", "start_time"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_sync_executions_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_sync_executions_one_running",
            ["instance_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "dead_letters",
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column("sync_id", sa.Uuid(), nullable=True),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_dead_letters_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"],
            ["sync_executions.id"],
            name=op.f("fk_dead_letters_sync_id_sync_executions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dead_letters_instance_id"), ["instance_id", "created_at"], unique=False
        )

    op.create_table(
        "event_action_attempts",
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["event_actions.id"],
            name=op.f("fk_event_action_attempts_action_id_event_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_action_attempts")),
    )
    with op.batch_alter_table("event_action_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_action_attempts_action_id"), ["action_id"], unique=False
        )

    op.create_table(
        "integration_logs",
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column(
            "log_type",
            sa.Enum(
                "info",
                "warning",
                "error",
                "success",
                name="log_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("timestamp", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("sync_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_integration_logs_instance_id_integration_instances"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"],
            ["sync_executions.id"],
            name=op.f("fk_integration_logs_sync_id_sync_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["principals.id"],
            name=op.f("fk_integration_logs_user_id_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_logs")),
    )
    with op.batch_alter_table("integration_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_logs_instance_id"),
            ["instance_id", "timestamp"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_integration_logs_operation"), ["operation"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_integration_logs_sync_id"), ["sync_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_integration_logs_timestamp"), ["timestamp"], unique=False
        )

    op.create_table(
        "metric_samples",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("sync_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "request",
                "sync",
                name="sample_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("recorded_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("unavailable", sa.Boolean(), nullable=False),
        sa.Column("throttled", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("bytes_sent", sa.Integer(), nullable=False),
        sa.Column("bytes_received", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("error_category", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_metric_samples_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"],
            ["sync_executions.id"],
            name=op.f("fk_metric_samples_sync_id_sync_executions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_samples")),
    )
    with op.batch_alter_table("metric_samples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metric_samples_instance_id"),
            ["instance_id", "recorded_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_metric_samples_recorded_at"), ["recorded_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_metric_samples_sync_id"), ["sync_id"], unique=False)

    op.create_table(
        "schedule_slots",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("slot_time", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("claimed_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "started",
                "skipped_active",
                "skipped_inactive",
                name="slot_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("execution_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["sync_executions.id"],
            name=op.f("fk_schedule_slots_execution_id_sync_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["sync_schedules.id"],
            name=op.f("fk_schedule_slots_schedule_id_sync_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_slots")),
        sa.UniqueConstraint(
            "schedule_id", "slot_time", name=op.f("uq_schedule_slots_schedule_id_slot_time")
        ),
    )
    with op.batch_alter_table("schedule_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedule_slots_execution_id"), ["execution_id"], unique=False
        )

    op.create_table(
        "tasks",
        sa.Column("active_key", sa.String(length=300), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "resolved",
                name="task_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column("sync_id", sa.Uuid(), nullable=True),
        sa.Column("error_category", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_at", server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("external_instance_id", sa.Uuid(), nullable=True),
        sa.Column(
            "external_ref",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["external_instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_tasks_external_instance_id_integration_instances"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_tasks_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"],
            ["sync_executions.id"],
            name=op.f("fk_tasks_sync_id_sync_executions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("active_key", name=op.f("uq_tasks_active_key")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_status"))
        batch_op.drop_index(batch_op.f("ix_tasks_instance_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("schedule_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_slots_execution_id"))

    op.drop_table("schedule_slots")
    with op.batch_alter_table("metric_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_samples_sync_id"))
        batch_op.drop_index(batch_op.f("ix_metric_samples_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_metric_samples_instance_id"))

    op.drop_table("metric_samples")
    with op.batch_alter_table("integration_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_logs_timestamp"))
        batch_op.drop_index(batch_op.f("ix_integration_logs_sync_id"))
        batch_op.drop_index(batch_op.f("ix_integration_logs_operation"))
        batch_op.drop_index(batch_op.f("ix_integration_logs_instance_id"))

    op.drop_table("integration_logs")
    with op.batch_alter_table("event_action_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_action_attempts_action_id"))

    op.drop_table("event_action_attempts")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_instance_id"))

    op.drop_table("dead_letters")
    with op.batch_alter_table("sync_executions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_sync_executions_one_running",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index(batch_op.f("ix_sync_executions_status"))
        batch_op.drop_index(batch_op.f("ix_sync_executions_instance_id"))

    op.drop_table("sync_executions")
    op.drop_table("subscription_secrets")
    with op.batch_alter_table("evidence_record_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_record_versions_sync_id"))

    op.drop_table("evidence_record_versions")
    with op.batch_alter_table("event_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_actions_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_event_actions_status"))

    op.drop_table("event_actions")
    op.drop_table("data_mapping_versions")
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_status"))

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("sync_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_schedules_next_execution"))
        batch_op.drop_index(batch_op.f("ix_sync_schedules_instance_id"))

    op.drop_table("sync_schedules")
    op.drop_table("stream_states")
    for statement in INSTANCE_REFERENCE_DROP[op.get_context().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("evidence_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_records_instance_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_records_entity_type"))

    op.drop_table("evidence_records")
    with op.batch_alter_table("event_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_subscriptions_instance_id"))
        batch_op.drop_index(batch_op.f("ix_event_subscriptions_event_type"))

    op.drop_table("event_subscriptions")
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_event_outbox_event_type"))

    op.drop_table("event_outbox")
    with op.batch_alter_table("data_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_mappings_instance_id"))

    op.drop_table("data_mappings")
    with op.batch_alter_table("connector_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_metrics_period_start"))

    op.drop_table("connector_metrics")
    op.drop_table("circuit_breakers")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_status"))
        batch_op.drop_index(batch_op.f("ix_alerts_instance_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_fingerprint"))

    op.drop_table("alerts")
    op.drop_table("action_invocations")
    with op.batch_alter_table("oauth_sign_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_sign_ins_expires_at"))

    op.drop_table("oauth_sign_ins")
    with op.batch_alter_table("integration_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_instances_connector_id"))
        batch_op.drop_index(batch_op.f("ix_integration_instances_auth_config_id"))

    op.drop_table("integration_instances")
    with op.batch_alter_table("config_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_revisions_created_at"))

    op.drop_table("config_revisions")
    op.drop_table("authentication_configs")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_principal_id"))

    op.drop_table("api_tokens")
    op.drop_table("sync_seen_keys")
    op.drop_table("record_provenance")
    op.drop_table("principals")
    op.drop_table("integration_connectors")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_object_type"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_action"))

    op.drop_table("audit_entries")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_seq"))

    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
    op.drop_table("agents")
