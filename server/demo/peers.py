"""Starting the demo's peers: simulators, moto, slapd, a CSV folder. Each is optional but the
simulators and the CSVs, which need nothing outside the Python packages."""

from __future__ import annotations

import csv
import logging
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)


@dataclass
class Peer:
    """A running peer and the instance the demo points at it."""

    name: str
    connector: str
    configuration: dict[str, Any]
    credential: dict[str, Any] | None = None  # {"auth_type": ..., "credentials": {...}}
    stop: Callable[[], None] = field(default=lambda: None)
    mappings: list[dict[str, Any]] = field(default_factory=list)  # besides the defaults


def simulators() -> list[Peer]:
    from connectors.sandbox import github, jira, snipeit, splunk  # noqa: PLC0415
    from connectors.sandbox.server import start  # noqa: PLC0415

    peers = []
    gh = start(github.GitHubSimulator(), activity_every_s=30)
    peers.append(Peer("Demo · GitHub", "github",
                      {"base_url": gh.url, "organization": "acme-corp"},
                      {"auth_type": "bearer", "credentials": {"token": github.DEFAULT_PAT}},
                      gh.stop))
    jr = start(jira.JiraSimulator(deployment="cloud"), activity_every_s=30)
    peers.append(Peer("Demo · Jira", "jira", {"base_url": jr.url},
                      {"auth_type": "basic", "credentials": {
                          "username": jira.DEFAULT_EMAIL, "password": jira.DEFAULT_API_TOKEN}},
                      jr.stop))
    sp = start(splunk.SplunkSimulator(), activity_every_s=30)
    peers.append(Peer("Demo · Splunk", "splunk", {
        "base_url": sp.url, "hec_url": sp.url, "hec_token": splunk.DEFAULT_HEC_TOKEN,
        "searches": [{"name": "failed_logins", "spl": "search index=main action=failure"}]},
        {"auth_type": "bearer", "credentials": {"token": splunk.DEFAULT_TOKEN}}, sp.stop))
    it = start(snipeit.SnipeItSimulator(), activity_every_s=30)
    peers.append(Peer("Demo · Asset inventory (Generic REST)", "generic-rest",
                      asset_inventory_api(it.url),
                      {"auth_type": "bearer", "credentials": {"token": snipeit.DEFAULT_TOKEN}},
                      it.stop, mappings=[ASSET_MAPPING]))
    return peers


def asset_inventory_api(base_url: str) -> dict[str, Any]:
    """Snipe-IT described for the Generic REST connector, as an administrator would."""
    return {"base_url": base_url, "auth": {"method": "bearer"},
            "headers": {"Accept": "application/json"},
            "streams": [{"name": "hardware", "path": "/api/v1/hardware", "records": "rows",
                         "primary_key": ["id"],
                         "paginator": {"type": "offset", "limit": 50, "total_path": "total"}}]}


#: Snipe-IT hardware to canonical assets (Generic REST streams have no default mapping).
ASSET_MAPPING: dict[str, Any] = {
    "name": "hardware", "source": "hardware", "target": "asset",
    "field_mappings": [
        {"target": "external_id", "source": "asset_tag"},
        {"target": "name", "source": "name"},
        {"target": "hostname", "source": "name", "steps": ["lower"]},
        {"target": "serial_number", "source": "serial"},
        {"target": "asset_type", "source": "category.name", "steps": [{
            "function": "lookup", "params": {"table": {
                "Laptops": "laptop", "Desktops": "workstation", "Servers": "server"},
                "default": "other"}}]},
        {"target": "os_name", "source": "custom_fields[\"Operating System\"].value"},
        {"target": "disk_encrypted", "source": "custom_fields[\"Disk Encryption\"].value",
         "steps": ["to_bool"]},
        {"target": "managed", "source": "custom_fields[\"MDM Enrolled\"].value",
         "steps": ["to_bool"]},
        {"target": "owner_external_id", "source": "assigned_to.username"},
        {"target": "owner_email", "source": "assigned_to.email"},
        {"target": "location", "source": "location.name"},
        {"target": "last_seen_at", "source": "updated_at.datetime", "steps": [
            {"function": "parse_datetime", "params": {"format": "%Y-%m-%d %H:%M:%S",
                                                      "timezone": "UTC"}}]},
    ]}


