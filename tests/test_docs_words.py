"""The docs describe the software as it is: no dates, no project history, no talk of
issues, reviews or commits (history goes in CHANGELOG.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst"))]
# the short list: a phrase, and why it does not belong in a page about the software
HISTORY = {
    r"\b20\d\d-\d\d-\d\d\b": "a date",
    r"\bearlier (version|session|run)s?\b": "a past version",
    r"\bno (GPU|device) (has been|was) lent\b": "the project's circumstances",
    r"\blent\b": "the project's circumstances",
    r"\bas the issue (asked|says)\b": "the project's process",
    r"\bthe review('s)?\b": "the project's process",
    r"\bat the commit\b": "the project's process",
    r"\b[0-9a-f]{7,40}\b(?=[),])": "a commit hash",
}


def _generated(page: Path) -> bool:
    parts = page.relative_to(ROOT).parts
    return any(p in ("_build", "generated", "auto_examples") for p in parts)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if not _generated(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_history_in_the_docs(page):
    text = page.read_text()
    found = [
        f"{why}: {m.group(0)!r}"
        for pattern, why in HISTORY.items()
        for m in re.finditer(pattern, text, flags=re.IGNORECASE)
    ]
    assert not found, f"{page.name}: {found}"


def test_the_checker_finds_history():
    text = "Run on 2026-11-27 at the commit before (e0817df), as the issue asked."
    hits = [p for p in HISTORY if re.search(p, text, flags=re.IGNORECASE)]
    assert len(hits) >= 4
