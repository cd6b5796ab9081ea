"""docs/guides/audit.md: the standalone verifier an auditor can run without our software gives
the answers the guide promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from server.audit import SigningKey, write_checkpoint
from server.db.engine import make_session_factory
from tests.audit.helpers import export_text, forged_row, insert_row, populate, shift_from, sql

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "audit.md"


def _script(tmp_path: Path) -> Path:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    path = tmp_path / "verify_audit_export.py"
    path.write_text(blocks[0])
    return path


def _run(script: Path, export: str, key: SigningKey, tmp_path: Path) -> str:
    (tmp_path / "export.jsonl").write_text(export)
    (tmp_path / "agent-audit.pub").write_text(key.public.to_text() + "\n")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "export.jsonl"),
                           str(tmp_path / "agent-audit.pub")], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize(("tamper", "expected"), [
    ("none", "OK: 10 entries, 1 signed checkpoint(s)"),
    ("modify", "FAILED at entry #5: its content does not match its hash"),
    ("delete", "FAILED at entry #5: missing"),
    ("truncate", "FAILED at entry #8: the log was truncated"),
    ("insert", "FAILED at entry #6"),
])
def test_the_standalone_verifier(engine: Engine, tmp_path: Path, tamper: str,
                                 expected: str) -> None:
    key = SigningKey.generate()
    populate(engine, 10)
    with make_session_factory(engine)() as session:
        write_checkpoint(session, key)
    if tamper == "modify":
        sql(engine, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 5")
    elif tamper == "delete":
        sql(engine, "DELETE FROM audit_entries WHERE seq = 5")
    elif tamper == "truncate":
        sql(engine, "DELETE FROM audit_entries WHERE seq > 7")
    elif tamper == "insert":
        row = forged_row(engine, 5, 4, "mallory")
        shift_from(engine, 5, 1)
        insert_row(engine, row)
    assert _run(_script(tmp_path), export_text(engine), key, tmp_path).startswith(expected)
