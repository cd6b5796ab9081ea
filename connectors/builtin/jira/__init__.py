"""The built-in Jira connector (ITSM, bi-directional)."""

from connectors.builtin.jira.adapters import adf_to_text, text_to_adf
from connectors.builtin.jira.connector import (
    AddComment,
    CreateIssue,
    JiraConfig,
    JiraConnector,
    TransitionIssue,
    dedupe_label,
    default_mappings,
)

__all__ = [
    "AddComment",
    "CreateIssue",
    "JiraConfig",
    "JiraConnector",
    "TransitionIssue",
    "adf_to_text",
    "dedupe_label",
    "default_mappings",
    "text_to_adf",
]
