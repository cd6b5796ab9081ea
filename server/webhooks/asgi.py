"""The delivery URL in front of the API app: ``POST {prefix}/webhook/{key}`` without FastAPI.

The delivery URL is the agent's hottest path (issue 6: 2,000 deliveries/s). Under load, a
profile of the agent showed FastAPI's router matching the path against every route of the
API before the webhook route (about a third of the event loop's time) plus its middleware
stack; the intake itself was a small part. Wrapping the app served by uvicorn with
:class:`WebhookFastPath` hands those requests to :meth:`WebhookIntake.asgi` directly; every
other request, and the lifespan, go to the app unchanged. The answers are the same as the
API route's (which stays, documented in the OpenAPI document, for apps without the wrapper)::

    app = create_app(settings, engine)
    uvicorn.Config(WebhookFastPath(app, app.state.webhook_intake), ...)
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from server.api.app import API_PREFIX
from server.api.problems import PROBLEM_JSON
from server.webhooks.intake import Answer, WebhookIntake

log = logging.getLogger(__name__)

_FAILED = Answer(500, {"type": "about:blank", "title": "Internal error", "status": 500,
                       "detail": "the agent failed to handle this request; the agent log has "
                                 "the details", "errors": []}, PROBLEM_JSON)


class WebhookFastPath:
    """ASGI middleware: webhook deliveries straight to the intake, the rest to ``app``."""

    def __init__(self, app: ASGIApp, intake: WebhookIntake, prefix: str = API_PREFIX) -> None:
        self.app = app
        self.intake = intake
        self.door = f"{prefix}/webhook/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"key": key}
        try:
            await self.intake.asgi(scope, receive, send)
        except Exception:  # the API's last-resort handler, for this door
            log.exception("unexpected error while receiving a webhook delivery")
            body = _FAILED.body()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

    def _key(self, scope: Scope) -> str | None:
        """The key when ``scope`` is a delivery (what the API route's ``{key}`` would match)."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if not path.startswith(self.door):
            return None
        key = path[len(self.door):]
        return key if key and "/" not in key else None
