"""A form generated from a JSON Schema: one input per field, errors under the field they name.

Strings, numbers, booleans, enums, lists of strings, nested objects, lists of objects,
name = value maps, and raw JSON for the shapes a form cannot show well (unions). Secret
fields (``writeOnly`` / ``format: password``) are password inputs: what is typed is never
shown, and `SchemaForm.set_value` never fills them (the agent never returns secrets anyway).

Validation is live: after each edit the whole value is checked against the schema
(`app.forms.schema.validate_config`), and the message appears under each field the user has
touched; `SchemaForm.validate()` shows every problem (before going to the next step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.forms.schema import (
    MISSING,
    FieldSpec,
    InputError,
    format_input,
    parse_input,
    parse_schema,
    path_text,
    prune,
    validate_config,
)

OnChange = Callable[[str], None]


class _Editor:
    """One field: its input widget, hint and error label; knows its path in the value."""

    input: QWidget

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange) -> None:
        self.spec = spec
        self.path = path
        self._on_change = on_change
        self.container = QWidget()
        self.column = QVBoxLayout(self.container)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(2)
        self.error = QLabel()
        self.error.setObjectName("FieldError")
        self.error.setWordWrap(True)
        self.error.hide()

    def finish(self, widget: QWidget) -> None:
        self.column.addWidget(widget)
        if self.spec.description and self.spec.kind not in ("object", "object_list"):
            hint = QLabel(self.spec.description)
            hint.setObjectName("Hint")
            hint.setWordWrap(True)
            self.column.addWidget(hint)
        self.column.addWidget(self.error)
        widget.setToolTip(self.spec.description)

    def changed(self, *_: object) -> None:
        self._on_change(self.path)

    def value(self) -> Any:
        """The field's value or `MISSING`; raises `InputError` for unparsable text."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def editors(self) -> list[_Editor]:
        """This editor and every editor nested in it."""
        return [self]

    def show_error(self, message: str | None) -> None:
        if message:
            self.error.setText(message)
            self.error.show()
        else:
            self.error.clear()
            self.error.hide()


class _LineEditor(_Editor):
    input: QLineEdit

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange) -> None:
        super().__init__(spec, path, on_change)
        self.input = QLineEdit()
        self.input.setObjectName(f"field:{path}")
        self.input.setPlaceholderText(spec.placeholder)
        if spec.secret:
            self.input.setEchoMode(QLineEdit.EchoMode.Password)
            self.input.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, False)
        self.input.textChanged.connect(self.changed)
        self.finish(self.input)

    def value(self) -> Any:
        return parse_input(self.spec, self.input.text())

    def set_value(self, value: Any) -> None:
        if not self.spec.secret:
            self.input.setText(format_input(self.spec, value))


class _TextEditor(_Editor):
    input: QPlainTextEdit

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange) -> None:
        super().__init__(spec, path, on_change)
        self.input = QPlainTextEdit()
        self.input.setObjectName(f"field:{path}")
        self.input.setPlaceholderText(spec.placeholder)
        self.input.setFixedHeight(70)
        self.input.setTabChangesFocus(True)
        self.input.textChanged.connect(self.changed)
        self.finish(self.input)

    def value(self) -> Any:
        return parse_input(self.spec, self.input.toPlainText())

    def set_value(self, value: Any) -> None:
        self.input.setPlainText(format_input(self.spec, value))


class _BoolEditor(_Editor):
    input: QCheckBox

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange) -> None:
        super().__init__(spec, path, on_change)
        self.input = QCheckBox(spec.description or spec.title)
        self.input.setObjectName(f"field:{path}")
        self.input.setChecked(bool(spec.default) if spec.default is not MISSING else False)
        self.input.toggled.connect(self.changed)
        self.column.addWidget(self.input)
        self.column.addWidget(self.error)

    def value(self) -> Any:
        return self.input.isChecked()

    def set_value(self, value: Any) -> None:
        self.input.setChecked(bool(value))


class _EnumEditor(_Editor):
    input: QComboBox

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange) -> None:
        super().__init__(spec, path, on_change)
        self.input = QComboBox()
        self.input.setObjectName(f"field:{path}")
        if spec.default is MISSING or spec.nullable:
            self.input.addItem("(not set)", MISSING)
        for option in spec.enum:
            self.input.addItem(str(option), option)
        if spec.default is not MISSING:
            self.set_value(spec.default)
        self.input.currentIndexChanged.connect(self.changed)
        self.finish(self.input)

    def value(self) -> Any:
        return self.input.currentData()

    def set_value(self, value: Any) -> None:
        for index in range(self.input.count()):
            if self.input.itemData(index) == value:
                self.input.setCurrentIndex(index)
                return


