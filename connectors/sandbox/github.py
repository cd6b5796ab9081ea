"""A faithful loopback GitHub REST API (api.github.com shape) for tests and the demo.

What it serves, as GitHub does (paths, field names, status codes, error bodies, headers):

* ``GET /orgs/{org}``, ``/orgs/{org}/members`` (``filter=2fa_disabled``, ``role=admin``),
  ``/orgs/{org}/repos``, ``/repos/{o}/{r}``, ``/repos/{o}/{r}/branches/{b}/protection``
  (404 ``Branch not protected``), ``/repos/{o}/{r}/dependabot/alerts`` (cursor ``after``
  links; 403 when Dependabot alerts are disabled), ``/repos/{o}/{r}/code-scanning/alerts``
  (404 ``no analysis found`` without code scanning), ``/repos/{o}/{r}/actions/runs``
  (``{"total_count", "workflow_runs"}``, ``created=>=...`` filter), ``/rate_limit``, ``/user``;
* ``Link`` pagination with ``per_page`` (max 100) and ``page``;
* ``X-RateLimit-Limit/Remaining/Reset/Used/Resource`` on every answer, 403 ``API rate limit
  exceeded`` when the primary budget is spent, and secondary limits (403 or 429 with
  ``Retry-After``) through :meth:`Faults.throttle`;
* ``X-GitHub-Api-Version`` checked (400 for an unsupported version), and the version used
  echoed in ``X-GitHub-Api-Version-Selected``;
* auth: ``Authorization: Bearer|token <PAT, OAuth token or installation token>``, 401
  ``Bad credentials``; GitHub App JWTs (RS256, ``iss`` = app id) at
  ``POST /app/installations/{id}/access_tokens``; OAuth refresh at
  ``POST /login/oauth/access_token``;
* signed webhook deliveries to any URL (:meth:`GitHubSimulator.deliver_webhook`:
  ``X-Hub-Signature-256``, ``X-GitHub-Event``, ``X-GitHub-Delivery``).

Seeded demo data (deterministic, relative to ``anchor``): organisation ``acme-corp`` with 14
members (3 without 2FA, 2 owners), 8 repositories (4 with a protected default branch),
Dependabot and code scanning alerts, and 30 workflow runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwk, jwt
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.sandbox.common import (
    FaultRule,
    SimError,
    Simulator,
    TokenCounter,
    form_body,
    iso,
    utc_anchor,
)

__all__ = ["DEFAULT_PAT", "GitHubSimulator"]

DEFAULT_PAT = "ghp_SimulatorDemoToken0000000000000000"
DEFAULT_OAUTH_TOKEN = "gho_SimulatorOAuthToken000000000000000"  # noqa: S105
DEFAULT_WEBHOOK_SECRET = "simulator-webhook-secret"  # noqa: S105
SUPPORTED_VERSIONS = ("2022-11-28", "2026-03-10")
DEFAULT_VERSION = "2022-11-28"
DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"

_MEMBERS = [
    # login, name, 2fa, owner
    ("mona-admin", "Mona Lisa", True, True),
    ("octo-ops", "Octo Ops", True, True),
    ("ann-lee", "Ann Lee", True, False),
    ("bob-stone", "Bob Stone", False, False),
    ("carla-diaz", "Carla Diaz", True, False),
    ("dev-kumar", "Dev Kumar", True, False),
    ("erin-walsh", "Erin Walsh", False, False),
    ("farid-haddad", "Farid Haddad", True, False),
    ("grace-ho", "Grace Ho", True, False),
    ("hugo-berg", "Hugo Berg", True, False),
    ("ines-costa", "Ines Costa", False, False),
    ("jon-park", "Jon Park", True, False),
    ("kim-novak", "Kim Novak", True, False),
    ("liam-oneil", "Liam O'Neil", True, False),
]

# name, visibility, language, archived, protection (None: unprotected), dependabot, codeql
_REPOS: list[tuple[str, str, str, bool, dict[str, Any] | None, bool, bool]] = [
    ("payments-api", "private", "Python", False,
     {"reviews": 2, "admins": True, "checks": ["ci/build", "ci/test"], "force": False}, True, True),
    ("web-portal", "private", "TypeScript", False,
     {"reviews": 1, "admins": False, "checks": ["build"], "force": False}, True, True),
    ("infra-terraform", "internal", "HCL", False,
     {"reviews": 2, "admins": True, "checks": [], "force": False}, True, False),
    ("mobile-app", "private", "Kotlin", False, None, True, True),
    ("docs-site", "public", "JavaScript", False, None, True, False),
    ("auth-service", "private", "Go", False,
     {"reviews": 0, "admins": False, "checks": ["test"], "force": True}, True, True),
    ("data-pipeline", "private", "Python", False, None, False, False),
    ("legacy-billing", "private", "Java", True, None, True, False),
]

_ADVISORIES = [
    # package, ecosystem, manifest, severity, cve, ghsa, summary, range, patched, cvss
    ("django", "pip", "requirements.txt", "high", "CVE-2024-27351", "GHSA-vm8q-m57g-pff3",
     "Django regular expression denial-of-service", "< 4.2.11", "4.2.11", 7.5),
    ("requests", "pip", "requirements.txt", "medium", "CVE-2024-35195", "GHSA-9wx4-h78v-vm56",
     "Requests Session object does not verify requests after making first request with "
     "verify=False", "< 2.32.0", "2.32.0", 5.6),
    ("lodash", "npm", "package-lock.json", "critical", "CVE-2021-23337", "GHSA-35jh-r3h4-6jhm",
     "Command Injection in lodash", "< 4.17.21", "4.17.21", 9.8),
    ("axios", "npm", "package-lock.json", "high", "CVE-2023-45857", "GHSA-wf5p-g6vw-rhxx",
     "Axios Cross-Site Request Forgery Vulnerability", "< 1.6.0", "1.6.0", 8.8),
    ("golang.org/x/net", "go", "go.mod", "medium", "CVE-2023-44487", "GHSA-qppj-fm5r-hxr3",
     "HTTP/2 Stream Cancellation Attack", "< 0.17.0", "0.17.0", 5.3),
    ("com.fasterxml.jackson.core:jackson-databind", "maven", "pom.xml", "high",
     "CVE-2020-36518", "GHSA-57j2-w4cx-62h2", "Deeply nested json in jackson-databind",
     "< 2.12.6.1", "2.12.6.1", 7.5),
    ("hashicorp/aws", "terraform", "versions.tf", "low", None, "GHSA-xxxx-aws0-0001",
     "Provider logs sensitive values at debug level", "< 5.1.0", "5.1.0", 3.1),
    ("org.jetbrains.kotlinx:kotlinx-coroutines-core", "maven", "build.gradle", "low", None,
     "GHSA-xxxx-kt00-0002", "Coroutine cancellation leak", "< 1.7.3", "1.7.3", 2.0),
]

_CODE_RULES = [
    ("py/sql-injection", "error", "critical", "Database query built from user-controlled sources"),
    ("js/xss", "error", "high", "Client-side cross-site scripting"),
    ("go/incomplete-hostname-regexp", "warning", "medium",
     "Incomplete regular expression for hostnames"),
    ("py/clear-text-logging-sensitive-data", "error", "high",
     "Clear-text logging of sensitive information"),
    ("js/missing-rate-limiting", "warning", "medium", "Missing rate limiting"),
    ("kotlin/hardcoded-credentials", "error", "critical", "Hard-coded credentials"),
]

_WORKFLOWS = [
    ("Build", ".github/workflows/build.yml", 161335),
    ("Deploy", ".github/workflows/deploy.yml", 161336),
]


@dataclass
class _Principal:
    kind: str  # "pat", "oauth", "installation"
    login: str
    owner: bool
    key: str  # what the rate-limit budget is kept under


class GitHubSimulator(Simulator):
    """The GitHub simulator. Knobs are attributes; see the module docstring.

    Args:
        anchor: the instant seeded data is relative to (default: now, floored to the hour).
        tokens: accepted personal access tokens -> whether the token's user is an org owner.
        app_id / installation_id: the simulated GitHub App and its installation.
        installation_token_ttl_s: lifetime of installation access tokens (GitHub: 1 hour).
        primary_limit / primary_window_s: the primary rate limit per credential.
    """

    name = "github"

    def __init__(
        self,
        *,
        anchor: datetime | None = None,
        org: str = "acme-corp",
        tokens: Mapping[str, bool] | None = None,
        app_id: int = 424242,
        installation_id: int = 777001,
        installation_token_ttl_s: float = 3600.0,
        primary_limit: int = 5000,
        primary_window_s: float = 3600.0,
        oauth_client_id: str = "Iv1.simulator0client",
        oauth_client_secret: str = "simulator-oauth-client-secret",  # noqa: S107 - sandbox
        oauth_refresh_token: str = "ghr_SimulatorRefreshToken0000000000000",  # noqa: S107
    ) -> None:
        super().__init__()
        self.anchor = utc_anchor(anchor)
        self.org = org
        self.pat_tokens: dict[str, bool] = dict(tokens or {DEFAULT_PAT: True})
        self.app_id = app_id
        self.installation_id = installation_id
        self.installation_token_ttl_s = installation_token_ttl_s
        self.oauth_client_id = oauth_client_id
        self.oauth_client_secret = oauth_client_secret
        self._initial_refresh_token = oauth_refresh_token
        self.rate = TokenCounter(primary_limit, primary_window_s)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.app_private_key_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        self._app_public_key = jwk.import_key(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "RSA",
        )
        self.reset()

    # ---- seeded data -----------------------------------------------------------------------

    def reset(self) -> None:
        """Seeded data, no issued tokens, fresh rate budgets (the limits themselves stay)."""
        with self.lock:
            self.oauth_tokens: dict[str, bool] = {DEFAULT_OAUTH_TOKEN: True}
            self.oauth_refresh_tokens = {self._initial_refresh_token}
            self.installation_tokens: dict[str, float] = {}  # token -> expires at (epoch)
            self.tokens_issued = 0
            self.rate.used.clear()
            self.rate.resets.clear()
            self.webhook_deliveries: list[dict[str, Any]] = []
            self._steps = 0
            self._last_step = datetime.now(UTC).replace(microsecond=0)
            self._random = random.Random(20240501)  # noqa: S311 - deterministic demo data
            a = self.anchor
            self.members: list[dict[str, Any]] = [
                {
                    "login": login,
                    "id": 5_000_000 + i,
                    "node_id": f"MDQ6VXNlcj{5_000_000 + i}",
                    "avatar_url": f"https://avatars.githubusercontent.com/u/{5_000_000 + i}?v=4",
                    "gravatar_id": "",
                    "url": f"https://api.github.com/users/{login}",
                    "html_url": f"https://github.com/{login}",
                    "type": "User",
                    "site_admin": False,
                    "user_view_type": "public",
                    "_name": name,
                    "_2fa": two_fa,
                    "_owner": owner,
                }
                for i, (login, name, two_fa, owner) in enumerate(_MEMBERS)
            ]
            self.repos: list[dict[str, Any]] = []
            self.protection: dict[str, dict[str, Any]] = {}
            self.dependabot: dict[str, list[dict[str, Any]]] = {}
            self.code_scanning: dict[str, list[dict[str, Any]]] = {}
            self.runs: dict[str, list[dict[str, Any]]] = {}
            for i, (name, vis, lang, archived, prot, dep, codeql) in enumerate(_REPOS):
                repo = self._repo(i, name, vis, lang, archived, a)
                self.repos.append(repo)
                if prot is not None:
                    self.protection[name] = self._protection(repo, prot)
                if dep:
                    self.dependabot[name] = []
                if codeql:
                    self.code_scanning[name] = []
            self._seed_alerts(a)
            self._seed_runs(a)

    def _repo(
        self, i: int, name: str, vis: str, lang: str, archived: bool, a: datetime
    ) -> dict[str, Any]:
        full = f"{self.org}/{name}"
        created = a - timedelta(days=900 - 90 * i)
        pushed = a - timedelta(hours=5 + 37 * i) if not archived else a - timedelta(days=400)
        return {
            "id": 600_000 + i,
            "node_id": f"R_kgDO{600_000 + i}",
            "name": name,
            "full_name": full,
            "private": vis != "public",
            "owner": {"login": self.org, "id": 9_000_001, "type": "Organization",
                      "url": f"https://api.github.com/users/{self.org}"},
            "html_url": f"https://github.com/{full}",
            "description": f"{name.replace('-', ' ').title()} service",
            "fork": False,
            "url": f"https://api.github.com/repos/{full}",
            "created_at": iso(created),
            "updated_at": iso(pushed + timedelta(minutes=3)),
            "pushed_at": iso(pushed),
            "homepage": None,
            "size": 1024 * (i + 3),
            "stargazers_count": 3 * i,
            "watchers_count": 3 * i,
            "language": lang,
            "forks_count": i % 3,
            "archived": archived,
            "disabled": False,
            "open_issues_count": 2 * i,
            "license": None if vis != "public" else {"key": "mit", "name": "MIT License",
                                                        "spdx_id": "MIT"},
            "topics": [lang.lower()],
            "visibility": vis,
            "default_branch": "main",
            "allow_forking": vis == "public",
            "is_template": False,
            "has_issues": True,
            "security_and_analysis": None,
        }

    def _protection(self, repo: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        base = f"{repo['url']}/branches/main/protection"
        body: dict[str, Any] = {
            "url": base,
            "enforce_admins": {"url": f"{base}/enforce_admins", "enabled": p["admins"]},
            "required_linear_history": {"enabled": False},
            "allow_force_pushes": {"enabled": p["force"]},
            "allow_deletions": {"enabled": False},
            "block_creations": {"enabled": False},
            "required_conversation_resolution": {"enabled": p["reviews"] > 0},
            "lock_branch": {"enabled": False},
            "allow_fork_syncing": {"enabled": False},
            "required_signatures": {"url": f"{base}/required_signatures", "enabled": False},
        }
        if p["checks"]:
            body["required_status_checks"] = {
                "url": f"{base}/required_status_checks",
                "strict": True,
                "contexts": list(p["checks"]),
                "contexts_url": f"{base}/required_status_checks/contexts",
                "checks": [{"context": c, "app_id": None} for c in p["checks"]],
            }
        if p["reviews"] > 0:
            body["required_pull_request_reviews"] = {
                "url": f"{base}/required_pull_request_reviews",
                "dismiss_stale_reviews": True,
                "require_code_owner_reviews": p["reviews"] > 1,
                "required_approving_review_count": p["reviews"],
                "require_last_push_approval": False,
            }
        return body

    def _seed_alerts(self, a: datetime) -> None:
        eco_repos = {
            "pip": ["payments-api", "docs-site"],
            "npm": ["web-portal", "docs-site"],
            "go": ["auth-service"],
            "maven": ["legacy-billing", "mobile-app"],
            "terraform": ["infra-terraform"],
        }
        age = 0
        for adv in _ADVISORIES:
            for repo in eco_repos.get(adv[1], []):
                if repo not in self.dependabot:
                    continue
                age += 1
                state = "fixed" if age % 5 == 0 else "dismissed" if age % 7 == 0 else "open"
                self._add_dependabot(repo, adv, a - timedelta(days=60 - 3 * age), state)
        for i, repo in enumerate(r for r in self.code_scanning):
            for j in range(2):
                rule = _CODE_RULES[(i * 2 + j) % len(_CODE_RULES)]
                created = a - timedelta(days=30 - 4 * i - j, hours=j)
                state = "fixed" if (i + j) % 4 == 3 else "open"
                self._add_code_alert(repo, rule, created, state)

    def _add_dependabot(
        self, repo: str, adv: tuple[Any, ...], created: datetime, state: str
    ) -> dict[str, Any]:
        package, eco, manifest, sev, cve, ghsa, summary, vrange, patched, score = adv
        alerts = self.dependabot[repo]
        number = len(alerts) + 1
        full = f"{self.org}/{repo}"
        updated = created + timedelta(days=2 if state != "open" else 0, hours=number)
        identifiers = [{"type": "GHSA", "value": ghsa}]
        if cve:
            identifiers.append({"type": "CVE", "value": cve})
        dismissed = state == "dismissed"
        alert = {
            "number": number,
            "state": state,
            "dependency": {
                "package": {"ecosystem": eco, "name": package},
                "manifest_path": manifest,
                "scope": "runtime",
                "relationship": "direct",
            },
            "security_advisory": {
                "ghsa_id": ghsa,
                "cve_id": cve,
                "summary": summary,
                "description": f"{summary}. Upgrade {package} to {patched} or later.",
                "severity": sev,
                "identifiers": identifiers,
                "references": [{"url": f"https://github.com/advisories/{ghsa}"}],
                "published_at": iso(created - timedelta(days=30)),
                "updated_at": iso(created - timedelta(days=10)),
                "withdrawn_at": None,
                "vulnerabilities": [{
                    "package": {"ecosystem": eco, "name": package},
                    "severity": sev,
                    "vulnerable_version_range": vrange,
                    "first_patched_version": {"identifier": patched},
                }],
                "cvss": {"vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                         "score": score},
                "cwes": [{"cwe_id": "CWE-400", "name": "Uncontrolled Resource Consumption"}],
            },
            "security_vulnerability": {
                "package": {"ecosystem": eco, "name": package},
                "severity": sev,
                "vulnerable_version_range": vrange,
                "first_patched_version": {"identifier": patched},
            },
            "url": f"https://api.github.com/repos/{full}/dependabot/alerts/{number}",
            "html_url": f"https://github.com/{full}/security/dependabot/{number}",
            "created_at": iso(created),
            "updated_at": iso(updated),
            "dismissed_at": iso(updated) if dismissed else None,
            "dismissed_by": self._user_ref("mona-admin") if dismissed else None,
            "dismissed_reason": "tolerable_risk" if dismissed else None,
            "dismissed_comment": "Not reachable in our usage." if dismissed else None,
            "fixed_at": iso(updated) if state == "fixed" else None,
            "auto_dismissed_at": None,
        }
        alerts.append(alert)
        return alert

    def _add_code_alert(
        self, repo: str, rule: tuple[str, str, str, str], created: datetime, state: str
    ) -> dict[str, Any]:
        rule_id, severity, sec_level, description = rule
        alerts = self.code_scanning[repo]
        number = len(alerts) + 1
        full = f"{self.org}/{repo}"
        updated = created + timedelta(days=3 if state == "fixed" else 0, minutes=number)
        sha = hashlib.sha1(f"{repo}{number}".encode(), usedforsecurity=False).hexdigest()
        alert = {
            "number": number,
            "created_at": iso(created),
            "updated_at": iso(updated),
            "url": f"https://api.github.com/repos/{full}/code-scanning/alerts/{number}",
            "html_url": f"https://github.com/{full}/security/code-scanning/{number}",
            "state": state,
            "fixed_at": iso(updated) if state == "fixed" else None,
            "dismissed_by": None,
            "dismissed_at": None,
            "dismissed_reason": None,
            "dismissed_comment": None,
            "rule": {
                "id": rule_id,
                "severity": severity,
                "description": description,
                "name": rule_id,
                "tags": ["security", f"external/cwe/cwe-{79 + number}"],
                "security_severity_level": sec_level,
            },
            "tool": {"name": "CodeQL", "guid": None, "version": "2.17.6"},
            "most_recent_instance": {
                "ref": "refs/heads/main",
                "analysis_key": ".github/workflows/codeql.yml:analyze",
                "environment": "{}",
                "category": ".github/workflows/codeql.yml:analyze",
                "state": state,
                "commit_sha": sha,
                "message": {"text": description + "."},
                "location": {"path": f"src/module_{number}.py", "start_line": 10 * number,
                             "end_line": 10 * number + 2, "start_column": 5, "end_column": 40},
                "classifications": [],
            },
            "instances_url": f"https://api.github.com/repos/{full}/code-scanning/alerts/"
            f"{number}/instances",
        }
        alerts.append(alert)
        return alert

    def _seed_runs(self, a: datetime) -> None:
        for repo in ("payments-api", "web-portal", "infra-terraform", "mobile-app", "auth-service"):
            self.runs[repo] = []
            for k in range(6):
                created = a - timedelta(days=6 - k, hours=(k * 5) % 11, minutes=7 * k)
                conclusion = "failure" if k % 4 == 2 else "success"
                self._add_run(repo, created, "completed", conclusion)

    def _add_run(
        self, repo: str, created: datetime, status: str, conclusion: str | None
    ) -> dict[str, Any]:
        runs = self.runs.setdefault(repo, [])
        index = len(runs)
        workflow, path, workflow_id = _WORKFLOWS[index % 2]
        run_id = 30_000_000 + 1000 * [r[0] for r in _REPOS].index(repo) + index
        actor = self._user_ref(str(self.members[(index + len(repo)) % len(self.members)]["login"]))
        sha = hashlib.sha1(f"{repo}-{index}".encode(), usedforsecurity=False).hexdigest()
        full = f"{self.org}/{repo}"
        started = created + timedelta(seconds=20) if status == "completed" else created
        updated = started + timedelta(minutes=4 + index % 5) if status == "completed" else started
        run = {
            "id": run_id,
            "name": workflow,
            "node_id": f"WFR_kwLO{run_id}",
            "head_branch": "main",
            "head_sha": sha,
            "path": path,
            "display_title": f"Merge pull request #{100 + index} from feature-{index}",
            "run_number": index + 1,
            "event": "push" if index % 3 else "pull_request",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": workflow_id,
            "check_suite_id": run_id + 5,
            "url": f"https://api.github.com/repos/{full}/actions/runs/{run_id}",
            "html_url": f"https://github.com/{full}/actions/runs/{run_id}",
            "created_at": iso(created),
            "updated_at": iso(updated),
            "run_attempt": 1,
            "run_started_at": iso(started),
            "actor": actor,
            "triggering_actor": actor,
            "repository": {"id": self._repo_by_name(repo)["id"], "name": repo, "full_name": full},
            "head_commit": {"id": sha, "message": f"Change {index}",
                            "timestamp": iso(created - timedelta(minutes=1))},
        }
        runs.append(run)
        return run

    def _user_ref(self, login: str) -> dict[str, Any]:
        member = next(m for m in self.members if m["login"] == login)
        return _public(member)

    def _repo_by_name(self, name: str) -> dict[str, Any]:
        return next(r for r in self.repos if r["name"] == name)

    def state_summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "members": len(self.members),
                "repositories": len(self.repos),
                "protected_branches": len(self.protection),
                "dependabot_alerts": sum(len(v) for v in self.dependabot.values()),
                "code_scanning_alerts": sum(len(v) for v in self.code_scanning.values()),
                "workflow_runs": sum(len(v) for v in self.runs.values()),
                "installation_tokens_issued": self.tokens_issued,
            }

    def advance(self, steps: int = 1) -> dict[str, Any]:
        """Time passes: running workflow runs complete, new runs start, new alerts appear."""
        changed: dict[str, int] = {"runs_completed": 0, "runs_started": 0, "alerts": 0}
        with self.lock:
            for _ in range(steps):
                self._steps += 1
                # Each step is at least a second after the last: GitHub's timestamps have
                # second precision, and a step is "later" by definition.
                now = max(datetime.now(UTC).replace(microsecond=0),
                          self._last_step + timedelta(seconds=1))
                self._last_step = now
                for runs in self.runs.values():
                    for run in runs:
                        if run["status"] != "completed":
                            run["status"] = "completed"
                            ok = self._random.random() > 0.2
                            run["conclusion"] = "success" if ok else "failure"
                            run["updated_at"] = iso(now)
                            changed["runs_completed"] += 1
                repo = list(self.runs)[self._steps % len(self.runs)]
                self._add_run(repo, now, "in_progress", None)
                changed["runs_started"] += 1
                if self._steps % 3 == 0:
                    target = list(self.dependabot)[self._steps % len(self.dependabot)]
                    adv = _ADVISORIES[self._steps % len(_ADVISORIES)]
                    self._add_dependabot(target, adv, now, "open")
                    changed["alerts"] += 1
        return changed

    # ---- webhooks ----------------------------------------------------------------------------

    def webhook_payload(self, event: str, *, repo: str = "payments-api") -> dict[str, Any]:
        """A realistic delivery body for ``event`` about ``repo`` (from the simulated state)."""
        with self.lock:
            repository = _public(self._repo_by_name(repo))
            sender = self._user_ref("ann-lee")
            org = {"login": self.org, "id": 9_000_001}
            common = {"repository": repository, "organization": org, "sender": sender}
            if event == "push":
                sha = hashlib.sha1(f"push-{repo}".encode(), usedforsecurity=False).hexdigest()
                return {
                    "ref": "refs/heads/main",
                    "before": "0" * 40,
                    "after": sha,
                    "forced": False,
                    "commits": [{"id": sha, "message": "Fix input validation",
                                 "timestamp": iso(self.anchor),
                                 "author": {"name": "Ann Lee", "username": "ann-lee"}}],
                    "head_commit": {"id": sha, "message": "Fix input validation",
                                    "timestamp": iso(self.anchor)},
                    "pusher": {"name": "ann-lee"},
                    **common,
                }
            if event == "pull_request":
                return {
                    "action": "opened",
                    "number": 101,
                    "pull_request": {
                        "id": 1_700_000_101, "number": 101, "state": "open",
                        "title": "Add audit logging", "user": sender,
                        "html_url": f"https://github.com/{self.org}/{repo}/pull/101",
                        "created_at": iso(self.anchor), "updated_at": iso(self.anchor),
                        "merged": False, "base": {"ref": "main"}, "head": {"ref": "audit-log"},
                    },
                    **common,
                }
            if event == "workflow_run":
                run = self.runs.get(repo, [None])[-1] or {}
                return {"action": "completed", "workflow_run": run, **common}
            if event == "dependabot_alert":
                alert = (self.dependabot.get(repo) or [{}])[0]
                return {"action": "created", "alert": alert, **common}
            if event == "code_scanning_alert":
                alert = (self.code_scanning.get(repo) or [{}])[0]
                return {"action": "appeared_in_branch", "alert": alert, "ref": "refs/heads/main",
                        "commit_oid": "a" * 40, **common}
            if event == "ping":
                return {"zen": "Keep it logically awesome.", "hook_id": 1, **common}
        raise ValueError(f"unknown event {event!r}")

    def deliver_webhook(
        self,
        url: str,
        event: str,
        *,
        secret: str = DEFAULT_WEBHOOK_SECRET,
        payload: Mapping[str, Any] | None = None,
        repo: str = "payments-api",
        signature: str | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """POST a signed delivery to ``url`` as GitHub does; returns what was sent, the status.

        ``signature`` overrides the computed ``X-Hub-Signature-256`` (to test refusals).
        """
        data = payload if payload is not None else self.webhook_payload(event, repo=repo)
        body = json.dumps(data, separators=(",", ":")).encode()
        delivery = str(uuid.uuid4())
        sha256 = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        sha1 = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/sim",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-Type": "organization",
            "X-GitHub-Hook-Installation-Target-ID": "9000001",
            "X-Hub-Signature": sha1,
            "X-Hub-Signature-256": signature if signature is not None else sha256,
        }
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.post(url, content=body, headers=headers)
        record = {"delivery": delivery, "event": event, "url": url,
                  "status": response.status_code, "headers": headers, "body": body.decode()}
        self.webhook_deliveries.append(record)
        return record

    def trigger(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_sim/events {"url": ..., "event": "push", "secret": ..., "repo": ...}``."""
        url = payload.get("url")
        if not isinstance(url, str):
            raise SimError(JSONResponse({"error": "url is required"}, status_code=400))
        record = self.deliver_webhook(
            url,
            str(payload.get("event", "push")),
            secret=str(payload.get("secret", DEFAULT_WEBHOOK_SECRET)),
            repo=str(payload.get("repo", "payments-api")),
        )
        return {k: record[k] for k in ("delivery", "event", "status")}

    # ---- errors and rate limits ----------------------------------------------------------------

    def render_error(self, status: int, message: str | None) -> Response:
        default = {401: "Bad credentials", 403: "Forbidden", 404: "Not Found",
                   422: "Validation Failed", 500: "Server Error", 502: "Server Error",
                   503: "Service Unavailable"}
        return _error(status, message or default.get(status, "Error"))

    def render_throttle(self, rule: FaultRule) -> Response:
        """A secondary rate limit: 403 (or 429) with ``Retry-After``."""
        return JSONResponse(
            {
                "message": rule.message
                or "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again.",
                "documentation_url": RATE_DOCS + "#about-secondary-rate-limits",
            },
            status_code=rule.status or 403,
            headers={"Retry-After": f"{rule.retry_after:g}"},
        )

    def _authenticate(self, request: Request) -> _Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise SimError(_error(401, "Requires authentication"))
        token = token.strip()
        if scheme.lower() not in ("bearer", "token") or not token:
            raise SimError(_error(401, "Bad credentials"))
        with self.lock:
            if token in self.pat_tokens:
                return _Principal("pat", "mona-admin", self.pat_tokens[token], token)
            if token in self.oauth_tokens:
                return _Principal("oauth", "octo-ops", self.oauth_tokens[token], token)
            expires = self.installation_tokens.get(token)
        if expires is not None and expires > time.time():
            return _Principal("installation", "sim-app[bot]", True, "installation")
        raise SimError(_error(401, "Bad credentials"))

    def _api(self, request: Request) -> tuple[_Principal, dict[str, str]]:
        """Version check, authentication and the primary rate limit of one API request."""
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            raise SimError(_error(
                400, f"The '{version}' API version is not supported. Supported versions: "
                + ", ".join(SUPPORTED_VERSIONS) + ".",
            ))
        principal = self._authenticate(request)
        with self.lock:
            used, remaining, reset = self.rate.spend(principal.key)
        headers = {
            "X-RateLimit-Limit": str(self.rate.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset) + (1 if reset % 1 else 0)),
            "X-RateLimit-Used": str(min(used, self.rate.limit)),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": version or DEFAULT_VERSION,
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
        }
        if used > self.rate.limit:
            user_id = 1 if principal.kind != "installation" else self.installation_id
            raise SimError(_error(
                403,
                f"API rate limit exceeded for user ID {user_id}. If you reach out to GitHub "
                "Support for help, please include the request ID.",
                headers=headers,
                docs=RATE_DOCS + "#about-the-primary-rate-limit",
            ))
        return principal, headers

    # ---- routes ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/rate_limit", self._rate_limit, methods=["GET"]),
            Route("/user", self._user, methods=["GET"]),
            Route("/orgs/{org}", self._get_org, methods=["GET"]),
            Route("/orgs/{org}/members", self._list_members, methods=["GET"]),
            Route("/orgs/{org}/repos", self._list_repos, methods=["GET"]),
            Route("/repos/{owner}/{repo}", self._get_repo, methods=["GET"]),
            Route("/repos/{owner}/{repo}/branches/{branch}/protection", self._get_protection,
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/dependabot/alerts", self._list_dependabot,
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/code-scanning/alerts", self._list_code_scanning,
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/actions/runs", self._list_runs, methods=["GET"]),
            Route("/app/installations/{installation_id:int}/access_tokens",
                  self._installation_token, methods=["POST"]),
            Route("/login/oauth/access_token", self._oauth_token, methods=["POST"]),
        ]

    async def _rate_limit(self, request: Request) -> Response:
        principal = self._authenticate(request)
        with self.lock:
            used = self.rate.used.get(principal.key, 0)
            reset = self.rate.resets.get(principal.key, time.time() + self.rate.window_s)
        core = {"limit": self.rate.limit, "used": used,
                "remaining": max(0, self.rate.limit - used), "reset": int(reset)}
        return JSONResponse({"resources": {"core": core}, "rate": core})

    async def _user(self, request: Request) -> Response:
        principal, headers = self._api(request)
        if principal.kind == "installation":
            raise SimError(_error(403, "Resource not accessible by integration", headers=headers))
        member = next(m for m in self.members if m["login"] == principal.login)
        return JSONResponse({**_public(member), "name": member["_name"]}, headers=headers)

    def _check_org(self, org: str, headers: dict[str, str]) -> None:
        if org.lower() != self.org.lower():
            raise SimError(_error(404, "Not Found", headers=headers))

    def _find_repo(self, owner: str, name: str, headers: dict[str, str]) -> dict[str, Any]:
        self._check_org(owner, headers)
        with self.lock:
            repo = next((r for r in self.repos if r["name"].lower() == name.lower()), None)
        if repo is None:
            raise SimError(_error(404, "Not Found", headers=headers))
        return repo

    async def _get_org(self, request: Request) -> Response:
        principal, headers = self._api(request)
        self._check_org(request.path_params["org"], headers)
        body: dict[str, Any] = {
            "login": self.org,
            "id": 9_000_001,
            "node_id": "O_kgDOSim",
            "url": f"https://api.github.com/orgs/{self.org}",
            "description": "ACME Corp engineering",
            "name": "ACME Corp",
            "html_url": f"https://github.com/{self.org}",
            "public_repos": sum(1 for r in self.repos if not r["private"]),
            "created_at": iso(self.anchor - timedelta(days=1500)),
            "type": "Organization",
        }
        if principal.owner:  # owners (and apps with org admin read) see these
            body["two_factor_requirement_enabled"] = False
            body["total_private_repos"] = sum(1 for r in self.repos if r["private"])
            body["plan"] = {"name": "enterprise", "seats": 50, "filled_seats": len(self.members)}
        return JSONResponse(body, headers=headers)

    async def _list_members(self, request: Request) -> Response:
        principal, headers = self._api(request)
        self._check_org(request.path_params["org"], headers)
        q = request.query_params
        member_filter = q.get("filter", "all")
        role = q.get("role", "all")
        if member_filter not in ("all", "2fa_disabled", "2fa_insecure") or role not in (
            "all", "admin", "member"
        ):
            raise SimError(_validation_failed(headers))
        if member_filter != "all" and not principal.owner:
            raise SimError(_error(422, "Only owners can use this filter.", headers=headers))
        with self.lock:
            members = [
                m for m in self.members
                if (member_filter == "all" or not m["_2fa"])
                and (role == "all" or m["_owner"] == (role == "admin"))
            ]
        return _page(request, [_public(m) for m in members], headers)

    async def _list_repos(self, request: Request) -> Response:
        _, headers = self._api(request)
        self._check_org(request.path_params["org"], headers)
        kind = request.query_params.get("type", "all")
        with self.lock:
            repos = [
                dict(r) for r in self.repos
                if kind == "all"
                or (kind == "public" and r["visibility"] == "public")
                or (kind == "private" and r["private"])
            ]
        return _page(request, repos, headers)

    async def _get_repo(self, request: Request) -> Response:
        _, headers = self._api(request)
        repo = self._find_repo(request.path_params["owner"], request.path_params["repo"], headers)
        return JSONResponse(repo, headers=headers)

    async def _get_protection(self, request: Request) -> Response:
        _, headers = self._api(request)
        repo = self._find_repo(request.path_params["owner"], request.path_params["repo"], headers)
        if request.path_params["branch"] != repo["default_branch"]:
            raise SimError(_error(404, "Branch not found", headers=headers))
        with self.lock:
            protection = self.protection.get(repo["name"])
        if protection is None:
            raise SimError(_error(
                404, "Branch not protected", headers=headers,
                docs=DOCS + "/branches/branch-protection#get-branch-protection",
            ))
        return JSONResponse(protection, headers=headers)

    async def _list_dependabot(self, request: Request) -> Response:
        _, headers = self._api(request)
        repo = self._find_repo(request.path_params["owner"], request.path_params["repo"], headers)
        with self.lock:
            alerts = self.dependabot.get(repo["name"])
            alerts = [dict(a) for a in alerts] if alerts is not None else None
        if alerts is None:
            raise SimError(_error(
                403, "Dependabot alerts are disabled for this repository.", headers=headers,
                docs=DOCS + "/dependabot/alerts#list-dependabot-alerts-for-a-repository",
            ))
        q = request.query_params
        alerts = _filter_alerts(alerts, q, severity=lambda a: a["security_advisory"]["severity"])
        if "page" in q:  # GitHub: page-based pagination is not supported here
            raise SimError(_error(
                400, "Pagination using the `page` parameter is not supported.", headers=headers
            ))
        per_page = _per_page(q)
        start = 0
        after = q.get("after")
        if after:
            try:
                start = int(after.removeprefix("Y3Vyc29y").rstrip("=") or 0)
            except ValueError:
                raise SimError(_validation_failed(headers)) from None
        chunk = alerts[start : start + per_page]
        if start + per_page < len(alerts):
            nxt = request.url.include_query_params(after=f"Y3Vyc29y{start + per_page}")
            headers = {**headers, "Link": f'<{nxt}>; rel="next"'}
        return JSONResponse(chunk, headers=headers)

    async def _list_code_scanning(self, request: Request) -> Response:
        _, headers = self._api(request)
        repo = self._find_repo(request.path_params["owner"], request.path_params["repo"], headers)
        with self.lock:
            alerts = self.code_scanning.get(repo["name"])
            alerts = [dict(a) for a in alerts] if alerts is not None else None
        if alerts is None:
            raise SimError(_error(
                404, "no analysis found", headers=headers,
                docs=DOCS + "/code-scanning/code-scanning#list-code-scanning-alerts-for-a-"
                "repository",
            ))
        alerts = _filter_alerts(
            alerts, request.query_params, severity=lambda a: a["rule"]["security_severity_level"]
        )
        return _page(request, alerts, headers)

    async def _list_runs(self, request: Request) -> Response:
        _, headers = self._api(request)
        repo = self._find_repo(request.path_params["owner"], request.path_params["repo"], headers)
        q = request.query_params
        with self.lock:
            runs = [dict(r) for r in self.runs.get(repo["name"], [])]
        created = q.get("created")
        if created:
            try:
                test = _date_filter(created)
            except ValueError:
                raise SimError(_validation_failed(headers)) from None
            runs = [r for r in runs if test(_parse(r["created_at"]))]
        if q.get("status"):
            runs = [r for r in runs if q["status"] in (r["status"], r["conclusion"])]
        runs.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        page, per_page = _page_params(q)
        chunk = runs[(page - 1) * per_page : page * per_page]
        link = _link(request, page, per_page, len(runs))
        if link:
            headers = {**headers, "Link": link}
        return JSONResponse({"total_count": len(runs), "workflow_runs": chunk}, headers=headers)

    async def _installation_token(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise SimError(_error(401, "A JSON web token could not be decoded"))
        try:
            claims = jwt.decode(token.strip(), self._app_public_key, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise SimError(_error(401, "A JSON web token could not be decoded")) from None
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if str(claims.get("iss")) != str(self.app_id):
            raise SimError(_error(401, "'Issuer' claim ('iss') must be an Integer"))
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise SimError(_error(401, "A JSON web token could not be decoded"))
        if exp <= now:
            raise SimError(_error(401, "'Expiration time' claim ('exp') must be a numeric value "
                                       "representing the future time at which the assertion "
                                       "expires"))
        if exp - iat > 660 or exp > now + 660:
            raise SimError(_error(401, "'Expiration time' claim ('exp') is too far in the "
                                       "future"))
        if iat > now + 60:
            raise SimError(_error(401, "'Issued at' claim ('iat') must be an Integer "
                                       "representing the time that the assertion was issued"))
        if request.path_params["installation_id"] != self.installation_id:
            raise SimError(_error(404, "Not Found"))
        token_value = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = now + self.installation_token_ttl_s
        with self.lock:
            self.installation_tokens[token_value] = expires
            self.tokens_issued += 1
        return JSONResponse(
            {
                "token": token_value,
                "expires_at": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": {"members": "read", "administration": "read",
                                "security_events": "read", "vulnerability_alerts": "read",
                                "actions": "read", "metadata": "read"},
                "repository_selection": "all",
            },
            status_code=201,
        )

    async def _oauth_token(self, request: Request) -> Response:
        form = await form_body(request)
        basic = request.headers.get("authorization", "")
        client_id = str(form.get("client_id", ""))
        client_secret = str(form.get("client_secret", ""))
        if basic.lower().startswith("basic "):
            import base64  # noqa: PLC0415 - only this endpoint needs it

            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.oauth_client_id or client_secret != self.oauth_client_secret:
            return JSONResponse({"error": "incorrect_client_credentials",
                                 "error_description": "The client_id and/or client_secret "
                                 "passed are incorrect."}, status_code=401)
        refresh = str(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or refresh not in self.oauth_refresh_tokens:
            return JSONResponse({"error": "bad_refresh_token",
                                 "error_description": "The refresh token passed is incorrect "
                                 "or expired."}, status_code=400)
        access = "gho_" + secrets.token_hex(18)
        new_refresh = "ghr_" + secrets.token_hex(30)
        with self.lock:
            self.oauth_refresh_tokens.discard(refresh)
            self.oauth_refresh_tokens.add(new_refresh)
            self.oauth_tokens[access] = True
        return JSONResponse({"access_token": access, "token_type": "bearer", "scope": "",
                             "expires_in": 28800, "refresh_token": new_refresh,
                             "refresh_token_expires_in": 15811200})


# ---- helpers ------------------------------------------------------------------------------------


def _public(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _error(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, docs: str = DOCS
) -> JSONResponse:
    return JSONResponse(
        {"message": message, "documentation_url": docs, "status": str(status)},
        status_code=status,
        headers=dict(headers or {}),
    )


def _validation_failed(headers: Mapping[str, str]) -> JSONResponse:
    return _error(422, "Validation Failed", headers=headers)


def _per_page(q: Mapping[str, str]) -> int:
    try:
        return max(1, min(100, int(q.get("per_page", "30"))))
    except ValueError:
        return 30


def _page_params(q: Mapping[str, str]) -> tuple[int, int]:
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    return page, _per_page(q)


def _link(request: Request, page: int, per_page: int, total: int) -> str | None:
    last = max(1, -(-total // per_page))
    parts = []
    url = request.url
    if page < last:
        parts.append(f'<{url.include_query_params(page=page + 1, per_page=per_page)}>; rel="next"')
        parts.append(f'<{url.include_query_params(page=last, per_page=per_page)}>; rel="last"')
    if page > 1:
        parts.append(f'<{url.include_query_params(page=page - 1, per_page=per_page)}>; rel="prev"')
        parts.append(f'<{url.include_query_params(page=1, per_page=per_page)}>; rel="first"')
    return ", ".join(parts) or None


def _page(request: Request, items: list[dict[str, Any]], headers: dict[str, str]) -> Response:
    page, per_page = _page_params(request.query_params)
    chunk = items[(page - 1) * per_page : page * per_page]
    link = _link(request, page, per_page, len(items))
    return JSONResponse(chunk, headers={**headers, "Link": link} if link else headers)


def _filter_alerts(
    alerts: list[dict[str, Any]], q: Mapping[str, str], *, severity: Any
) -> list[dict[str, Any]]:
    if q.get("state"):
        wanted = set(q["state"].split(","))
        alerts = [a for a in alerts if a["state"] in wanted]
    if q.get("severity"):
        levels = set(q["severity"].split(","))
        alerts = [a for a in alerts if severity(a) in levels]
    key = "updated_at" if q.get("sort") == "updated" else "created_at"
    descending = q.get("direction", "desc") != "asc"
    return sorted(alerts, key=lambda a: (a[key], a["number"]), reverse=descending)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _date_filter(expression: str) -> Any:
    """GitHub's search date qualifiers: ``>=2024-01-01T00:00:00Z``, ``a..b``, ``<d``, ``d``."""

    def when(text: str, *, end: bool = False) -> datetime:
        text = text.strip()
        if len(text) == 10:  # a date: the whole day
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1) - timedelta(microseconds=1) if end else day
        return _parse(text)

    if ".." in expression:
        low, high = expression.split("..", 1)
        lo = when(low) if low and low != "*" else None
        hi = when(high, end=True) if high and high != "*" else None
        return lambda d: (lo is None or d >= lo) and (hi is None or d <= hi)
    for op in (">=", "<=", ">", "<"):
        if expression.startswith(op):
            return _compare(op, when(expression[len(op):], end=op in ("<=", ">")))
    lo, hi = when(expression), when(expression, end=True)
    return lambda d: lo <= d <= hi


def _compare(op: str, moment: datetime) -> Any:
    return {
        ">=": lambda d: d >= moment,
        "<=": lambda d: d <= moment,
        ">": lambda d: d > moment,
        "<": lambda d: d < moment,
    }[op]
