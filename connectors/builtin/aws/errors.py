"""botocore failures translated into the SDK's error tree, in one place.

An ``AccessDenied`` names the IAM action that was refused (``s3:GetEncryptionConfiguration``,
not the API operation ``GetBucketEncryption``), so the admin knows exactly what to grant.
Messages carry the AWS error code and the action, never the response body or credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore import exceptions as boto_errors

from connectors.sdk.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    RemoteError,
    RemoteServerError,
    RequestTimeoutError,
)

__all__ = ["aws_errors", "iam_action", "translate"]

AUTH_CODES = frozenset({
    "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "AuthFailure", "InvalidAccessKeyId", "ExpiredToken", "ExpiredTokenException",
    "InvalidToken", "TokenRefreshRequired", "MissingAuthenticationToken",
    "IncompleteSignature", "InvalidSecurity",
})
DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
    "Forbidden", "UnauthorizedAccess", "AllAccessDisabled", "OptInRequired",
})
THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "RequestThrottled", "SlowDown", "EC2ThrottledException", "PriorRequestNotComplete",
    "LimitExceededException",
})
CLOCK_CODES = frozenset({"RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture"})

# IAM action names that differ from the API operation name.
_ACTIONS: dict[tuple[str, str], str] = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
_PREFIX = {"s3control": "s3"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs: ``("s3", "ListBuckets") -> "s3:ListAllMyBuckets"``."""
    return _ACTIONS.get((service, operation)) or f"{_PREFIX.get(service, service)}:{operation}"


def translate(exc: Exception, service: str, operation: str, region: str | None) -> ConnectorError:
    """The SDK error for a botocore exception raised by ``service.operation``."""
    action = iam_action(service, operation)
    where = f"AWS {action}" + (f" in {region}" if region else "")
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        if code in CLOCK_CODES:
            return AuthenticationError(
                f"{where} was refused: the request time is off ({code}).",
                hint="Synchronise the agent machine's clock (NTP).",
            )
        if code in AUTH_CODES or status == 401:
            return AuthenticationError(
                f"{where} was refused: the credentials are not valid ({code or status}).",
                hint="Check the access key ID and secret (and the session token, if any); "
                "keys may have been deactivated or deleted, temporary credentials may have "
                "expired, or the region may not be enabled for the account.",
            )
        if code in DENIED_CODES or status == 403:
            return PermissionDeniedError(
                f"{where} was denied: the identity lacks the IAM permission {action}.",
                hint=f"Allow {action} in the connector's IAM policy (see the AWS connector's "
                "least-privilege policy), and check SCPs and permission boundaries.",
            )
        if code in THROTTLE_CODES or status == 429:
            return RateLimitError(f"{where} was throttled by AWS ({code or status}).")
        if status >= 500 or code in ("InternalError", "InternalFailure", "ServiceUnavailable"):
            return RemoteServerError(
                f"{where} failed on the AWS side ({code or status}).", status_code=status or None
            )
        return RemoteError(f"{where} failed ({code or status}).", status_code=status or None)
    if isinstance(exc, (boto_errors.ConnectTimeoutError, boto_errors.ReadTimeoutError)):
        return RequestTimeoutError(f"{where} timed out ({type(exc).__name__}).")
    if isinstance(exc, (boto_errors.EndpointConnectionError, boto_errors.ConnectionClosedError,
                        boto_errors.ProxyConnectionError, boto_errors.SSLError,
                        boto_errors.HTTPClientError)):
        return NetworkError(f"{where} could not reach the endpoint ({type(exc).__name__}).")
    if isinstance(exc, (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError)):
        return ConfigError(f"{where}: no AWS credentials were given.",
                           hint="Attach an AWS access key credential to the integration.")
    if isinstance(exc, boto_errors.NoRegionError):
        return ConfigError(f"{where}: no region is configured.")
    raise exc


@contextlib.contextmanager
def aws_errors(service: str, operation: str, region: str | None) -> Iterator[None]:
    """Translate botocore exceptions raised in the block (others pass: bugs stay bugs)."""
    try:
        yield
    except ConnectorError:
        raise
    except boto_errors.ParamValidationError:
        raise
    except (boto_errors.BotoCoreError, boto_errors.ClientError) as exc:
        raise translate(exc, service, operation, region) from exc
