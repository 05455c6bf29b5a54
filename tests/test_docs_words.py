"""The docs describe the software as it is: no dates, no project history, no talk of
issues, reviews or commits (history goes in CHANGELOG.md); and they spell "labeled" as
the public names do."""

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


# The public names say ``labeled`` (``X_labeled``, ``load_labeled_folder``); the prose
# the user reads beside them (pages, docstrings, messages, examples) spells it the same.
BRITISH = re.compile(r"(?i)(?<![a-z])(un)?labell(ed|ing)")
DEPRECATED = "load_labelled_folder"  # the old name, kept importable


def _read_by_the_user() -> list[Path]:
    files = [*PAGES, *(ROOT / "bsqkit").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]
    return [f for f in files if not _generated(f)]


def test_one_spelling_of_labeled():
    found = [
        f"{f.relative_to(ROOT)}:{n}: {line.strip()[:80]}"
        for f in _read_by_the_user()
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if BRITISH.search(line.replace(DEPRECATED, ""))
    ]
    assert not found, "\n".join(found)


def test_the_spelling_checker_finds_british():
    hits = [BRITISH.search(t) for t in ("the unlabelled pool", "n_labelled", "Labelling")]
    assert all(hits)
    assert not BRITISH.search("labeled, unlabeled, labeling")
