"""The sidebar's pages, in order (Ctrl+1 … Ctrl+7)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.credentials.view import CredentialsPage
from app.home.view import HomePage
from app.instances.view import InstancesPage
from app.library.view import ConnectorsPage
from app.logs.view import LogsPage
from app.qt.session import AgentSession
from app.shell.page import Page, PlaceholderPage
from app.status.view import StatusPage


def build_pages(session: AgentSession, parent: QWidget) -> list[Page]:
    return [
        HomePage(session, parent),
        ConnectorsPage(session, parent),
        InstancesPage(session, parent),
        CredentialsPage(session, parent),
        StatusPage(session, parent),
        LogsPage(session, parent),
        PlaceholderPage(
            "Mapping designer",
            "The visual mapping designer is coming in a later release. Mappings can be "
            "created and tested through the agent's API (/mappings) meanwhile.",
            session,
            parent,
        ),
    ]
