"""Tampering with the audit table directly in the database is found, and named, on both
databases; an exported file verified with only the public key gives the same answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from server.audit import SigningKey, write_checkpoint
from server.cli import audit as audit_cli
from server.db.engine import make_session_factory
from tests.audit.helpers import (
    cli_env,
    export_text,
    forged_row,
    insert_row,
    populate,
    run_cli,
    shift_from,
    sql,
    verify_db,
    verify_file,
)

Tamper = Callable[[Engine], None]


def _modify(engine: Engine) -> None:
    sql(engine, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 5")


def _modify_details(engine: Engine) -> None:
    sql(engine, "UPDATE audit_entries SET details = :d WHERE seq = 5", d='{"n":99}')


def _delete(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_entries WHERE seq = 5")


def _delete_and_renumber(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_entries WHERE seq = 5")
    shift_from(engine, 6, -1)


def _reorder(engine: Engine) -> None:
    sql(engine, "UPDATE audit_entries SET seq = -1 WHERE seq = 5",
        "UPDATE audit_entries SET seq = 5 WHERE seq = 6",
        "UPDATE audit_entries SET seq = 6 WHERE seq = -1")


def _insert_forged(engine: Engine) -> None:
    row = forged_row(engine, 5, 4, "mallory")
    shift_from(engine, 5, 1)
    insert_row(engine, row)


def _insert_garbage(engine: Engine) -> None:
    row = forged_row(engine, 5, 4, "mallory")
    row["entry_hash"] = "f" * 64
    shift_from(engine, 5, 1)
    insert_row(engine, row)


def _append_after_head(engine: Engine) -> None:
    insert_row(engine, forged_row(engine, 11, 10, "mallory"))


def _truncate(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_entries WHERE seq > 7")


CASES: dict[str, tuple[Tamper, int, str]] = {
    "modify": (_modify, 5, "modified"),
    "modify-details": (_modify_details, 5, "modified"),
    "delete": (_delete, 5, "deleted"),
    "delete-renumber": (_delete_and_renumber, 5, "deleted"),
    "reorder": (_reorder, 5, "reordered"),
    "insert": (_insert_forged, 5, "inserted"),
    "insert-garbage": (_insert_garbage, 5, "inserted"),
    "append": (_append_after_head, 11, "inserted"),
    "truncate": (_truncate, 8, "truncated"),
}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def test_untouched_chain_verifies_online_and_offline(engine: Engine, key: SigningKey) -> None:
    populate(engine, 10)
    with make_session_factory(engine)() as session:
        assert write_checkpoint(session, key) is not None
    online = verify_db(engine, [key.public])
    assert online.ok, online.summary()
    assert (online.entries_checked, online.checkpoints_verified) == (10, 1)
    for fmt in ("jsonl", "csv"):
        offline = verify_file(export_text(engine, fmt), [key.public])
        assert offline.summary() == online.summary()


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_names_the_first_affected_entry(
    engine: Engine, key: SigningKey, case: str
) -> None:
    tamper, seq, kind = CASES[case]
    populate(engine, 10)
    with make_session_factory(engine)() as session:
        write_checkpoint(session, key)  # signs #10
    tamper(engine)
    online = verify_db(engine, [key.public])
    assert not online.ok
    assert online.problem is not None
    assert (online.problem.seq, online.problem.kind) == (seq, kind), online.summary()
    assert f"#{seq}" in online.summary()
    # An auditor with only the export (taken after the tampering) and the public key.
    offline = verify_file(export_text(engine), [key.public])
    assert offline.summary() == online.summary()


def test_a_rewritten_tail_is_caught_by_the_signed_checkpoint(
    engine: Engine, key: SigningKey
) -> None:
    """A forger who recomputes every later hash and the head still cannot match a signature."""
    populate(engine, 6)
    with make_session_factory(engine)() as session:
        write_checkpoint(session, key)  # signs #6
    populate(engine, 4, start=6)
    with make_session_factory(engine)() as session:
        write_checkpoint(session, key)  # signs #10
    # Rewrite from #3 on with a consistent chain, and move the head with it.
    for seq in range(3, 11):
        row = forged_row(engine, seq, seq - 1, "mallory")
        sql(engine, "DELETE FROM audit_entries WHERE seq = :s", s=seq)
        insert_row(engine, row)
    last = forged_row(engine, 10, 9, "mallory")
    sql(engine, "UPDATE audit_chain_head SET entry_hash = :h", h=last["entry_hash"])
    result = verify_db(engine, [key.public])
    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (1, "modified")
    assert "between #1 and #6" in result.problem.message
    offline = verify_file(export_text(engine), [key.public])
    assert offline.summary() == result.summary()
    # Without a public key the rewrite goes unnoticed, which the verifier says out loud.
    blind = verify_file(export_text(engine), [])
    assert blind.ok
    assert any("not checked" in w for w in blind.warnings)


def test_a_forged_signature_fails(engine: Engine, key: SigningKey) -> None:
    populate(engine, 3)
    with make_session_factory(engine)() as session:
        write_checkpoint(session, key)
    sql(engine, "UPDATE audit_checkpoints SET signed_at = signed_at - INTERVAL '1 day'"
        if engine.dialect.name == "postgresql" else
        "UPDATE audit_checkpoints SET signed_at = datetime(signed_at, '-1 day')")
    result = verify_db(engine, [key.public])
    assert result.problem is not None
    assert result.problem.kind == "bad-signature"
    # Another key's checkpoints are reported, not trusted.
    stranger = SigningKey.generate()
    result = verify_db(engine, [stranger.public])
    assert result.ok
    assert any("not among the public keys" in w for w in result.warnings)


def test_no_checkpoint_is_signed_over_a_broken_chain(engine: Engine, key: SigningKey) -> None:
    populate(engine, 4)
    _modify_details_at(engine, 2)
    from server.audit import AuditIntegrityError  # noqa: PLC0415

    with make_session_factory(engine)() as session, pytest.raises(AuditIntegrityError,
                                                                   match="#2"):
        write_checkpoint(session, key)
    with make_session_factory(engine)() as session:
        assert session.execute(
            __import__("sqlalchemy").text("SELECT count(*) FROM audit_checkpoints")
        ).scalar() == 0


def _modify_details_at(engine: Engine, seq: int) -> None:
    sql(engine, "UPDATE audit_entries SET details = '{}' WHERE seq = :s", s=seq)


def test_operational_log_retention_leaves_the_chain_intact(engine: Engine) -> None:
    populate(engine, 5)
    sql(engine, "DELETE FROM integration_logs")
    assert verify_db(engine, []).ok


def test_cli_verify_names_the_entry_online_and_offline(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    env = cli_env(db_url, tmp_path / "data")
    populate(engine, 8)
    result = run_cli(audit_cli.app, ["checkpoint"], env)
    assert result.exit_code == 0, result.output
    assert "signed entry #8" in result.output
    key = run_cli(audit_cli.app, ["public-key"], env).output.strip()
    assert key.startswith("ed25519:")
    (tmp_path / "auditor.pub").write_text(key + "\n")

    ok = run_cli(audit_cli.app, ["verify"], env)
    assert ok.exit_code == 0, ok.output
    assert "OK: 8 entries" in ok.output

    _reorder_at(engine, 3)
    online = run_cli(audit_cli.app, ["verify"], env)
    assert online.exit_code == 1
    assert "FAILED at entry #3 (reordered)" in online.output

    export = tmp_path / "audit.csv"
    done = run_cli(audit_cli.app, ["export", "--format", "csv", "-o", str(export)], env)
    assert done.exit_code == 0, done.output
    offline = run_cli(audit_cli.app, ["verify", "--file", str(export), "--public-key",
                                      str(tmp_path / "auditor.pub")], {})
    assert offline.exit_code == 1
    assert offline.output.strip().splitlines()[-1] == online.output.strip().splitlines()[-1]

    bad = run_cli(audit_cli.app, ["verify", "--from", "yesterday"], env)
    assert bad.exit_code == 2
    assert "--from" in bad.output


def _reorder_at(engine: Engine, seq: int) -> None:
    sql(engine, "UPDATE audit_entries SET seq = -1 WHERE seq = :a",
        "UPDATE audit_entries SET seq = :a WHERE seq = :b",
        "UPDATE audit_entries SET seq = :b WHERE seq = -1", a=seq, b=seq + 1)
