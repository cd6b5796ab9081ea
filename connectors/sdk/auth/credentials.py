"""Typed credentials for connectors that do not speak HTTP through httpx.Auth.

The AWS connector hands :class:`AwsCredentials` to boto3 (and assumes the role itself, with
STS, since that needs the AWS SDK); the LDAP connector binds with :class:`LdapBind`; mutual
TLS needs an ``ssl.SSLContext`` from :class:`ClientCertificate`. Secrets stay ``SecretStr``
so a repr or a log line never shows them.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from connectors.sdk.auth.errors import AuthFailure, CredentialError


@dataclass(frozen=True)
class AssumeRole:
    role_arn: str
    session_name: str = "simpletrust"
    external_id: str | None = None
    duration_seconds: int = 3600

    def sts_params(self) -> dict[str, Any]:
        """Keyword arguments for ``sts.assume_role``."""
        params: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": self.session_name,
            "DurationSeconds": self.duration_seconds,
        }
        if self.external_id:
            params["ExternalId"] = self.external_id
        return params


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: SecretStr
    session_token: SecretStr | None = None
    region: str | None = None
    assume_role: AssumeRole | None = None

    def boto3_session_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.Session`` (the base credentials, before any role)."""
        kwargs: dict[str, Any] = {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key.get_secret_value(),
        }
        if self.session_token is not None:
            kwargs["aws_session_token"] = self.session_token.get_secret_value()
        if self.region:
            kwargs["region_name"] = self.region
        return kwargs


@dataclass(frozen=True)
class LdapBind:
    bind_dn: str
    password: SecretStr


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate and key for mutual TLS.

    Example::

        cert = build_auth("certificate", fields)
        async with httpx.AsyncClient(verify=cert.ssl_context()) as http: ...
    """

    certificate_pem: str
    private_key_pem: SecretStr
    private_key_password: SecretStr | None = None
    ca_bundle_pem: str | None = None

    def ssl_context(self, *, verify_server: bool = True) -> ssl.SSLContext:
        """A client SSL context presenting this certificate; trusts ``ca_bundle_pem`` if set."""
        context = ssl.create_default_context(
            cadata=self.ca_bundle_pem if self.ca_bundle_pem else None
        )
        if not verify_server:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.load_into(context)
        return context

    def load_into(self, context: ssl.SSLContext) -> None:
        """Load the chain and key: ``ssl`` reads only files, so a private 0600 temporary file
        holds the key for the instant of loading and is removed at once."""
        password = (
            self.private_key_password.get_secret_value() if self.private_key_password else None
        )
        with tempfile.TemporaryDirectory(prefix="simpletrust-mtls-") as folder:
            cert_path = os.path.join(folder, "cert.pem")
            key_path = os.path.join(folder, "key.pem")
            for path, text in (
                (cert_path, self.certificate_pem),
                (key_path, self.private_key_pem.get_secret_value()),
            ):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(text)
            try:
                context.load_cert_chain(cert_path, key_path, password=password)
            except ssl.SSLError as exc:
                raise CredentialError(
                    AuthFailure.CONFIGURATION,
                    "certificate_pem/private_key_pem: cannot be loaded "
                    f"({exc.reason or 'bad PEM'})",
                    hint="Give the client certificate and its matching private key in PEM format.",
                ) from None

    def httpx_client_kwargs(self) -> dict[str, Any]:
        """``httpx.Client(**cert.httpx_client_kwargs())``."""
        return {"verify": self.ssl_context()}
