"""What every simulator shares: fault and throttle knobs, a request log, the control API.

A simulator is a Starlette app that answers like the vendor (paths, bodies, headers, auth),
plus a control API under ``/_sim/`` for the console's testing tools and for tests:

=========================  ===============================================================
``GET  /_sim/state``       counts of the simulated objects, the knobs in force
``POST /_sim/reset``       back to the seeded demo data, knobs cleared
``POST /_sim/faults``      ``{"status": 500, "times": 2, "path": "/orgs/", "method": "GET",
                           "after_commit": false}``: the next matching requests fail with the
                           vendor's error body; ``after_commit`` does the work first, then
                           fails (a lost response), to test idempotent writes
``POST /_sim/throttle``    ``{"times": 1, "retry_after": 1}``: the vendor's rate-limit answer
``DELETE /_sim/faults``    clear every fault and throttle rule
``GET  /_sim/requests``    the last requests seen (method, path, selected headers)
``POST /_sim/activity``    ``{"steps": 1}``: new activity (runs, alerts, events) as time passes
``POST /_sim/events``      a simulated event (a webhook delivery, a notable event)
=========================  ===============================================================

The same knobs are Python methods (``sim.faults.fail(...)``) for code in the same process.
The control API has no authentication: simulators only ever listen on loopback.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "FaultRule",
    "Faults",
    "SeenRequest",
    "SimError",
    "Simulator",
    "form_body",
    "iso",
    "utc_anchor",
]

CONTROL_PREFIX = "/_sim"
LOGGED_HEADERS = (
    "authorization-scheme",
    "accept",
    "content-type",
    "user-agent",
    "x-github-api-version",
)


def utc_anchor(value: datetime | None = None) -> datetime:
    """The instant seeded data is placed relative to: given, or now floored to the hour.

    Seeded data is the same objects with the same relative ages on every start, so demo data
    always looks recent and tests that pass an anchor are fully deterministic.
    """
    if value is not None:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    """``2024-05-01T10:00:00Z``: GitHub's timestamp format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimError(Exception):
    """Raised inside an endpoint to answer with ``response`` (an error in the vendor's shape)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class FaultRule:
    """One injected failure: ``times`` matching requests get it, then it is used up."""

    kind: str  # "error" or "throttle"
    status: int = 500
    times: int = 1
    path: str | None = None  # regular expression searched in the path
    method: str | None = None
    after_commit: bool = False
    retry_after: float = 1.0
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    at: float


class Faults:
    """Thread-safe fault and throttle rules (tests set them from another thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.latency_s = 0.0

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        after_commit: bool = False,
        message: str | None = None,
    ) -> FaultRule:
        """The next ``times`` requests matching ``path``/``method`` fail with ``status``."""
        rule = FaultRule("error", status, times, path, method, after_commit, message=message)
        with self._lock:
            self._rules.append(rule)
        return rule

    def throttle(
        self,
        *,
        times: int = 1,
        retry_after: float = 1.0,
        path: str | None = None,
        method: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """The next ``times`` matching requests get the vendor's rate-limit answer."""
        rule = FaultRule(
            "throttle", status or 0, times, path, method, retry_after=retry_after, message=message
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.latency_s = 0.0

    def take(self, method: str, path: str, *, after_commit: bool) -> FaultRule | None:
        """Use up one matching rule of the given phase, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.after_commit == after_commit and rule.matches(method, path):
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]


Endpoint = Callable[[Request], Awaitable[Response]]


class Simulator:
    """Base class: vendor routes from :meth:`routes`, the control API, faults, request log.

    Subclasses implement :meth:`routes`, :meth:`render_error`, :meth:`render_throttle`,
    :meth:`reset` (seed the demo data) and may implement :meth:`advance` and :meth:`trigger`.
    """

    name = "simulator"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = Faults()
        self.requests: deque[SeenRequest] = deque(maxlen=500)
        self._app: ASGIApp | None = None

    # ---- for subclasses --------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def render_error(self, status: int, message: str | None) -> Response:
        return JSONResponse({"message": message or "error"}, status_code=status)

    def render_throttle(self, rule: FaultRule) -> Response:
        return JSONResponse(
            {"message": "rate limited"},
            status_code=429,
            headers={"Retry-After": f"{rule.retry_after:g}"},
        )

    def reset(self) -> None:
        """Back to the seeded demo data."""

    def state_summary(self) -> dict[str, Any]:
        return {}

    def advance(self, steps: int = 1) -> dict[str, Any]:
        """Simulate time passing: new activity. Returns what changed."""
        return {}

    def trigger(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A simulated event (``POST /_sim/events``)."""
        raise SimError(JSONResponse({"error": "no simulated events"}, status_code=404))

    # ---- the app -----------------------------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        """The ASGI application (built once)."""
        if self._app is None:
            starlette = Starlette(
                routes=[*self._control_routes(), *self.routes()],
                exception_handlers={SimError: _sim_error_response},  # type: ignore[dict-item]
            )
            self._app = _FaultMiddleware(starlette, self)
        return self._app

    def _control_routes(self) -> list[BaseRoute]:
        async def state(request: Request) -> Response:
            return JSONResponse(
                {
                    "simulator": self.name,
                    "objects": self.state_summary(),
                    "faults": self.faults.describe(),
                    "latency_s": self.faults.latency_s,
                }
            )

        async def reset(request: Request) -> Response:
            self.faults.clear()
            self.reset()
            return JSONResponse({"reset": True})

        async def add_fault(request: Request) -> Response:
            body = await _json_body(request)
            if "latency_s" in body:
                self.faults.latency_s = float(body["latency_s"])
                return JSONResponse({"latency_s": self.faults.latency_s})
            rule = self.faults.fail(
                int(body.get("status", 500)),
                times=int(body.get("times", 1)),
                path=body.get("path"),
                method=body.get("method"),
                after_commit=bool(body.get("after_commit", False)),
                message=body.get("message"),
            )
            return JSONResponse(asdict(rule), status_code=201)

        async def add_throttle(request: Request) -> Response:
            body = await _json_body(request)
            rule = self.faults.throttle(
                times=int(body.get("times", 1)),
                retry_after=float(body.get("retry_after", 1.0)),
                path=body.get("path"),
                method=body.get("method"),
                status=body.get("status"),
            )
            return JSONResponse(asdict(rule), status_code=201)

        async def clear_faults(request: Request) -> Response:
            self.faults.clear()
            return Response(status_code=204)

        async def seen(request: Request) -> Response:
            return JSONResponse([asdict(r) for r in list(self.requests)[-100:]])

        async def activity(request: Request) -> Response:
            body = await _json_body(request)
            return JSONResponse(self.advance(int(body.get("steps", 1))))

        async def events(request: Request) -> Response:
            body = await _json_body(request)
            result = await asyncio.to_thread(self.trigger, body)
            return JSONResponse(result, status_code=201)

        p = CONTROL_PREFIX
        return [
            Route(f"{p}/state", state, methods=["GET"]),
            Route(f"{p}/reset", reset, methods=["POST"]),
            Route(f"{p}/faults", add_fault, methods=["POST"]),
            Route(f"{p}/faults", clear_faults, methods=["DELETE"]),
            Route(f"{p}/throttle", add_throttle, methods=["POST"]),
            Route(f"{p}/requests", seen, methods=["GET"]),
            Route(f"{p}/activity", activity, methods=["POST"]),
            Route(f"{p}/events", events, methods=["POST"]),
        ]

    def record(self, scope: Scope) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        kept = {k: v for k, v in headers.items() if k in LOGGED_HEADERS}
        auth = headers.get("authorization")
        if auth:  # the scheme only: the log is served over the control API
            kept["authorization-scheme"] = auth.split(" ", 1)[0]
        self.requests.append(
            SeenRequest(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                kept,
                time.time(),
            )
        )

    def seen_paths(self, method: str | None = None) -> list[str]:
        """Paths of the vendor requests seen so far (tests)."""
        return [r.path for r in self.requests if method is None or r.method == method]


async def _sim_error_response(request: Request, exc: SimError) -> Response:
    return exc.response


async def form_body(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (last value wins), without multipart."""
    raw = (await request.body()).decode("utf-8", "replace")
    return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise SimError(JSONResponse({"error": "body is not JSON"}, status_code=400)) from None
    if not isinstance(data, dict):
        raise SimError(JSONResponse({"error": "body must be an object"}, status_code=400))
    return data


class _FaultMiddleware:
    """Applies latency, faults and throttles around the vendor routes (not ``/_sim``)."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        sim.record(scope)
        if sim.faults.latency_s > 0:
            await asyncio.sleep(sim.faults.latency_s)
        method, path = scope["method"], scope["path"]
        rule = sim.faults.take(method, path, after_commit=False)
        if rule is not None:
            await self._answer(rule, scope, receive, send)
            return
        late = sim.faults.take(method, path, after_commit=True)
        if late is None:
            await self.app(scope, receive, send)
            return

        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)  # the work is done, the answer is lost
        await self._answer(late, scope, receive, send)

    async def _answer(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        if rule.kind == "throttle":
            response = self.sim.render_throttle(rule)
        else:
            response = self.sim.render_error(rule.status, rule.message)
        await response(scope, receive, send)


def later(moment: datetime, **delta: float) -> datetime:
    return moment + timedelta(**delta)


@dataclass
class TokenCounter:
    """A fixed-window request budget per credential (primary rate limits)."""

    limit: int
    window_s: float
    used: dict[str, int] = field(default_factory=dict)
    resets: dict[str, float] = field(default_factory=dict)

    def spend(self, who: str, now: float | None = None) -> tuple[int, int, float]:
        """Count one request; return (used, remaining, reset epoch)."""
        current = time.time() if now is None else now
        reset = self.resets.get(who, 0.0)
        if current >= reset:
            self.resets[who] = reset = current + self.window_s
            self.used[who] = 0
        self.used[who] = self.used.get(who, 0) + 1
        used = self.used[who]
        return used, max(0, self.limit - used), reset
