"""Light and dark themes: a QSS file each in ``resources/themes/``, on the Fusion style.

Fusion plus a matching palette gives consistent widgets on every platform; the QSS adds our
accents. Charts read `current_theme()` to pick their own theme.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

THEMES = ("light", "dark")
_PROPERTY = "simpletrust_theme"


def resources_dir() -> Path:
    """``resources/`` at the repository root (next to ``app/``)."""
    return Path(__file__).resolve().parents[2] / "resources"


def load_stylesheet(name: str) -> str:
    """The QSS text of a theme.

    Raises:
        ValueError: for an unknown theme name (naming the known ones).
    """
    if name not in THEMES:
        raise ValueError(f"Theme: {name!r} is not one of {', '.join(THEMES)}")
    path = resources_dir() / "themes" / f"{name}.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("theme file %s unreadable (%s); using the plain style", path, exc)
        return ""


def _palette(name: str) -> QPalette:
    palette = QPalette()
    if name == "dark":
        role = QPalette.ColorRole
        for r, color in (
            (role.Window, "#1f2227"),
            (role.WindowText, "#e6e6e6"),
            (role.Base, "#16181c"),
            (role.AlternateBase, "#23272e"),
            (role.Text, "#e6e6e6"),
            (role.Button, "#2a2e35"),
            (role.ButtonText, "#e6e6e6"),
            (role.Highlight, "#3d7bd9"),
            (role.HighlightedText, "#ffffff"),
            (role.ToolTipBase, "#2a2e35"),
            (role.ToolTipText, "#e6e6e6"),
            (role.PlaceholderText, "#8a8f98"),
            (role.Link, "#6aa5ff"),
        ):
            palette.setColor(r, QColor(color))
        palette.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#70757d"))
        palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#70757d"))
    return palette


def apply_theme(app: QApplication, name: str) -> None:
    """Switch the whole application to a theme (raises ValueError for unknown names)."""
    qss = load_stylesheet(name)
    app.setStyle("Fusion")
    app.setPalette(_palette(name) if name == "dark" else app.style().standardPalette())
    app.setStyleSheet(qss)
    app.setProperty(_PROPERTY, name)


def current_theme() -> str:
    app = QApplication.instance()
    value = app.property(_PROPERTY) if app is not None else None
    return value if isinstance(value, str) and value in THEMES else "light"
