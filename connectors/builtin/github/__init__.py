"""The built-in GitHub connector (Security / DevOps)."""

from connectors.builtin.github.auth import GitHubAppAuth, build_credentials, github_app_auth
from connectors.builtin.github.connector import GitHubConfig, GitHubConnector, default_mappings

__all__ = [
    "GitHubAppAuth",
    "GitHubConfig",
    "GitHubConnector",
    "build_credentials",
    "default_mappings",
    "github_app_auth",
]
