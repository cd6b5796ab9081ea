"""Snipe-IT (open-source IT asset management) API v1: the Generic REST connector's demo peer.

No built-in connector covers Snipe-IT, which is the point: the demo connects it with the
declarative Generic REST connector, as an administrator would. Faithful to the vendor where
the connector can tell:

- ``GET /api/v1/hardware?limit=&offset=&sort=&order=`` answers ``{"total": N, "rows": [...]}``
  (offset pagination; ``limit`` capped at 500 as on the server's default ``max_results``);
  each row has Snipe-IT's nested objects (``model``, ``status_label``, ``assigned_to``,
  ``location``), its ``{"datetime", "formatted"}`` dates and ``custom_fields``.
- Personal access tokens as ``Authorization: Bearer``; without one, Laravel's
  ``401 {"message": "Unauthenticated."}``.
- API throttling as Laravel does it: ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` on
  every answer, ``429 {"message": "Too Many Attempts."}`` with ``Retry-After`` when over.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.sandbox.common import FaultRule, SimError, Simulator, utc_anchor

__all__ = ["DEFAULT_TOKEN", "SnipeItSimulator"]

DEFAULT_TOKEN = "snipeit-demo-personal-access-token"  # noqa: S105 - a simulator's demo token
RATE_LIMIT = 120  # Snipe-IT's default API_THROTTLE_PER_MINUTE
MAX_RESULTS = 500

_MODELS = [  # (model, category, manufacturer, OS)
    ("MacBook Pro 14", "Laptops", "Apple", "macOS 14.5"),
    ("Latitude 7440", "Laptops", "Dell", "Windows 11 23H2"),
    ("ThinkPad X1 Carbon", "Laptops", "Lenovo", "Ubuntu 24.04"),
    ("OptiPlex 7010", "Desktops", "Dell", "Windows 11 23H2"),
    ("PowerEdge R650", "Servers", "Dell", "Red Hat Enterprise Linux 9.4"),
]
_PEOPLE = ["ghopper", "alovelace", "kthompson", "dritchie", "rrivest", "ashamir", "mhamilton"]
_LOCATIONS = ["Berlin HQ", "London Office", "Remote", "Frankfurt DC"]


def _date(moment: datetime) -> dict[str, str]:
    """Snipe-IT's date object: server-local wall time (UTC here) and a display form."""
    return {"datetime": moment.strftime("%Y-%m-%d %H:%M:%S"),
            "formatted": moment.strftime("%a %b %d, %Y %I:%M%p")}


