"""The connector configuration wizard (a QWizard opened window-modal, never ``exec()``).

Steps: choose connector -> sign-in -> connection parameters -> test -> preview -> schedule
-> review and create. See `app.wizard.flow` for what goes to the agent when. A cancelled
wizard deletes its draft instance. ``clone_of`` starts from an existing instance.

Example::

    wizard = open_wizard(session, parent=window)                 # a new integration
    wizard = open_wizard(session, parent=window, clone_of=row)   # a copy of an instance
    wizard.sig_created.connect(lambda created: ...)
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QWidget, QWizard

from app.core.api import ApiClient, JsonDict
from app.core.errors import ConsoleError
from app.qt.aio import BackgroundOp
from app.qt.session import AgentSession
from app.wizard.flow import Created, Draft, clone_draft, discard
from app.wizard.setup_steps import ChooseConnectorPage, CredentialPage, ParametersPage
from app.wizard.verify_steps import PreviewPage, ReviewPage, SchedulePage, TestPage


class Step(enum.IntEnum):
    CONNECTOR = 0
    CREDENTIALS = 1
    PARAMETERS = 2
    TEST = 3
    PREVIEW = 4
    SCHEDULE = 5
    REVIEW = 6


STEP_NAMES = (
    "1  Connector",
    "2  Sign-in",
    "3  Parameters",
    "4  Test",
    "5  Preview",
    "6  Schedule",
    "7  Review",
)


async def load_context(api: ApiClient) -> tuple[list[JsonDict], list[JsonDict], list[str]]:
    """Connectors, credentials (empty if the role may not list them) and instance names."""

    async def credentials() -> list[JsonDict]:
        try:
            return await api.list_all("/auth-configs", page_size=200, max_items=5000)
        except ConsoleError:
            return []

    connectors, creds, instances = await asyncio.gather(
        api.list_all("/connectors", page_size=200, max_items=2000),
        credentials(),
        api.list_all("/instances", page_size=200, max_items=5000),
    )
    return connectors, creds, [str(i.get("name")) for i in instances]


class ConfigWizard(QWizard):
    """State lives in ``draft``; pages read and fill it."""

    sig_ready = Signal()  # connectors and credentials loaded
    sig_step_done = Signal(str)  # "test" / "preview": the step's request finished
    sig_created = Signal(object)  # Created

    def __init__(
        self,
        session: AgentSession,
        parent: QWidget | None = None,
        *,
        connector_key: str | None = None,
        clone_of: JsonDict | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Clone integration" if clone_of else "New integration")
        self.setObjectName("ConfigWizard")
        self.session = session
        self.draft = Draft()
        self.config_schema: JsonDict = {}
        self.connectors: list[JsonDict] = []
        self.credentials: list[JsonDict] = []
        self.instance_names: list[str] = []
        self.created: Created | None = None
        self._connector_key = connector_key
        self._clone_of = clone_of
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)

        self.choose_page = ChooseConnectorPage(self)
        self.credential_page = CredentialPage(self)
        self.parameters_page = ParametersPage(self)
        self.test_page = TestPage(self)
        self.preview_page = PreviewPage(self)
        self.schedule_page = SchedulePage(self)
        self.review_page = ReviewPage(self)
        for step, page in zip(Step, self.step_pages(), strict=True):
            self.setPage(step, page)

        self.steps = QListWidget()
        self.steps.setObjectName("WizardSteps")
        self.steps.setFixedWidth(150)
        self.steps.addItems(list(STEP_NAMES))
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # a map of where you are, not navigation: clicks snap back to the current step
        self.steps.itemClicked.connect(lambda _item: self.steps.setCurrentRow(self.currentId()))
        self.setSideWidget(self.steps)
        self.currentIdChanged.connect(self._on_step)
        self.resize(980, 700)
        self.load()

    def step_pages(self) -> list[Any]:
        return [
            self.choose_page,
            self.credential_page,
            self.parameters_page,
            self.test_page,
            self.preview_page,
            self.schedule_page,
            self.review_page,
        ]

    def _on_step(self, step: int) -> None:
        self.steps.setCurrentRow(step)

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        api = self.session.api()
        BackgroundOp(self, lambda: load_context(api), self._loaded).failure(
            lambda e: self.choose_page.show_error(e, "Loading the connectors failed: ")
        ).with_progress("Loading connectors…").run()

    def _loaded(self, context: tuple[list[JsonDict], list[JsonDict], list[str]]) -> None:
        self.connectors, self.credentials, self.instance_names = context
        self.choose_page.library.set_connectors(self.connectors)
        if self._clone_of is not None:
            self._start_clone(self._clone_of)
            return
        if self._connector_key:
            self.choose_page.library.select_key(self._connector_key)
        self.sig_ready.emit()

    def _start_clone(self, instance: JsonDict) -> None:
        connector = next(
            (c for c in self.connectors if c.get("id") == instance.get("connector_id")), None
        )
        if connector is None:
            self.choose_page.say("The cloned instance's connector is not installed.", error=True)
            self.sig_ready.emit()
            return
        api = self.session.api()

        def got(schema: Any) -> None:
            config_schema = schema.get("config_schema") if isinstance(schema, dict) else {}
            self.draft = clone_draft(instance, connector, config_schema or {}, self.instance_names)
            self.config_schema = dict(config_schema or {})
            self.choose_page.library.select_key(str(connector.get("key")))
            self.choose_page.say(
                f"Cloning {instance.get('name')}: its settings are filled in; secrets in the "
                "configuration must be typed again."
            )
            self.sig_ready.emit()

        BackgroundOp(self, lambda: api.get(f"/connectors/{connector['id']}/schema"), got).run()

    def set_connector(self, connector: JsonDict, config_schema: JsonDict) -> None:
        """Step 1 chose ``connector``: a different one starts a fresh configuration."""
        if self.draft.connector_id and self.draft.connector_id != connector.get("id"):
            old = self.draft
            self.draft = Draft(instance_id=None)
            if old.instance_id is not None:  # a draft of another connector: drop it
                api = self.session.api()
                BackgroundOp(None, lambda: discard(api, old)).run()
        self.draft.connector = connector
        self.config_schema = config_schema

    # -- closing ---------------------------------------------------------------------------

    def reject(self) -> None:
        """Cancel: the draft instance the agent holds is deleted."""
        if self.created is None and self.draft.instance_id is not None:
            api = self.session.api()
            draft = self.draft
            BackgroundOp(None, lambda: discard(api, draft)).run()
        super().reject()


def open_wizard(
    session: AgentSession,
    parent: QWidget | None = None,
    *,
    connector_key: str | None = None,
    clone_of: JsonDict | None = None,
    delete_on_close: bool = True,
) -> ConfigWizard:
    """Open the wizard window-modal (``open()``, never ``exec()``)."""
    wizard = ConfigWizard(session, parent, connector_key=connector_key, clone_of=clone_of)
    if delete_on_close:
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.open()
    return wizard
