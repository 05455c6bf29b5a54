"""Look at the built site in headless Chromium, as a reader at 1400 px would.

    python docs/check_site.py docs/_build/html [--shots DIR]

For each page checked (the landing page, installation, which strategy, annotating, the
greedy bound's derivation, the benchmarks and one API page): a screenshot (into
``--shots``), and, measured in the rendered page, every code block, table and displayed
formula that overflows its box horizontally (a reader would have to scroll), every
formula MathJax did not typeset and every figure drawn smaller than 70 % of its pixels
(the figures are made with text of at least 9 pt at 110 dpi, about 13.75 px: at 70 % it
stays above 9 px). Exit status 1, with the list, when any is found.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PAGES = (
    "index.html",
    "install.html",
    "which_strategy.html",
    "user_guide/annotating.html",
    "user_guide/greedy_bound.html",
    "benchmarks.html",
    "generated/bsqkit.BayesianSampleQuery.html",
)
WIDTH = 1400
MIN_SCALE = 0.7

_PROBE = """
<script>
function check() {
  var found = {overflow: [], small: [], math: []};
  var boxes = "article pre, article table, article mjx-container[display]";
  document.querySelectorAll(boxes).forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 2) {
      found.overflow.push(el.tagName + ": " + el.textContent.trim().slice(0, 70));
    }
  });
  // the gallery's thumbnails are small on purpose
  document.querySelectorAll("article img:not([src*='_thumb'])").forEach(function (im) {
    if (im.naturalWidth > 0 && im.clientWidth / im.naturalWidth < %(scale)s) {
      found.small.push(im.getAttribute("src") + " at " +
        Math.round(100 * im.clientWidth / im.naturalWidth) + " %%");
    }
  });
  // every formula typeset by MathJax (served from the site: no network needed)
  document.querySelectorAll("article .math").forEach(function (el) {
    if (!el.querySelector("mjx-container")) {
      found.math.push("formula not typeset: " + el.textContent.trim().slice(0, 60));
    }
  });
  document.body.setAttribute("data-check", JSON.stringify(found));
}
window.addEventListener("load", function () {
  var mathjax = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  (mathjax || Promise.resolve()).then(check);
});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SystemExit("headless Chromium is needed (Debian package chromium)")
    return found


def headless(browser: str, profile: Path, budget_ms: int = 8000) -> list[str]:
    """A headless Chromium command line that stays offline and waits ``budget_ms`` of
    virtual time for the page's scripts (shared with the report's browser test)."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}",
    ]


def _flags(profile: Path) -> list[str]:
    return [*headless(chromium(), profile), f"--window-size={WIDTH},1600"]


def check_page(site: Path, page: str, shots: Path, profile: Path) -> dict:
    """What is wrong with one page, and its screenshot."""
    original = (site / page).resolve()
    probe = original.with_name(f"_check_{original.name}")
    probe.write_text(
        original.read_text().replace("</body>", _PROBE % {"scale": MIN_SCALE} + "</body>")
    )
    try:
        dom = subprocess.run(
            [*_flags(profile), "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    finally:
        probe.unlink()
    match = re.search(r'data-check="([^"]*)"', dom)
    if match is None:
        return {"page": page, "error": "the page did not load"}
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    shot = shots.resolve() / (page.replace("/", "_").replace(".html", ".png"))
    subprocess.run(
        [*_flags(profile), f"--screenshot={shot}", original.as_uri()],
        capture_output=True,
        timeout=120,
    )
    return {"page": page, **found, "screenshot": str(shot)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--shots", type=Path, default=Path("docs/_build/screenshots"))
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    problems = 0
    with tempfile.TemporaryDirectory() as profile:
        for page in PAGES:
            result = check_page(args.site, page, args.shots, Path(profile))
            issues = [
                *result.get("overflow", []),
                *result.get("small", []),
                *result.get("math", []),
            ]
            if "error" in result:
                issues.append(result["error"])
            problems += len(issues)
            print(f"{page}: {'ok' if not issues else f'{len(issues)} problems'}")
            for issue in issues:
                print(f"  {issue}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
