"""A faithful loopback Splunk Enterprise (with Enterprise Security's notable index).

Served as Splunk does (``output_mode=json``):

* ``GET /services/server/info`` (version 9.3.1);
* ``POST|GET /services/search/jobs/export``: results streamed as they are found, one JSON
  object per line (``{"preview": false, "offset": n, "result": {...}}``, the last with
  ``"lastrow": true``), field values as strings, newest event first; SPL subset: ``search``
  terms (``index=``, ``sourcetype=``, ``field=value`` with ``*`` wildcards, ``NOT``, free
  text, ``earliest=``/``latest=``), ``| savedsearch "name"``, ``| head N``, ``| sort
  [-]field``, ``| fields``/``| table``; ``earliest_time``/``latest_time`` as epoch, ISO or
  relative (``-24h``, ``-7d@d``, ``now``); unknown commands are a 400 with a FATAL message;
* ``GET /services/saved/searches`` and ``/servicesNS/{owner}/{app}/saved/searches``
  (``count``/``offset`` paging, ``entry``/``content``/``acl``/``paging``);
* the HTTP Event Collector: ``POST /services/collector/event`` (and ``/services/collector``)
  with ``Authorization: Splunk <token>``, concatenated JSON events, answers ``{"text":
  "Success", "code": 0}`` or HEC's error codes (2 token required, 3 invalid authorization,
  4 invalid token, 5 no data, 6 invalid data format, 7 incorrect index, 12 event field
  required, 13 event field blank); events sent are indexed and searchable;
  ``GET /services/collector/health``;
* auth: ``Authorization: Bearer <authentication token>`` or Basic; 401 ``call not properly
  authenticated``; throttling: 503 with ``Retry-After`` (search concurrency quota).

Seeded data: Linux auth events, CloudTrail events, ES notable events, six saved searches.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import shlex
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from connectors.sandbox.common import (
    FaultRule,
    SimError,
    Simulator,
    form_body,
    utc_anchor,
)

__all__ = [
    "DEFAULT_HEC_TOKEN",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "SplunkSimulator",
]

DEFAULT_TOKEN = "eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIifQ.SimulatorToken"  # noqa: S105
DEFAULT_USERNAME = "svc_simpletrust"
DEFAULT_PASSWORD = "Simulator-Passw0rd"  # noqa: S105 - sandbox credential
DEFAULT_HEC_TOKEN = "8f2b6c3e-5a1d-4e7f-9b0c-1d2e3f4a5b6c"  # noqa: S105 - sandbox credential
VERSION = "9.3.1"

_USERS = ["alice", "bob", "carol", "dave", "root", "svc_backup"]
_HOSTS = ["web-01", "web-02", "db-01", "bastion-01"]
_NOTABLE_RULES = [
    ("Access - Excessive Failed Logins - Rule", "Excessive Failed Logins", "access", "high"),
    ("Endpoint - Malware Detected - Rule", "Malware detected on host", "endpoint", "critical"),
    ("Network - Unusual Outbound Traffic - Rule", "Unusual outbound traffic", "network",
     "medium"),
    ("Identity - Admin Account Created - Rule", "New administrator account", "identity",
     "high"),
    ("Threat - Known Bad IP Contact - Rule", "Contact with known bad IP", "threat", "low"),
    ("Audit - Audit Log Cleared - Rule", "Audit log cleared", "audit", "informational"),
]
_STATUS_LABELS = {"1": "New", "2": "In Progress", "3": "Pending", "4": "Resolved", "5": "Closed"}
_SAVED = [
    ("Excessive Failed Logins", "search index=main sourcetype=linux_secure action=failure",
     "*/15 * * * *", True, False, "email", False),
    ("AWS Root Account Usage",
     'search index=main sourcetype=aws:cloudtrail userIdentity.type="Root"', "*/5 * * * *",
     True, False, "email,webhook", False),
    ("Access - Excessive Failed Logins - Rule",
     "search index=main sourcetype=linux_secure action=failure | head 100", "*/10 * * * *",
     True, False, "notable", True),
    ("Endpoint - Malware Detected - Rule", "search index=main sourcetype=edr signature=*",
     "*/5 * * * *", True, False, "notable,risk", True),
    ("Weekly Access Review Report", "search index=main sourcetype=linux_secure | head 50",
     "0 7 * * 1", True, False, "email", False),
    ("Legacy VPN Alert", "search index=main sourcetype=vpn action=failure", "", False, True,
     "", False),
]
ALLOWED_INDEXES = ("main", "notable", "security")


def _splunk_time(moment: datetime) -> str:
    """``2026-11-25T10:00:00.000+00:00``: how ``_time`` appears in JSON results."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class SplunkSimulator(Simulator):
    """The Splunk simulator (see the module docstring).

    Args:
        anchor: the instant seeded events are relative to (default: now, floored to the hour).
        token / username / password: REST API credentials (Bearer token, or Basic).
        hec_tokens: accepted HEC tokens -> the index each writes to by default.
        stream_delay_s: pause between streamed result lines (to watch streaming work).
    """

    name = "splunk"

    def __init__(
        self,
        *,
        anchor: datetime | None = None,
        token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        hec_tokens: Mapping[str, str] | None = None,
        stream_delay_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor = utc_anchor(anchor)
        self.token = token
        self.username = username
        self.password = password
        self.hec_tokens = dict(hec_tokens or {DEFAULT_HEC_TOKEN: "main"})
        self.hec_enabled = True
        self.stream_delay_s = stream_delay_s
        self.reset()

    # ---- data -------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self._steps = 0
            self._last_step = datetime.now(UTC).replace(microsecond=0)
            self.events: list[dict[str, Any]] = []
            self.hec_received: list[dict[str, Any]] = []
            self._serial = 0
            a = self.anchor
            for i in range(24):
                user = _USERS[i % len(_USERS)]
                ok = i % 3 != 0
                host = _HOSTS[i % len(_HOSTS)]
                ip = f"203.0.113.{10 + i % 7}"
                raw = (f"sshd[{4000 + i}]: {'Accepted publickey' if ok else 'Failed password'} "
                       f"for {user} from {ip} port {50000 + i} ssh2")
                self._index("main", a - timedelta(hours=70 - 3 * i, minutes=i), raw, {
                    "host": host, "source": "/var/log/secure", "sourcetype": "linux_secure",
                    "user": user, "src_ip": ip, "action": "success" if ok else "failure",
                    "app": "sshd"})
            for i, name in enumerate(["ConsoleLogin", "CreateUser", "AttachUserPolicy",
                                      "StopLogging", "ConsoleLogin", "DeleteTrail",
                                      "CreateAccessKey", "ConsoleLogin"]):
                identity = "Root" if i in (0, 3) else "IAMUser"
                raw = json.dumps({"eventName": name, "userIdentity": {"type": identity},
                                  "sourceIPAddress": f"198.51.100.{i + 2}"})
                self._index("main", a - timedelta(hours=50 - 6 * i), raw, {
                    "host": "aws", "source": "aws_cloudtrail", "sourcetype": "aws:cloudtrail",
                    "eventName": name, "userIdentity.type": identity,
                    "src_ip": f"198.51.100.{i + 2}"})
            for i in range(12):
                self._notable(a - timedelta(hours=60 - 5 * i, minutes=7 * i), i)

    def _index(self, index: str, when: datetime, raw: str, fields: Mapping[str, Any]) -> None:
        self._serial += 1
        event = {
            "_time": when.astimezone(UTC),
            "_raw": raw,
            "_cd": f"{ALLOWED_INDEXES.index(index) if index in ALLOWED_INDEXES else 9}:"
                   f"{1000 + self._serial}",
            "_bkt": f"{index}~{self._serial // 100}~SIMULATOR",
            "_indextime": str(int(when.timestamp()) + 2),
            "_serial_n": self._serial,
            "index": index,
            "splunk_server": "splunk-sim",
            "linecount": "1",
            **{k: v for k, v in fields.items()},
        }
        event.setdefault("host", "splunk-sim")
        event.setdefault("source", "simulator")
        event.setdefault("sourcetype", "simulator")
        self.events.append(event)

    def _notable(self, when: datetime, i: int, **override: str) -> None:
        rule, title, domain, urgency = _NOTABLE_RULES[i % len(_NOTABLE_RULES)]
        status = str(1 + (i % 5))
        fields = {
            "host": "es-sh-01", "source": rule, "sourcetype": "stash",
            "event_id": f"{(i * 2654435761) % 2**32:08X}-4B1A-4C2D-9E3F-{i:012d}",
            "rule_name": rule, "search_name": rule, "rule_title": title,
            "security_domain": domain, "urgency": urgency, "severity": urgency,
            "status": status, "status_label": _STATUS_LABELS[status],
            "owner": "unassigned" if status == "1" else "soc.analyst",
            "src": f"203.0.113.{20 + i}", "dest": _HOSTS[i % len(_HOSTS)],
            "user": _USERS[i % len(_USERS)], "orig_sourcetype": "linux_secure",
            **override,
        }
        raw = ", ".join(f'{k}="{v}"' for k, v in fields.items() if k not in ("host", "source"))
        self._index("notable", when, f"{int(when.timestamp())}, {raw}", fields)

    def state_summary(self) -> dict[str, Any]:
        with self.lock:
            by_index: dict[str, int] = {}
            for event in self.events:
                by_index[event["index"]] = by_index.get(event["index"], 0) + 1
            return {"events": by_index, "saved_searches": len(_SAVED),
                    "hec_events_received": len(self.hec_received)}

    def events_in(self, index: str) -> list[dict[str, Any]]:
        """The raw stored events of ``index`` (tests)."""
        with self.lock:
            return [dict(e) for e in self.events if e["index"] == index]

    def advance(self, steps: int = 1) -> dict[str, Any]:
        """Time passes: new login events and, every other step, a new notable event."""
        changed = {"events": 0, "notables": 0}
        with self.lock:
            for _ in range(steps):
                self._steps += 1
                # Splunk's _time has millisecond precision: each step is at least 1 ms later.
                current = datetime.now(UTC)
                current = current.replace(microsecond=current.microsecond // 1000 * 1000)
                now = max(current, self._last_step + timedelta(milliseconds=1))
                # Two steps in one millisecond put the second 1 ms ahead of the clock; wait it
                # out, so no event is in the future (a search up to "now" would miss it).
                ahead = (now - datetime.now(UTC)).total_seconds()
                if ahead > 0:
                    time.sleep(ahead)
                self._last_step = now
                user = _USERS[self._steps % len(_USERS)]
                self._index("main", now, f"sshd[9{self._steps}]: Failed password for {user}", {
                    "host": "bastion-01", "source": "/var/log/secure",
                    "sourcetype": "linux_secure", "user": user, "action": "failure",
                    "src_ip": "192.0.2.77", "app": "sshd"})
                changed["events"] += 1
                if self._steps % 2 == 0:
                    self._notable(now, 100 + self._steps)
                    changed["notables"] += 1
        return changed

    def trigger(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_sim/events {"rule_title": ..., "urgency": "high"}``: a new notable event."""
        with self.lock:
            self._steps += 1
            override = {k: str(v) for k, v in payload.items()
                        if k in ("rule_title", "urgency", "user", "dest", "src")}
            self._notable(datetime.now(UTC), 500 + self._steps, **override)
            event = self.events[-1]
        return {"event_id": event["event_id"], "index": "notable"}

    # ---- errors -------------------------------------------------------------------------------

    def render_error(self, status: int, message: str | None) -> Response:
        return _messages(status, "ERROR", message or {500: "Internal Server Error"}.get(
            status, "Error"))

    def render_throttle(self, rule: FaultRule) -> Response:
        response = _messages(
            rule.status or 503, "FATAL",
            rule.message or "Search not executed: The maximum number of concurrent historical "
            "searches on this instance has been reached.",
        )
        response.headers["Retry-After"] = f"{rule.retry_after:g}"
        return response

    def _auth(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value and hmac.compare_digest(value.strip(),
                                                                         self.token):
            return self.username
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = password = ""
            if hmac.compare_digest(user, self.username) and hmac.compare_digest(
                password, self.password
            ):
                return user
        raise SimError(_messages(401, "WARN", "call not properly authenticated"))

    # ---- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/services/server/info", self._server_info, methods=["GET"]),
            Route("/services/search/jobs/export", self._export, methods=["GET", "POST"]),
            Route("/services/saved/searches", self._saved, methods=["GET"]),
            Route("/servicesNS/{owner}/{app}/saved/searches", self._saved, methods=["GET"]),
            Route("/services/collector/health", self._hec_health, methods=["GET"]),
            Route("/services/collector/health/1.0", self._hec_health, methods=["GET"]),
            Route("/services/collector", self._hec, methods=["POST"]),
            Route("/services/collector/event", self._hec, methods=["POST"]),
            Route("/services/collector/event/1.0", self._hec, methods=["POST"]),
        ]

    async def _server_info(self, request: Request) -> Response:
        self._auth(request)
        return JSONResponse(_feed(request, "server-info", [{
            "name": "server-info",
            "content": {"version": VERSION, "build": "0b8d769cb912", "serverName": "splunk-sim",
                        "product_type": "enterprise", "os_name": "Linux",
                        "guid": "6A5B4C3D-1111-2222-3333-444455556666",
                        "server_roles": ["indexer", "search_head", "kv_store"]},
        }]))

    async def _saved(self, request: Request) -> Response:
        self._auth(request)
        q = request.query_params
        count = _int(q.get("count"), 30)
        offset = _int(q.get("offset"), 0)
        app = request.path_params.get("app", "-")
        entries = []
        for i, (name, search, cron, scheduled, disabled, actions, notable) in enumerate(_SAVED):
            entry_app = "SplunkEnterpriseSecuritySuite" if notable else "search"
            if app not in ("-", entry_app):
                continue
            entries.append({
                "name": name,
                "id": f"{request.base_url}servicesNS/nobody/{entry_app}/saved/searches/"
                      f"{name.replace(' ', '%20')}",
                "updated": _splunk_time(self.anchor - timedelta(days=30 - i)),
                "author": "admin",
                "acl": {"app": entry_app, "owner": "nobody", "sharing": "app",
                        "can_write": True, "modifiable": True},
                "content": {
                    "search": search, "cron_schedule": cron, "is_scheduled": scheduled,
                    "disabled": disabled, "description": f"{name} (simulated)",
                    "actions": actions, "action.notable": "1" if notable else "0",
                    "alert_type": "number of events" if actions else "always",
                    "alert.severity": 4 if notable else 3,
                    "dispatch.earliest_time": "-24h", "dispatch.latest_time": "now",
                    "next_scheduled_time": "" if not scheduled else
                    _splunk_time(self.anchor + timedelta(minutes=15)),
                },
            })
        total = len(entries)
        page = entries[offset:] if count == 0 else entries[offset : offset + count]
        body = _feed(request, "savedsearch", page)
        body["paging"] = {"total": total, "perPage": count, "offset": offset}
        return JSONResponse(body)

    async def _export(self, request: Request) -> Response:
        self._auth(request)
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            params.update(await form_body(request))
        spl = params.get("search", "").strip()
        if not spl:
            raise SimError(_messages(400, "FATAL", "Empty search."))
        if params.get("output_mode", "xml") != "json":
            raise SimError(_messages(400, "FATAL", "This simulator streams output_mode=json."))
        now = datetime.now(UTC)
        try:
            earliest = _when(params.get("earliest_time"), now)
            latest = _when(params.get("latest_time"), now)
            results = [_render(e) for e in self._run(spl, earliest, latest, now, depth=0)]
        except _SplError as exc:
            raise SimError(_messages(400, "FATAL", str(exc))) from None
        return StreamingResponse(self._lines(results), media_type="application/json")

    async def _lines(self, results: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        for offset, result in enumerate(results):
            line: dict[str, Any] = {"preview": False, "offset": offset}
            if offset == len(results) - 1:
                line["lastrow"] = True
            line["result"] = result
            yield (json.dumps(line, separators=(",", ":")) + "\n").encode()
            if self.stream_delay_s:
                await asyncio.sleep(self.stream_delay_s)

    def _run(self, spl: str, earliest: datetime | None, latest: datetime | None,
             now: datetime, depth: int) -> list[dict[str, Any]]:
        if depth > 3:
            raise _SplError("Saved searches are nested too deeply.")
        parts = _split_pipes(spl)
        first = parts[0].strip()
        commands = parts[1:]
        if not first and commands:  # a generating command: "| savedsearch ..."
            command = commands.pop(0).strip()
            name, _, rest = command.partition(" ")
            if name.lower() != "savedsearch":
                raise _SplError(f"Unknown search command '{name}'.")
            wanted = _unquote(rest.strip())
            saved = next((s for s in _SAVED if s[0] == wanted), None)
            if saved is None:
                raise _SplError(f"Unable to find saved search named '{wanted}'.")
            events = self._run(saved[1], earliest, latest, now, depth + 1)
        else:
            events = self._search(first, earliest, latest, now)
        for command in commands:
            events = _apply(command.strip(), events)
        return events

    def _search(self, terms: str, earliest: datetime | None, latest: datetime | None,
                now: datetime) -> list[dict[str, Any]]:
        text = re.sub(r"^\s*search\s+", "", terms, flags=re.IGNORECASE)
        try:
            tokens = shlex.split(text, posix=True)
        except ValueError:
            raise _SplError("Unbalanced quotes.") from None
        tests: list[Callable[[dict[str, Any]], bool]] = []
        negate = False
        for token in tokens:
            if token.upper() == "NOT":
                negate = True
                continue
            if token.upper() in ("AND",):
                continue
            key, eq, value = token.partition("=")
            if eq and key.lower() == "earliest":
                earliest = _when(value, now)
                continue
            if eq and key.lower() == "latest":
                latest = _when(value, now)
                continue
            test = _field_test(key, value) if eq else _text_test(token)
            tests.append(_negated(test) if negate else test)
            negate = False
        if not any(t.startswith("index=") for t in (x.lower() for x in tokens)):
            tests.append(lambda e: e["index"] == "main")  # the default index
        with self.lock:
            found = [
                e for e in self.events
                if (earliest is None or e["_time"] >= earliest)
                and (latest is None or e["_time"] <= latest)
                and all(t(e) for t in tests)
            ]
        return sorted(found, key=lambda e: (e["_time"], e["_serial_n"]), reverse=True)

    # ---- HEC ---------------------------------------------------------------------------------

    async def _hec_health(self, request: Request) -> Response:
        if not self.hec_enabled:
            return JSONResponse({"text": "HEC is unhealthy", "code": 18}, status_code=503)
        return JSONResponse({"text": "HEC is healthy", "code": 17})

    async def _hec(self, request: Request) -> Response:
        header = request.headers.get("authorization")
        if header is None:
            return _hec(401, "Token is required", 2)
        scheme, _, token = header.partition(" ")
        if scheme != "Splunk" or not token.strip():
            return _hec(401, "Invalid authorization", 3)
        if not self.hec_enabled:
            return _hec(403, "Token disabled", 1)
        default_index = self.hec_tokens.get(token.strip())
        if default_index is None:
            return _hec(403, "Invalid token", 4)
        raw = (await request.body()).decode("utf-8", "replace").strip()
        if not raw:
            return _hec(400, "No data", 5)
        decoder = json.JSONDecoder()
        events: list[dict[str, Any]] = []
        pos = 0
        while pos < len(raw):
            try:
                item, end = decoder.raw_decode(raw, pos)
            except ValueError:
                return _hec(400, "Invalid data format", 6, len(events))
            if not isinstance(item, dict):
                return _hec(400, "Invalid data format", 6, len(events))
            events.append(item)
            pos = end
            while pos < len(raw) and raw[pos].isspace():
                pos += 1
        for number, item in enumerate(events):
            if "event" not in item:
                return _hec(400, "Event field is required", 12, number)
            if item["event"] in ("", None, {}):
                return _hec(400, "Event field cannot be blank", 13, number)
            if item.get("index", default_index) not in ALLOWED_INDEXES:
                return _hec(400, "Incorrect index", 7, number)
        now = datetime.now(UTC)
        with self.lock:
            for item in events:
                when = (datetime.fromtimestamp(float(item["time"]), UTC)
                        if isinstance(item.get("time"), int | float | str)
                        and _is_number(item.get("time")) else now)
                body = item["event"]
                raw_text = body if isinstance(body, str) else json.dumps(body)
                fields: dict[str, Any] = {
                    "host": str(item.get("host")
                                or (request.client.host if request.client else "unknown")),
                    "source": str(item.get("source") or "http:simpletrust"),
                    "sourcetype": str(item.get("sourcetype") or "httpevent"),
                }
                if isinstance(body, dict):
                    fields.update({k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in body.items() if not k.startswith("_")})
                for key, value in (item.get("fields") or {}).items():
                    fields[str(key)] = value
                self._index(str(item.get("index", default_index)), when, raw_text, fields)
                self.hec_received.append(item)
        return JSONResponse({"text": "Success", "code": 0})


# ---- SPL helpers --------------------------------------------------------------------------------


class _SplError(ValueError):
    pass


def _split_pipes(spl: str) -> list[str]:
    parts, current, quote = [], [], ""
    for char in spl:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" else text


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$",
                      re.IGNORECASE)


def _field_test(key: str, value: str) -> Callable[[dict[str, Any]], bool]:
    pattern = _glob(value)

    def test(event: dict[str, Any]) -> bool:
        found = event.get(key)
        if found is None:
            return False
        values = found if isinstance(found, list) else [found]
        return any(pattern.match(str(v)) for v in values)

    return test


def _negated(test: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda event: not test(event)


def _sort_key(key: str) -> Callable[[dict[str, Any]], Any]:
    if key == "_time":
        return lambda event: event["_time"].timestamp()
    return lambda event: str(event.get(key, ""))


def _text_test(word: str) -> Callable[[dict[str, Any]], bool]:
    pattern = re.compile(".*".join(re.escape(p) for p in word.split("*")), re.IGNORECASE)
    return lambda event: pattern.search(event["_raw"]) is not None


def _apply(command: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    name, _, args = command.partition(" ")
    name = name.lower()
    args = args.strip()
    if name == "head":
        return events[: _int(args or "10", 10)]
    if name == "sort":
        fields = [f.strip() for f in args.replace(",", " ").split() if f.strip()]
        if fields and fields[0].isdigit():
            fields = fields[1:]
        for field in reversed(fields):
            descending = field.startswith("-")
            key = field.lstrip("+-")
            events = sorted(events, key=_sort_key(key), reverse=descending)
        return events
    if name in ("fields", "table"):
        keep = {f.strip() for f in args.replace(",", " ").split() if f.strip()}
        if args.startswith("-"):
            return events
        always = {"_time", "_serial_n", "index"} if name == "fields" else {"_serial_n"}
        return [{k: v for k, v in e.items() if k in keep or k in always} for e in events]
    raise _SplError(f"Unknown search command '{name}'.")


def _render(event: dict[str, Any]) -> dict[str, Any]:
    """A result as export shows it: every value a string (multivalue: list of strings)."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key == "_serial_n":
            out["_serial"] = str(value)
        elif key == "_time":
            out["_time"] = _splunk_time(value)
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            out[key] = str(value)
    return out


_RELATIVE = re.compile(r"^([+-])(\d+)(s|m|h|d|w|mon)(?:@(s|m|h|d|w|mon))?$")


def _when(value: str | None, now: datetime) -> datetime | None:
    """Splunk time modifiers: epoch seconds, ISO 8601, ``-24h``, ``-7d@d``, ``now``, ``0``."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text == "now":
        return now
    if _is_number(text):
        return None if float(text) == 0 else datetime.fromtimestamp(float(text), UTC)
    match = _RELATIVE.match(text)
    if match:
        sign, amount, unit, snap = match.groups()
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mon": 2592000}[unit]
        moment = now + timedelta(seconds=int(amount) * seconds * (1 if sign == "+" else -1))
        if snap == "d":
            moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        elif snap == "h":
            moment = moment.replace(minute=0, second=0, microsecond=0)
        return moment
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _SplError(f"Invalid value \"{text}\" for time term 'earliest'") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value is not None else default
    except ValueError:
        return default


def _messages(status: int, kind: str, text: str) -> JSONResponse:
    return JSONResponse({"messages": [{"type": kind, "text": text}]}, status_code=status)


def _hec(status: int, text: str, code: int, number: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"text": text, "code": code}
    if number is not None:
        body["invalid-event-number"] = number
    return JSONResponse(body, status_code=status)


def _feed(request: Request, generator: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "links": {},
        "origin": str(request.url).split("?")[0],
        "updated": _splunk_time(datetime.now(UTC)),
        "generator": {"build": "0b8d769cb912", "version": VERSION},
        "entry": entries,
        "paging": {"total": len(entries), "perPage": 30, "offset": 0},
        "messages": [],
    }
