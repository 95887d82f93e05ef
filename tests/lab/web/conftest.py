"""Browser tests of the lab's pages (the live page of ``lab run``, ``lab serve``): the
console's Chromium and page fixtures (``tests/system/ui``), screenshots to
``tests/artifacts/lab/`` (ignored by git)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.system.ui.conftest import browser, need_playwright, page

__all__ = ["browser", "need_playwright", "page", "shot"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "lab"


def shot(page: Any, name: str) -> Path:
    """A screenshot of the whole page, tests/artifacts/lab/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
