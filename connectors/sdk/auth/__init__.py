"""Authentication methods for connectors: field models, httpx.Auth builders, OAuth flows.

Public API::

    build_auth(auth_type, fields, *, token_store=None) -> httpx.Auth | AwsCredentials | ...
    await check_credential(auth_type, fields, probe_url=None) -> CheckResult
    await sign_in_loopback(fields, open_browser=webbrowser.open) -> TokenSet
    masked_hint(secret) -> "••••abcd"
"""

from connectors.sdk.auth.check import CheckResult, check_credential
from connectors.sdk.auth.credentials import AssumeRole, AwsCredentials, ClientCertificate, LdapBind
from connectors.sdk.auth.errors import AuthFailure, CredentialError
from connectors.sdk.auth.factory import Credential, build_auth, build_http_auth
from connectors.sdk.auth.loopback import sign_in_loopback
from connectors.sdk.auth.models import (
    FIELD_MODELS,
    ApiKeyFields,
    AuthFields,
    AuthMethod,
    AwsFields,
    BasicFields,
    BearerFields,
    CertificateFields,
    JwtBearerFields,
    LdapBindFields,
    OAuth2AuthorizationCodeFields,
    OAuth2ClientCredentialsFields,
    masked_hint,
    masked_hints,
    merge_update,
    parse_fields,
    public_values,
    secret_values,
)
from connectors.sdk.auth.oauth import (
    OAuth2Auth,
    PendingAuthorization,
    acomplete_authorization,
    arevoke_token,
    complete_authorization,
    start_authorization,
)
from connectors.sdk.auth.static import ApiKeyAuth, BearerAuth
from connectors.sdk.auth.tokens import MemoryTokenStore, TokenSet, TokenStore

__all__ = [
    "FIELD_MODELS",
    "ApiKeyAuth",
    "ApiKeyFields",
    "AssumeRole",
    "AuthFailure",
    "AuthFields",
    "AuthMethod",
    "AwsCredentials",
    "AwsFields",
    "BasicFields",
    "BearerAuth",
    "BearerFields",
    "CertificateFields",
    "CheckResult",
    "ClientCertificate",
    "Credential",
    "CredentialError",
    "JwtBearerFields",
    "LdapBind",
    "LdapBindFields",
    "MemoryTokenStore",
    "OAuth2Auth",
    "OAuth2AuthorizationCodeFields",
    "OAuth2ClientCredentialsFields",
    "PendingAuthorization",
    "TokenSet",
    "TokenStore",
    "acomplete_authorization",
    "arevoke_token",
    "build_auth",
    "build_http_auth",
    "check_credential",
    "complete_authorization",
    "masked_hint",
    "masked_hints",
    "merge_update",
    "parse_fields",
    "public_values",
    "secret_values",
    "sign_in_loopback",
    "start_authorization",
]