class _ObjectEditor(_Editor):
    """A group box holding the nested object's fields."""

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange, title: str = "") -> None:
        super().__init__(spec, path, on_change)
        self.box = QGroupBox(title)
        self.form = QFormLayout(self.box)
        self.children: list[_Editor] = []
        for child in spec.children:
            editor = make_editor(child, f"{path}.{child.key}" if path else child.key, on_change)
            self.children.append(editor)
            self.form.addRow(_label(child), editor.container)
        if spec.description:
            self.box.setToolTip(spec.description)
        self.column.addWidget(self.box)
        self.column.addWidget(self.error)

    def value(self) -> Any:
        data = {e.spec.key: e.value() for e in self.children}
        pruned = prune(data)
        if not pruned and not self.spec.required:
            return MISSING
        return pruned

    def set_value(self, value: Any) -> None:
        if isinstance(value, str) and self.spec.shorthand:
            value = {self.spec.shorthand: value}
        data = value if isinstance(value, Mapping) else {}
        for editor in self.children:
            if editor.spec.key in data:
                editor.set_value(data[editor.spec.key])

    def editors(self) -> list[_Editor]:
        found: list[_Editor] = [self]
        for child in self.children:
            found.extend(child.editors())
        return found


class _ObjectListEditor(_Editor):
    """A list of objects: one group per item, with Add and Remove."""

    def __init__(self, spec: FieldSpec, path: str, on_change: OnChange) -> None:
        super().__init__(spec, path, on_change)
        self.items: list[tuple[QFrame, _ObjectEditor]] = []
        self.list_box = QVBoxLayout()
        self.list_box.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton(f"Add {_singular(spec.title).lower()}")
        self.add_button.setObjectName(f"add:{path}")
        self.add_button.clicked.connect(lambda *_: self.add_item())  # not "checked"
        self.column.addLayout(self.list_box)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        if spec.description:
            hint = QLabel(spec.description)
            hint.setObjectName("Hint")
            hint.setWordWrap(True)
            row.addWidget(hint, 1)
        self.column.addLayout(row)
        self.column.addWidget(self.error)

    def add_item(self, value: Any = None) -> _ObjectEditor:
        index = len(self.items)
        item_spec = FieldSpec(self.spec.key, self.spec.title, "object", children=self.spec.children)
        editor = _ObjectEditor(
            item_spec,
            f"{self.path}[{index}]",
            self._on_change,
            f"{_singular(self.spec.title)} {index + 1}",
        )
        frame = QFrame()
        row = QHBoxLayout(frame)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(editor.container, 1)
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Remove")
        remove.clicked.connect(lambda: self.remove_item(frame))
        row.addWidget(remove, 0, Qt.AlignmentFlag.AlignTop)
        self.items.append((frame, editor))
        self.list_box.addWidget(frame)
        if value is not None:
            editor.set_value(value)
        self.changed()
        return editor

    def remove_item(self, frame: QFrame) -> None:
        kept = [(f, e) for f, e in self.items if f is not frame]
        values = [e.value() for f, e in kept]
        for f, _e in self.items:
            f.setParent(None)
            f.deleteLater()
        self.items = []
        for value in values:  # rebuilt, so paths stay [0], [1] … in order
            self.add_item(value if value is not MISSING else None)
        self.changed()

    def value(self) -> Any:
        values = [e.value() for _f, e in self.items]
        values = [v if v is not MISSING else {} for v in values]
        if not values and not self.spec.required:
            return MISSING
        return values

    def set_value(self, value: Any) -> None:
        for f, _e in self.items:
            f.setParent(None)
            f.deleteLater()
        self.items = []
        for item in value if isinstance(value, list) else []:
            self.add_item(item)

    def editors(self) -> list[_Editor]:
        found: list[_Editor] = [self]
        for _f, editor in self.items:
            found.extend(editor.editors())
        return found


def _singular(title: str) -> str:
    return title[:-1] if title.endswith("s") and len(title) > 3 else title


def _label(spec: FieldSpec) -> QLabel:
    label = QLabel(spec.label)
    label.setToolTip(spec.description)
    if spec.required:
        label.setProperty("required", True)
    return label


def make_editor(spec: FieldSpec, path: str, on_change: OnChange) -> _Editor:
    if spec.kind in ("string", "integer", "number", "string_list"):
        return _LineEditor(spec, path, on_change)
    if spec.kind == "boolean":
        return _BoolEditor(spec, path, on_change)
    if spec.kind == "enum":
        return _EnumEditor(spec, path, on_change)
    if spec.kind == "object":
        return _ObjectEditor(spec, path, on_change, spec.title)
    if spec.kind == "object_list":
        return _ObjectListEditor(spec, path, on_change)
    return _TextEditor(spec, path, on_change)


