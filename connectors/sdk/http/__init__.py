"""HTTP toolkit for connectors: a guarded, retrying, rate-limited client and paginators."""

from connectors.sdk.http.client import IDEMPOTENT_METHODS, HttpClient, Page, RetryPolicy
from connectors.sdk.http.guard import AddressPolicy, check_ip
from connectors.sdk.http.metrics import HttpMetrics, RequestMetric
from connectors.sdk.http.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    SinglePagePaginator,
)
from connectors.sdk.http.ratelimit import TokenBucket, parse_rate_limit, parse_retry_after
from connectors.sdk.http.records import RecordSelector

__all__ = [
    "IDEMPOTENT_METHODS",
    "AddressPolicy",
    "CursorPaginator",
    "HttpClient",
    "HttpMetrics",
    "LinkHeaderPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "RecordSelector",
    "RequestMetric",
    "RetryPolicy",
    "SinglePagePaginator",
    "TokenBucket",
    "check_ip",
    "parse_rate_limit",
    "parse_retry_after",
]
