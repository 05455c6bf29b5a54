"""Every Python code block of the docs runs as pasted, or says what it needs.

A block whose first line is ``# needs: ...`` (a GPU, a cluster, your data) or
``# given: name, ...`` (names a page defines around it) is checked without running:
it compiles, and ruff finds no undefined name in it besides the given ones.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

PAGES = sorted((REPO / "docs").rglob("*.rst"))


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        if any(p in ("_build", "generated", "auto_examples") for p in page.parts):
            continue
        text = page.read_text()
        for k, block in enumerate(
            re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
        ):
            code = re.sub(r"^    ", "", block, flags=re.M)
            found.append((f"{page.relative_to(REPO)}#{k}", code))
    return found


BLOCKS = _blocks()
# what a block that runs must print, where it promises a result
PRINTS = {"docs/index.rst#0": "held-out accuracy"}


def test_the_docs_have_python_blocks():
    assert len(BLOCKS) >= 10 and set(PRINTS) <= {name for name, _ in BLOCKS}


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[n for n, _ in BLOCKS])
def test_every_block_runs_or_says_what_it_needs(name, code, tmp_path):
    first = code.lstrip().splitlines()[0]
    if first.startswith(("# needs:", "# given:")):
        given = re.findall(r"\w+", first.split(":", 1)[1]) if first.startswith("# given:") else []
        compile(code, name, "exec")
        script = tmp_path / "block.py"
        script.write_text("".join(f"{g} = None\n" for g in given) + code)
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--select", "F821", "--no-cache", str(script)],
            capture_output=True,
            text=True,
        )
        assert ruff.returncode == 0, ruff.stdout
        return
    if "modAL" in code and importlib.util.find_spec("modAL") is None:
        pytest.skip("modAL is not installed (pip install --no-deps modAL-python)")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert PRINTS.get(name, "") in result.stdout


def test_the_name_check_finds_an_undefined_name(tmp_path):
    script = tmp_path / "block.py"
    script.write_text("X_pool = None\nlearner.query(X_pool)\n")
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F821", "--no-cache", str(script)],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 1 and "learner" in ruff.stdout