class SchemaForm(QWidget):
    """The generated form; ``value()`` is the configuration, ``problems()`` what is wrong."""

    sig_changed = Signal()
    sig_validity_changed = Signal(bool)

    def __init__(self, schema: Mapping[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.schema = dict(schema)
        self.fields = parse_schema(self.schema)
        self._touched: set[str] = set()
        self._show_all = False
        self._valid: bool | None = None
        self._editors: list[_Editor] = []
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for spec in self.fields:
            editor = make_editor(spec, spec.key, self._changed)
            self._editors.append(editor)
            self.form.addRow(_label(spec), editor.container)
        self._refresh_errors()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        # wrapped hints need their height recomputed for the new width
        super().resizeEvent(event)
        self.form.invalidate()

    # -- values ------------------------------------------------------------------------------

    def all_editors(self) -> list[_Editor]:
        found: list[_Editor] = []
        for editor in self._editors:
            found.extend(editor.editors())
        return found

    def editor(self, path: str) -> _Editor:
        """The editor of a field path, e.g. ``folder`` or ``streams[0].name``."""
        for editor in self.all_editors():
            if editor.path == path:
                return editor
        raise KeyError(path)

    def set_text(self, path: str, text: str) -> None:
        """Type ``text`` into a text input (as a user would; e.g. tests and screenshots)."""
        widget = self.editor(path).input
        if isinstance(widget, QLineEdit):
            widget.setText(text)
        elif isinstance(widget, QPlainTextEdit):
            widget.setPlainText(text)
        else:
            raise TypeError(f"{path}: not a text input")

    def text(self, path: str) -> str:
        widget = self.editor(path).input
        if isinstance(widget, QLineEdit):
            return widget.text()
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        raise TypeError(f"{path}: not a text input")

    def value(self) -> dict[str, Any]:
        """The configuration as typed (unparsable inputs left out; see `problems`)."""
        data: dict[str, Any] = {}
        for editor in self._editors:
            try:
                data[editor.spec.key] = editor.value()
            except InputError:
                continue
        return prune(data)

    def set_value(self, data: Mapping[str, Any]) -> None:
        """Fill the inputs (secret fields stay empty: they are never shown)."""
        for editor in self._editors:
            if editor.spec.key in data:
                editor.set_value(data[editor.spec.key])
        self._refresh_errors()

    def problems(self) -> dict[str, str]:
        """``{field path: message}`` for inputs that do not parse and schema violations."""
        found: dict[str, str] = {}
        for editor in self.all_editors():
            if isinstance(editor, _LineEditor | _TextEditor):
                try:
                    editor.value()
                except InputError as exc:
                    found[editor.path] = str(exc)
        for path, message in validate_config(self.schema, self.value()).items():
            found.setdefault(path, message)
        return found

    def is_valid(self) -> bool:
        return not self.problems()

    def validate(self) -> bool:
        """Show every problem (not only on touched fields); True when there is none."""
        self._show_all = True
        return self._refresh_errors()

    def messages(self) -> list[str]:
        """Each problem as "Title: message" (the form's summary for a banner)."""
        return [self._message(path, msg) for path, msg in self.problems().items()]

    # -- live validation -----------------------------------------------------------------------

    def _changed(self, path: str) -> None:
        self._touched.add(path)
        self._refresh_errors()
        self.sig_changed.emit()

    def _refresh_errors(self) -> bool:
        problems = self.problems()
        editors = self.all_editors()
        by_path = {e.path: e for e in editors}
        shown: dict[str, list[str]] = {}
        for path, message in problems.items():
            owner = _owner(path, by_path)
            if owner is None:
                continue
            if not self._show_all and owner.path not in self._touched:
                continue
            shown.setdefault(owner.path, []).append(self._message(path, message))
        for editor in editors:
            editor.show_error("\n".join(shown.get(editor.path, [])) or None)
        valid = not problems
        if valid != self._valid:
            self._valid = valid
            self.sig_validity_changed.emit(valid)
        return valid

    def _message(self, path: str, message: str) -> str:
        titles = []
        parts = _split_path(path)
        fields = self.fields
        for part in parts:
            if isinstance(part, int):
                titles.append(f"#{part + 1}")
                continue
            spec = next((f for f in fields if f.key == part), None)
            titles.append(spec.title if spec else part)
            fields = list(spec.children) if spec else []
        return f"{' > '.join(titles) or 'Configuration'}: {message}"


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in path.replace("]", "").split("."):
        name, *indexes = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return parts


def _owner(path: str, by_path: Mapping[str, _Editor]) -> _Editor | None:
    """The editor showing an error for ``path``: itself, else its nearest ancestor."""
    parts = _split_path(path)
    while parts:
        candidate = path_text(parts)
        if candidate in by_path:
            return by_path[candidate]
        parts = parts[:-1]
    return None
