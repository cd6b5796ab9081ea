"""Remote API version negotiation: match a detected version against the supported ones.

A supported entry matches a detected version when they are equal or the entry is a prefix
ending at a component boundary: ``"4"`` matches ``"4.2.1"`` and ``"v4"`` matches ``"v4.1"``,
but ``"4"`` does not match ``"42"``. The longest match wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.sdk.errors import UnsupportedApiVersionError

__all__ = ["negotiate_version", "version_matches"]


def version_matches(supported: str, detected: str) -> bool:
    s, d = supported.strip().lower(), detected.strip().lower()
    return d == s or (d.startswith(s) and d[len(s)] in ".-+_ ")


def negotiate_version(
    detected: str, supported: Sequence[str], *, connector: str = "this connector"
) -> str:
    """The supported entry that serves ``detected``; :class:`UnsupportedApiVersionError` if none.

    >>> negotiate_version("4.2.1", ["3", "4"])
    '4'
    """
    matches = [s for s in supported if version_matches(s, detected)]
    if not matches:
        raise UnsupportedApiVersionError(detected, tuple(supported), connector=connector)
    return max(matches, key=len)