class SnipeItSimulator(Simulator):
    """A Snipe-IT server with ~40 assets, some unencrypted or unassigned."""

    name = "snipeit"

    def __init__(self, *, token: str = DEFAULT_TOKEN, assets: int = 40,
                 anchor: datetime | None = None) -> None:
        super().__init__()
        self.token = token
        self.asset_count = assets
        self.anchor = utc_anchor(anchor)
        self.hardware: dict[int, dict[str, Any]] = {}
        self._window_start = float("-inf")
        self._window_used = 0
        self._steps = 0
        self.reset()

    # ---- seeded data -----------------------------------------------------------------------

    def reset(self) -> None:
        rng = random.Random(11)  # noqa: S311 - demo data, not security
        with self.lock:
            self.hardware = {}
            self._steps = 0
            for number in range(1, self.asset_count + 1):
                self.hardware[number] = self._asset(number, rng)

    def _asset(self, number: int, rng: random.Random) -> dict[str, Any]:
        model, category, maker, os_name = _MODELS[number % len(_MODELS)]
        created = self.anchor - timedelta(days=400 - number * 7)
        owner = None if category == "Servers" or number % 9 == 0 else rng.choice(_PEOPLE)
        encrypted = "No" if number % 6 == 0 else "Yes"
        return {
            "id": number,
            "name": f"{'SRV' if category == 'Servers' else 'WS'}-{number:04d}",
            "asset_tag": f"ACME-{number:05d}",
            "serial": f"{maker[:2].upper()}{rng.randrange(10**9):09d}",
            "model": {"id": number % len(_MODELS) + 1, "name": model},
            "model_number": f"{maker[:1]}{number % len(_MODELS) + 100}",
            "status_label": {"id": 2, "name": "Ready to Deploy" if owner is None else "Deployed",
                             "status_type": "deployable",
                             "status_meta": "deployable" if owner is None else "deployed"},
            "category": {"id": _MODELS.index(_MODELS[number % len(_MODELS)]) + 1,
                         "name": category},
            "manufacturer": {"id": number % len(_MODELS) + 1, "name": maker},
            "location": {"id": number % len(_LOCATIONS) + 1,
                         "name": _LOCATIONS[number % len(_LOCATIONS)]},
            "assigned_to": None if owner is None else {
                "id": _PEOPLE.index(owner) + 1, "username": owner,
                "name": owner, "email": f"{owner}@example.org", "type": "user"},
            "notes": "",
            "created_at": _date(created),
            "updated_at": _date(created + timedelta(days=3)),
            "purchase_date": {"date": created.strftime("%Y-%m-%d"),
                              "formatted": created.strftime("%a %b %d, %Y")},
            "custom_fields": {
                "Disk Encryption": {"field": "_snipeit_disk_encryption_2", "value": encrypted,
                                    "field_format": "BOOLEAN", "element": "listbox"},
                "Operating System": {"field": "_snipeit_operating_system_3", "value": os_name,
                                     "field_format": "ANY", "element": "text"},
                "MDM Enrolled": {"field": "_snipeit_mdm_enrolled_4",
                                 "value": "No" if number % 7 == 0 else "Yes",
                                 "field_format": "BOOLEAN", "element": "listbox"},
            },
        }

    def state_summary(self) -> dict[str, Any]:
        with self.lock:
            return {"hardware": len(self.hardware)}

    def advance(self, steps: int = 1) -> dict[str, Any]:
        """Time passes: one asset gets encrypted, one is checked in, one new laptop arrives."""
        changed: list[str] = []
        with self.lock:
            for _ in range(steps):
                self._steps += 1
                now = self.anchor + timedelta(minutes=self._steps)
                unencrypted = [a for a in self.hardware.values()
                               if a["custom_fields"]["Disk Encryption"]["value"] == "No"]
                if unencrypted:
                    asset = unencrypted[0]
                    asset["custom_fields"]["Disk Encryption"]["value"] = "Yes"
                    asset["updated_at"] = _date(now)
                    changed.append(asset["asset_tag"])
                number = max(self.hardware) + 1
                self.hardware[number] = self._asset(number, random.Random(number))  # noqa: S311
                changed.append(self.hardware[number]["asset_tag"])
        return {"changed": changed}

    # ---- the vendor API --------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/v1/hardware", self._hardware, methods=["GET"]),
                Route("/api/v1/hardware/{asset_id:int}", self._one, methods=["GET"])]

    def render_error(self, status: int, message: str | None) -> Response:
        return JSONResponse({"status": "error", "messages": message or "Server Error",
                             "payload": None}, status_code=status)

    def render_throttle(self, rule: FaultRule) -> Response:
        return self._too_many(rule.retry_after)

    def _too_many(self, retry_after: float) -> Response:
        return JSONResponse({"message": "Too Many Attempts."}, status_code=429, headers={
            "Retry-After": f"{max(1, round(retry_after))}", "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": "0"})

    def _admit(self, request: Request) -> dict[str, str]:
        """Bearer token and the per-minute throttle; the rate-limit headers to answer with."""
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            raise SimError(JSONResponse({"message": "Unauthenticated."}, status_code=401))
        now = time.monotonic()
        with self.lock:
            if now - self._window_start >= 60:
                self._window_start, self._window_used = now, 0
            self._window_used += 1
            remaining = RATE_LIMIT - self._window_used
            if remaining < 0:
                raise SimError(self._too_many(60 - (now - self._window_start)))
        return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(remaining)}

    async def _hardware(self, request: Request) -> Response:
        headers = self._admit(request)
        try:
            limit = min(int(request.query_params.get("limit", 50)), MAX_RESULTS)
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return self.render_error(422, "The limit and offset must be integers.")
        order = request.query_params.get("order", "asc")
        with self.lock:
            rows = sorted(self.hardware.values(), key=lambda a: a["id"],
                          reverse=order == "desc")
            page = rows[offset:offset + max(limit, 0)]
            return JSONResponse({"total": len(rows), "rows": page}, headers=headers)

    async def _one(self, request: Request) -> Response:
        headers = self._admit(request)
        with self.lock:
            asset = self.hardware.get(request.path_params["asset_id"])
        if asset is None:
            return JSONResponse({"status": "error", "messages": "Asset does not exist.",
                                 "payload": None}, status_code=200, headers=headers)
        return JSONResponse(asset, headers=headers)
