"""Standard Webhooks (standardwebhooks.com): signing outbound and verifying inbound.

A signature is ``v1,`` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))
where the key is the base64 part of a ``whsec_…`` secret. ``webhook-signature`` may carry
several space-separated signatures (the sender signs with old and new secret during a
rotation); the receiver may hold several secrets too. One match is enough.

Example (what a sender does; the tests check it against the ``standardwebhooks`` package)::

    >>> headers = sign_headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1700000000, b"{}")
    >>> sorted(headers)
    ['webhook-id', 'webhook-signature', 'webhook-timestamp']
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets as _secrets
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"


class SignatureError(Exception):
    """The delivery is not authentic; the message is for logs, never for the sender."""


def new_secret() -> str:
    """A fresh ``whsec_`` secret (24 random bytes, as Svix issues them)."""
    return PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


@functools.lru_cache(maxsize=1024)
def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ValueError when it is not one.

    Cached: the intake verifies every delivery with the same few secrets (issue 6).
    """
    raw = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("is too short: use at least 16 random bytes (24 recommended)")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, without the Python HMAC object of hmac.new.
    return hmac.digest(key, f"{msg_id}.{timestamp}.".encode() + body, "sha256")


def sign_headers(secrets: str | Iterable[str], msg_id: str, timestamp: int, body: bytes
                 ) -> dict[str, str]:
    """The three headers of a delivery, signed with each secret given."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    sigs = " ".join("v1," + base64.b64encode(signature(secret_key(s), msg_id, timestamp, body))
                    .decode() for s in keys)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sigs}


def verify(secrets: Iterable[str], headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance: int) -> str:
    """Check a delivery; returns its ``webhook-id``. Raises :class:`SignatureError`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    sent = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and sent):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError("webhook-timestamp is not a Unix time in seconds")
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    offered = []
    for item in sent.split():
        version, _, value = item.partition(",")
        if version != "v1":
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    matched = False
    for secret in secrets:
        expected = signature(secret_key(secret), msg_id, timestamp, body)
        for candidate in offered:
            # Every comparison runs, so timing does not tell which secret or signature matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("no matching signature")
    return msg_id