def directory(folder: Path) -> Peer | None:
    """OpenLDAP slapd with a small company directory (when slapd is installed here)."""
    from connectors.sandbox import ldap_directory, slapd  # noqa: PLC0415

    problem = slapd.missing()
    if problem is not None:
        log.info("demo: no LDAP demo instance: OpenLDAP slapd is not installed (%s); "
                 "install it with: %s", problem, slapd.INSTALL_HINT)
        return None
    shutil.rmtree(folder, ignore_errors=True)  # a fresh directory on every run
    server = slapd.Slapd.start(folder)
    try:
        server.load(ldap_directory.entries())
    except BaseException:
        server.stop()
        raise
    return Peer("Demo · Directory (LDAP)", "ldap",
                {"url": server.url, "base_dn": slapd.SUFFIX},
                {"auth_type": "ldap_bind", "credentials": {
                    "bind_dn": slapd.SERVICE_DN, "password": slapd.SERVICE_PW}},
                server.stop)


def aws() -> Peer | None:
    """moto's server with a small, deliberately imperfect account (when moto is installed)."""
    try:
        import boto3  # noqa: PLC0415
        from moto.server import ThreadedMotoServer  # noqa: PLC0415
    except ImportError:
        log.info("demo: moto is not installed; no AWS demo instance")
        return None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its state per process: start from an empty account every time.
    httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    keys = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **keys)
    s3.create_bucket(Bucket="acme-public-assets")  # unencrypted, no public access block
    s3.create_bucket(Bucket="acme-audit-logs")
    blocked = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                             "RestrictPublicBuckets"), True)
    s3.put_public_access_block(Bucket="acme-audit-logs", PublicAccessBlockConfiguration=blocked)
    s3.put_bucket_encryption(Bucket="acme-audit-logs", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", **keys)
    for user in ("alice", "bob", "deploy-bot"):
        iam.create_user(UserName=user)
    iam.create_login_profile(UserName="alice", Password="Demo-Password-1!")  # noqa: S106
    ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1", **keys)
    group = ec2.create_security_group(GroupName="legacy-ssh", Description="demo")
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    # moto cannot answer the account-level public access block (s3control): not checked here.
    return Peer("Demo · AWS", "aws", {"regions": ["us-east-1"], "endpoint_url": url,
                                      "account_public_access_block": False},
                {"auth_type": "aws", "credentials": {
                    "access_key_id": keys["aws_access_key_id"],
                    "secret_access_key": keys["aws_secret_access_key"]}},
                server.stop)


def csv_folder(folder: Path) -> Peer:
    """A folder with an HR export for the file-import connector."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    departments = ["Security", "IT", "Finance", "Sales", "Legal"]
    with (folder / "employees.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["employee_id", "name", "email", "department", "manager_id", "status"])
        for i in range(1, 61):
            writer.writerow([f"E{i:04d}", f"Employee {i}", f"employee{i}@acme.example",
                             rng.choice(departments), f"E{max(1, i // 8):04d}",
                             "terminated" if i % 23 == 0 else "active"])
    # File exports have no standard shape: the demo maps this one to identities, as a user
    # would in the mapping designer.
    mapping = {
        "name": "employees", "source": "employees", "target": "identity",
        "field_mappings": [
            {"target": "external_id", "source": "employee_id"},
            {"target": "employee_id", "source": "employee_id"},
            {"target": "username", "source": "email", "steps": [
                {"function": "regex_extract", "params": {"pattern": "^([^@]+)@"}}]},
            {"target": "display_name", "source": "name"},
            {"target": "email", "source": "email", "steps": ["trim", "lower"],
             "rules": {"required": True}},
            {"target": "department", "source": "department"},
            {"target": "manager_external_id", "source": "manager_id"},
            {"target": "status", "source": "status", "steps": [{"function": "lookup", "params": {
                "table": {"active": "active", "terminated": "deprovisioned"},
                "default": "unknown"}}]},
        ]}
    return Peer("Demo · HR files", "file-import", {
        "folder": str(folder),
        "streams": [{"name": "employees", "pattern": "employees.csv"}]}, mappings=[mapping])

