"""The monitoring and troubleshooting guides say what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

from server.config import Settings
from server.monitoring.health import WEIGHTS
from server.monitoring.recovery import RECOVERY_STEPS
from tests.monitoring.conftest import make_instance
from tests.support.api import Api

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "guides"
MONITORING = (GUIDES / "monitoring.md").read_text()
TROUBLESHOOTING = (GUIDES / "troubleshooting.md").read_text()


def test_the_score_formula_and_settings_are_the_code_s() -> None:
    formula = re.search(r"score = round\(100 \* \((.*?)\)\)", MONITORING, re.S)
    assert formula is not None
    documented = {name: float(weight) for weight, name in
                  re.findall(r"([0-9.]+) \* (\w+)", formula.group(1))}
    assert documented == WEIGHTS
    for name in re.findall(r"^\| `([A-Z_]+)`", MONITORING, re.M):
        assert name.lower() in Settings.model_fields, name
    for name in re.findall(r"`([A-Z_]+)`, `([A-Z_]+)`", MONITORING):
        assert all(n.lower() in Settings.model_fields for n in name)


def test_every_error_class_is_in_the_troubleshooting_guide() -> None:
    rows = set(re.findall(r"^\| `(\w+)` \|", TROUBLESHOOTING, re.M))
    assert rows == set(RECOVERY_STEPS)


def test_the_subscription_example_is_accepted(mon: Api) -> None:
    block = re.search(r"```json\n(\{\"instance_id\".*?)```", MONITORING, re.S)
    assert block is not None
    instance = make_instance(mon, "http://127.0.0.1:9", name="Docs example")
    body = json.loads(block.group(1).replace("<instance id>", instance["id"]))
    response = mon.post("/event-subscriptions", body)
    assert response.status_code == 201, response.text
