"""Atomic file writes: an interrupted run never leaves half a file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    A reader never sees half a file, and an interrupted write leaves the old file (if
    any) in place and no temporary behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (through :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def run_resumable(
    path: str | Path,
    key: str,
    run: Any,
    on_save: Any = None,
) -> dict:
    """Run ``run(state, save)`` with its state kept in ``path``, resumably.

    ``path`` holds the last state (``{"finished": bool, ...}``) with the settings ``key``
    it was made with: a finished state is returned as it is (never recomputed), an
    unfinished one is handed back to ``run`` to continue, one made with other settings
    is refused. ``run`` calls ``save(partial_state)`` after every step; each save
    rewrites ``path`` atomically and then calls ``on_save()``.
    """
    path = Path(path)
    state = json.loads(path.read_text()) if path.exists() else None
    if state is not None and state.get("key") != key:
        raise ValueError(f"{path} was made with other settings; use another --out folder")
    if state is not None and state["finished"]:
        return state

    def save(partial: dict) -> None:
        write_json_atomic(path, {**partial, "key": key})
        if on_save is not None:
            on_save()

    final = run(state, save)
    write_json_atomic(path, {**final, "key": key})
    return final
