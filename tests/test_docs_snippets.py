"""The landing page's Python snippet runs as pasted (as the README's do)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def _python_blocks(page: str) -> list[str]:
    text = (REPO / "docs" / page).read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [re.sub(r"^    ", "", b, flags=re.M) for b in blocks]


def test_the_landing_page_snippet_runs(tmp_path):
    (code,) = _python_blocks("index.rst")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "held-out accuracy" in result.stdout
