"""Filling and tampering with the audit tables directly, as an attacker with database access
would."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import Engine, insert, text
from typer.testing import CliRunner, Result

from server.audit import PublicKey, exporting, verify_database
from server.audit.canonical import entry_hash, entry_payload, format_time
from server.audit.verify import VerifyResult
from server.db.engine import make_session_factory
from server.db.models import AuditEntry
from server.services import activity


def populate(engine: Engine, count: int, *, start: int = 0) -> None:
    """``count`` audited changes, one transaction each (as the API makes them)."""
    factory = make_session_factory(engine)
    for i in range(start, start + count):
        with factory() as session:
            activity.record(session, "test.change", f"change {i}",
                            details={"test_id": str(uuid.uuid4()), "n": i})
            session.commit()


def sql(engine: Engine, *statements: str, **params: object) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def forged_row(engine: Engine, seq: int, prev_seq: int, actor: str) -> dict[str, object]:
    """A well-formed entry at ``seq`` chained to entry ``prev_seq`` (a careful forger)."""
    with make_session_factory(engine)() as session:
        prev = session.get(AuditEntry, prev_seq)
        assert prev is not None
        prev_hash, when = prev.entry_hash, prev.recorded_at
    row: dict[str, object] = {
        "seq": seq, "actor": actor, "action": "instance.update", "object_type": "instance",
        "object_id": "forged", "before_hash": None, "after_hash": None, "details": "{}",
        "prev_hash": prev_hash, "recorded_at": when}
    row["entry_hash"] = entry_hash(entry_payload(
        seq=seq, time=format_time(when), actor=actor, action="instance.update",
        object_type="instance", object_id="forged", before_hash=None, after_hash=None,
        details="{}", prev_hash=prev_hash))
    return row


def insert_row(engine: Engine, row: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry.__table__), [row])


def shift_from(engine: Engine, seq: int, by: int) -> None:
    """Renumber entries from ``seq`` on (in two steps, so the primary key never collides)."""
    sql(engine, "UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= :s",
        "UPDATE audit_entries SET seq = seq - 1000000 + :by WHERE seq >= 1000000", s=seq, by=by)


def verify_db(engine: Engine, keys: list[PublicKey]) -> VerifyResult:
    with make_session_factory(engine)() as session:
        return verify_database(session, keys)


def export_text(engine: Engine, fmt: str = "jsonl", **window: object) -> str:
    with make_session_factory(engine)() as session:
        data = exporting.collect(session, **window)  # type: ignore[arg-type]
    return "".join(exporting.render(data, fmt))


def verify_file(text_: str, keys: list[PublicKey]) -> VerifyResult:
    return exporting.verify_export(exporting.parse(text_), keys)


def run_cli(app: object, args: list[str], env: dict[str, str]) -> Result:
    """Run a typer sub-app in-process with the given SIMPLETRUST_* settings."""
    from server.config import get_settings  # noqa: PLC0415

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, args, env=env)  # type: ignore[arg-type]
    finally:
        get_settings.cache_clear()


def cli_env(db_url: str, data_dir: Path) -> dict[str, str]:
    return {"SIMPLETRUST_DATABASE_URL": db_url, "SIMPLETRUST_DATA_DIR": str(data_dir)}
