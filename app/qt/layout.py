"""Window geometry, splitters, table headers and preferences remembered in QSettings.

An INI file in the user's config directory (``SimpleTrust/Integrations Console.ini``), the
same on every platform, so it is easy to find and to reset.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter

ORGANIZATION = "SimpleTrust"
APPLICATION = "Integrations Console"


def settings() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


def _bytes(value: object) -> QByteArray | None:
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def save_window(window: QMainWindow, name: str = "main") -> None:
    s = settings()
    s.setValue(f"{name}/geometry", window.saveGeometry())
    s.setValue(f"{name}/state", window.saveState())


def restore_window(window: QMainWindow, name: str = "main") -> bool:
    """Restore size, position and dock/toolbar state; False on first start."""
    s = settings()
    geometry = _bytes(s.value(f"{name}/geometry"))
    state = _bytes(s.value(f"{name}/state"))
    if geometry is not None:
        window.restoreGeometry(geometry)
    if state is not None:
        window.restoreState(state)
    return geometry is not None


def save_splitter(splitter: QSplitter, key: str) -> None:
    settings().setValue(f"splitters/{key}", splitter.saveState())


def restore_splitter(splitter: QSplitter, key: str) -> None:
    state = _bytes(settings().value(f"splitters/{key}"))
    if state is not None:
        splitter.restoreState(state)


def save_header(header: QHeaderView, key: str) -> None:
    settings().setValue(f"headers/{key}", header.saveState())


def restore_header(header: QHeaderView, key: str) -> None:
    state = _bytes(settings().value(f"headers/{key}"))
    if state is not None:
        header.restoreState(state)


def preference(key: str, default: str) -> str:
    value = settings().value(f"preferences/{key}", default)
    return value if isinstance(value, str) else default


def set_preference(key: str, value: str) -> None:
    settings().setValue(f"preferences/{key}", value)
