"""A throwaway OpenLDAP ``slapd`` (tests, the demo): own cn=config, own data, loopback ports.

``Slapd.start(folder)`` builds a cn=config with ``slapadd`` (back_mdb; memberof and ppolicy
overlays; core/cosine/nis/inetorgperson schemas from /etc/ldap/schema; TLS with a throwaway
CA), starts ``slapd -d 0`` on ``ldap://127.0.0.1:PORT`` and ``ldaps://127.0.0.1:PORT2`` and
loads the directory over the wire, so the overlays maintain ``memberOf`` as in production.

The database has a size limit of 4 entries for everyone but the root DN, with unlimited
paged results: a search that does not page fails with sizeLimitExceeded, as on many real
directories.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.builtin.ldap._ldap3 import Connection, Server

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
INSTALL_HINT = (
    'echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; '
    "DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils"
)

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-Secret-9f2a"
SERVICE_DN = f"cn=svc-reader,ou=services,{SUFFIX}"
SERVICE_PW = "svc-Secret-71c4"
SIZE_LIMIT = 4


def missing() -> str | None:
    """Why a test slapd cannot run here (None if it can)."""
    for path in (SLAPD, SLAPADD, SCHEMA_DIR / "core.ldif", MODULE_DIR / "back_mdb.so"):
        if not Path(path).exists():
            return f"{path} is missing"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class TlsFiles:
    ca_pem: str
    cert_path: Path
    key_path: Path


def make_tls(folder: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SimpleTrust test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = folder / "server.crt"
    key_path = folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_path.chmod(0o600)
    return TlsFiles(ca.public_bytes(serialization.Encoding.PEM).decode(), cert_path, key_path)


def config_ldif(folder: Path, tls: TlsFiles) -> str:
    schemas = "\n".join(
        f"include: file://{SCHEMA_DIR / name}.ldif"
        for name in ("core", "cosine", "nis", "inetorgperson")
    )
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcArgsFile: {folder}/slapd.args
olcTLSCACertificateFile: {tls.cert_path}
olcTLSCertificateFile: {tls.cert_path}
olcTLSCertificateKeyFile: {tls.key_path}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {folder}/data
olcDbMaxSize: 67108864
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {ROOT_PW}
olcSizeLimit: size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by dn.exact="{SERVICE_DN}" read by * none

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{1}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{1}}ppolicy
"""


@dataclass
class Slapd:
    folder: Path
    port: int
    tls_port: int
    tls: TlsFiles
    process: subprocess.Popen[bytes]
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @classmethod
    def start(cls, folder: Path) -> Slapd:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data").mkdir()
        (folder / "slapd.d").mkdir()
        tls = make_tls(folder)
        (folder / "config.ldif").write_text(config_ldif(folder, tls))
        subprocess.run(  # noqa: S603 - fixed program, arguments are our own paths
            [SLAPADD, "-n0", "-F", str(folder / "slapd.d"), "-l", str(folder / "config.ldif")],
            check=True, capture_output=True, timeout=60,
        )
        port, tls_port = free_port(), free_port()
        process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
            [SLAPD, "-d", "0", "-h", f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/",
             "-F", str(folder / "slapd.d")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        server = cls(folder, port, tls_port, tls, process)
        server.wait_ready()
        return server

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr
                err = stderr.read().decode(errors="replace") if stderr else ""
                raise RuntimeError(f"slapd exited ({self.process.returncode}): {err[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start listening in time")

    def restart(self) -> None:
        """Stop and start again on the same ports with the same data (a server reboot)."""
        self.stop()
        self.process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
            [SLAPD, "-d", "0", "-h",
             f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/",
             "-F", str(self.folder / "slapd.d")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.wait_ready()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()

    def admin(self) -> Connection:
        """A bound root-DN connection (the test's own hands on the directory)."""
        server = Server("127.0.0.1", port=self.port, get_info="NO_INFO")
        return Connection(server, ROOT_DN, ROOT_PW, auto_bind=True, raise_exceptions=True)

    def load(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        with self.admin() as conn:
            for dn, attributes in entries:
                conn.add(dn, attributes=attributes)
