"""The exception tree classifies failures and never leaks secrets or bodies."""

from __future__ import annotations

import httpx
import pytest

from connectors.sdk import errors as e


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://user:pw@api.example.com/v1/items?api_key=SECRET123")
    return httpx.Response(status, headers=headers, request=request, text='{"token": "BODYSECRET"}')


@pytest.mark.parametrize(
    ("status", "cls", "action"),
    [
        (401, e.AuthenticationError, e.ErrorAction.REFRESH),
        (403, e.PermissionDeniedError, e.ErrorAction.FAIL),
        (404, e.RemoteError, e.ErrorAction.FAIL),
        (408, e.RemoteError, e.ErrorAction.RETRY),
        (429, e.RateLimitError, e.ErrorAction.WAIT),
        (500, e.RemoteServerError, e.ErrorAction.RETRY),
        (503, e.RemoteServerError, e.ErrorAction.RETRY),
    ],
)
def test_status_codes_map_to_classes_and_actions(status: int, cls: type,
                                                 action: e.ErrorAction) -> None:
    error = e.error_for_response(_response(status))
    assert type(error) is cls
    assert error.action is action
    assert error.hint
    text = str(error) + repr(error) + str(error.to_dict())
    for leaked in ("SECRET123", "BODYSECRET", "pw@", "api_key"):
        assert leaked not in text
    assert "GET https://api.example.com/v1/items" in str(error)


def test_rate_limited_carries_retry_after() -> None:
    error = e.error_for_response(_response(429, {"Retry-After": "7"}))
    assert isinstance(error, e.RateLimitError)
    assert error.retry_after == 7.0
    assert error.to_dict()["retry_after"] == 7.0
    assert error.category is e.ErrorCategory.RATE_LIMITED


def test_map_exceptions_translates_httpx_errors() -> None:
    request = httpx.Request("GET", "https://api.example.com/x?token=SECRET123")
    cases = [
        (httpx.ConnectError("boom SECRET123", request=request), e.NetworkError),
        (httpx.ReadTimeout("slow", request=request), e.RequestTimeoutError),
        (
            httpx.HTTPStatusError("x", request=request, response=_response(401)),
            e.AuthenticationError,
        ),
        (httpx.UnsupportedProtocol("ftp", request=request), e.ConfigError),
    ]
    for raised, expected in cases:
        with pytest.raises(expected) as info, e.map_exceptions():
            raise raised
        assert "SECRET123" not in str(info.value)
        assert info.value.__cause__ is raised


def test_map_exceptions_leaves_sdk_errors_and_bugs_alone() -> None:
    with pytest.raises(e.DataError), e.map_exceptions():
        raise e.DataError("bad record")
    with pytest.raises(KeyError), e.map_exceptions():
        raise KeyError("bug")


def test_every_error_is_a_connector_error_with_category_and_action() -> None:
    for name in e.__all__:
        obj = getattr(e, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, e.ConnectorError), name
            assert isinstance(obj.category, e.ErrorCategory)
            assert isinstance(obj.default_action, e.ErrorAction)


def test_unsupported_version_message_lists_supported() -> None:
    error = e.UnsupportedApiVersionError("5.0", ("3", "4"), connector="Acme 1.2.0")
    assert "'5.0'" in str(error)
    assert "3, 4" in str(error)
    assert "Acme 1.2.0" in str(error)
    assert error.action is e.ErrorAction.FAIL


def test_redact() -> None:
    assert e.redact("token=abcd1234 and abcd1234", ["abcd1234", "x"]) == "token=*** and ***"


async def test_map_exceptions_works_with_async_with_and_as_a_decorator() -> None:
    request = httpx.Request("GET", "https://api.example.com/x")
    raised = httpx.ReadTimeout("slow", request=request)
    with pytest.raises(e.RequestTimeoutError) as info:
        async with e.map_exceptions():
            raise raised
    assert info.value.__cause__ is raised
    assert info.value.__context__ is raised

    @e.map_exceptions()
    def broken() -> None:
        raise httpx.TooManyRedirects("loop", request=request)

    with pytest.raises(e.RemoteError, match="redirected too many times"):
        broken()
    with pytest.raises(httpx.CookieConflict):  # an httpx error the SDK does not classify
        async with e.map_exceptions():
            raise httpx.CookieConflict("two")
    async with e.map_exceptions():
        pass  # nothing raised: nothing to translate
