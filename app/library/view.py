"""The Connectors page: the categorised, searchable library and one connector's details.

"Configure…" opens the wizard with the connector chosen.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QTextBrowser, QWidget

from app.core.api import ApiClient, JsonDict
from app.credentials.core import auth_title
from app.library.widget import ConnectorLibrary
from app.qt import layout
from app.qt.aio import BackgroundOp
from app.qt.session import AgentSession
from app.shell.page import Page


async def load_library(api: ApiClient) -> list[JsonDict]:
    """Connectors, each with ``instance_count`` (how many instances use it)."""
    connectors, instances = await asyncio.gather(
        api.list_all("/connectors", page_size=200, max_items=2000),
        api.list_all("/instances", page_size=200, max_items=5000),
    )
    counts: dict[str, int] = {}
    for instance in instances:
        key = str(instance.get("connector_id"))
        counts[key] = counts.get(key, 0) + 1
    for connector in connectors:
        connector["instance_count"] = counts.get(str(connector.get("id")), 0)
    return connectors


def details_html(connector: JsonDict) -> str:
    """The detail pane for one connector (plain data in, escaped HTML out)."""
    caps = connector.get("capabilities") or {}
    can = [
        word
        for word, flag in (
            ("read", caps.get("read")),
            ("write", caps.get("write")),
            ("webhooks", caps.get("webhooks")),
            ("discovery", caps.get("discover")),
        )
        if flag
    ]
    actions = [a.get("name") for a in caps.get("actions") or [] if isinstance(a, dict)]
    rows = [
        ("Category", connector.get("system_type")),
        ("Vendor", connector.get("vendor") or "—"),
        ("Version", connector.get("version")),
        ("Origin", connector.get("origin")),
        ("Sign-in", ", ".join(auth_title(str(m)) for m in connector.get("auth_methods") or [])),
        ("Can", ", ".join(can) or "—"),
        ("Actions", ", ".join(map(str, actions)) or "—"),
        ("API versions", ", ".join(map(str, caps.get("api_versions") or [])) or "—"),
        ("Instances", connector.get("instance_count", 0)),
        ("Available", "yes" if connector.get("available", True) else "no (package missing)"),
    ]
    body = "".join(
        f"<tr><td style='padding:2px 10px 2px 0;color:#5f6b7a'>{html.escape(k)}</td>"
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    docs = connector.get("documentation_url")
    link = f"<p><a href='{html.escape(docs)}'>Vendor documentation</a></p>" if docs else ""
    return (
        f"<h3>{html.escape(str(connector.get('name')))}</h3>"
        f"<p>{html.escape(str(connector.get('description') or ''))}</p>"
        f"<table>{body}</table>{link}"
    )


class ConnectorsPage(Page):
    title = "Connectors"

    sig_loaded = Signal(int)
    sig_configure_requested = Signal(str)  # connector key

    def __init__(self, session: AgentSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.library = ConnectorLibrary()
        self.library.table.setColumnHidden(4, True)  # the description is in the details pane
        self.library.sig_selected.connect(self._show)
        self.library.sig_activated.connect(self.configure)
        self.details = QTextBrowser()
        self.details.setObjectName("ConnectorDetails")
        self.details.setOpenExternalLinks(True)
        self.configure_button = QPushButton("&Configure new instance…")
        self.configure_button.setProperty("primary", True)
        self.configure_button.clicked.connect(lambda: self.configure(self.library.selected()))
        self.splitter = QSplitter()
        self.splitter.addWidget(self.library)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout.restore_splitter(self.splitter, "connectors")
        self.root.addWidget(self.splitter, 1)
        self.count_label = QLabel("")
        self.count_label.setObjectName("Hint")
        column = QHBoxLayout()
        column.addWidget(self.count_label, 1)
        column.addWidget(self.configure_button)
        self.root.addLayout(column)
        self._update_actions()

    def focus_search(self) -> None:
        self.library.search.setFocus()

    def clear(self) -> None:
        self.library.set_connectors([])
        self.details.clear()

    def refresh(self) -> None:
        if not self.session.is_connected:
            return
        api = self.session.api()
        BackgroundOp(self, lambda: load_library(api), self.show_rows).with_progress(
            "Loading connectors…"
        ).run()

    def show_rows(self, rows: list[JsonDict]) -> None:
        self.library.set_connectors(rows)
        if self.library.selected() is None and self.library.proxy.rowCount():
            self.library.table.selectRow(0)
        installed = sum(1 for r in rows if r.get("available", True))
        self.count_label.setText(f"{len(rows)} connectors, {installed} available")
        self.sig_loaded.emit(len(rows))

    def _show(self, row: JsonDict | None) -> None:
        self.details.setHtml(details_html(row) if row else "")
        self._update_actions()

    def on_status(self, status: Any) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        row = self.library.selected()
        writable = self.session.is_connected and self.session.role in ("admin", "operator")
        self.configure_button.setEnabled(
            writable and row is not None and row.get("available") is not False
        )

    def configure(self, row: JsonDict | None) -> None:
        if row is None or not self.configure_button.isEnabled():
            return
        self.sig_configure_requested.emit(str(row.get("key")))
        from app.wizard.wizard import open_wizard  # noqa: PLC0415 - the wizard is heavy

        open_wizard(self.session, self.window(), connector_key=str(row.get("key")))

    def save_layout(self) -> None:
        layout.save_splitter(self.splitter, "connectors")
