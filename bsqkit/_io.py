"""Atomic file writes: an interrupted run never leaves half a file behind."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

_TMP_MARK = ".tmp"
# .<name>.<pid>-<mkstemp's random part>.tmp[<suffix>]
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp")


def _default_mode() -> int:
    # what open() would give a new file: 0o666 minus the umask (read without changing it
    # for good: os.umask sets and returns the old value)
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_orphan_temporaries(folder: str | Path, name: str = "*") -> list[Path]:
    """Delete temporaries that :func:`atomic_path` left behind when its process died.

    A temporary is named ``.<name>.<pid>-<random>.tmp...``; it is an orphan when that
    process no longer runs, so concurrent writers (several ``--only`` processes into
    one folder) never lose a file in progress.

    Parameters
    ----------
    folder : str or Path
        Searched recursively.
    name : str, default="*"
        Only temporaries of files with this name (a glob pattern).

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for tmp in folder.rglob(f".*{_TMP_MARK}*"):
        match = _TMP_NAME.match(tmp.name)
        if match and fnmatch(match["name"], name) and not _pid_alive(int(match["pid"])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextmanager
def atomic_path(path: str | Path, suffix: str = _TMP_MARK) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    A reader never sees half a file, and an interrupted write leaves the old file (if
    any) in place; a temporary left by a killed process is removed at the next write of
    the same file (:func:`remove_orphan_temporaries`). The file gets the permissions
    any new file of the user gets (the umask's), not ``tempfile``'s private 0600; a
    file that existed keeps its own.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temporaries(path.parent, glob_escape(path.name))
    if not suffix.startswith(_TMP_MARK):
        suffix = _TMP_MARK + suffix
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=suffix
    )
    os.close(fd)
    try:
        yield Path(tmp)
        mode = path.stat().st_mode & 0o7777 if path.exists() else _default_mode()
        os.chmod(tmp, mode)
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


def data_fingerprint(folder: str | Path, patterns: tuple[str, ...] = ("*",)) -> str:
    """A cheap fingerprint of the files under ``folder`` that match ``patterns``.

    Hashes each file's relative name, size and first and last 64 KiB: a changed,
    added, removed or renamed file changes it, without reading whole data sets.

    Parameters
    ----------
    folder : str or Path
    patterns : tuple of str, default=("*",)
        Glob patterns, searched recursively.

    Returns
    -------
    str
        16 hex digits.
    """
    folder = Path(folder)
    files = sorted({p for pattern in patterns for p in folder.rglob(pattern) if p.is_file()})
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(path, "rb") as fh:
            digest.update(fh.read(65536))
            if size > 65536:
                fh.seek(max(65536, size - 65536))
                digest.update(fh.read(65536))
    return digest.hexdigest()[:16]
