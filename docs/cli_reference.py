"""The options of ``bsqkit suggest``, as its parser has them, for the annotating page.

The docs build runs it (``conf.py``) and writes ``docs/_figures/suggest_options.rst``:
every option with its help text and default, so that the page can never miss one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUT = Path(__file__).resolve().parent / "_figures"


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    raise KeyError(name)


def options_rst(command: str = "suggest") -> str:
    """The command's options as a definition list in reStructuredText."""
    from bsqkit.cli import build_parser

    parser = _subparser(build_parser(), command)
    lines = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            shown = action.metavar or (
                "{" + ",".join(map(str, action.choices)) + "}"
                if action.choices
                else action.dest.upper()
            )
            metavar = "" if action.nargs == 0 else f" {shown}"
            term = f"``{', '.join(action.option_strings)}{metavar}``"
        else:
            term = f"``{action.metavar or action.dest}``"
        text = (action.help or "").replace("*", "\\*")
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += f" (default: ``{action.default}``)"
        lines += [term, f"    {text}", ""]
    return "\n".join(lines)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "suggest_options.rst").write_text(options_rst("suggest"))


if __name__ == "__main__":
    main()
