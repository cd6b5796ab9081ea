"""The console guide shows every screenshot `packaging/screenshots.py` makes, and only those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "console.md"


def test_guide_images_exist_and_every_screen_is_shown() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    referenced = re.findall(r"!\[[^\]]+\]\(\.\./images/([^)]+)\)", text)
    assert referenced, "the guide shows no screenshots"
    for name in referenced:
        assert (ROOT / "docs" / "images" / name).is_file(), name
    script = (ROOT / "packaging" / "screenshots.py").read_text(encoding="utf-8")
    made = {f"console-{n}.png" for n in re.findall(r'self\.save\(\w+, "([^"]+)"\)', script)}
    assert made == set(referenced)
