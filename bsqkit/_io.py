"""Atomic file writes: an interrupted run never leaves half a file behind."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

_TMP_MARK = ".tmp"
# a data fingerprint reads each file's first and last 64 KiB (NIfTI header and the end of
# the voxels) besides its size: changes show at a cost that does not grow with the data
_FINGERPRINT_BYTES = 65536
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
# .<name>.<host>.<pid>-<random>.tmp[<suffix>]
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)-[0-9a-f]+\.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_orphan_temporaries(
    folder: str | Path, name: str = "*", recursive: bool = True
) -> list[Path]:
    """Delete temporaries that :func:`atomic_path` left behind when its process died.

    A temporary is named ``.<name>.<host>.<pid>-<random>.tmp...``; it is an orphan when
    it was made on this host by a process that no longer runs. Temporaries of other
    hosts (a folder shared over the network) are never touched, so concurrent writers
    never lose a file in progress.

    Parameters
    ----------
    folder : str or Path
    name : str, default="*"
        Only temporaries of files with this name (a glob pattern).
    recursive : bool, default=True
        Search the subfolders too.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    pattern = f".{name}.*{_TMP_MARK}*"
    for tmp in folder.rglob(pattern) if recursive else folder.glob(pattern):
        match = _TMP_NAME.match(tmp.name)
        if (
            match
            and match["host"] == _HOST
            and fnmatch(match["name"], name)
            and not _pid_alive(int(match["pid"]))
        ):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextmanager
def atomic_path(path: str | Path, suffix: str = _TMP_MARK) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    A reader never sees half a file, and an interrupted write leaves the old file (if
    any) in place; a temporary left by a killed process is removed at the next write of
    the same file (:func:`remove_orphan_temporaries`). A new file gets the permissions
    any new file of the user gets (created with mode 0666 under the umask, not
    ``tempfile``'s private 0600); a file that existed keeps its own.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temporaries(path.parent, glob_escape(path.name), recursive=False)
    if not suffix.startswith(_TMP_MARK):
        suffix = _TMP_MARK + suffix
    while True:
        tmp = path.parent / f".{path.name}.{_HOST}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    try:
        yield tmp
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        _fsync(tmp)  # the data on disk before the name points at it
        os.replace(tmp, path)
        _fsync(path.parent)  # and the new name too
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to disk, whoever wrote it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - a folder cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (through :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
    return Path(path)


def write_csv_atomic(path: str | Path, rows: list[dict]) -> Path:
    """Write dict rows (the first row's keys as the header) as CSV atomically."""
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def _changed(old: Any, new: str) -> str:
    """Which settings differ between two JSON run keys (for the refusal's message)."""
    try:
        a, b = json.loads(old), json.loads(new)
    except (TypeError, ValueError):
        return "other key"
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return "other key"
    keys = []
    for k in sorted({*a, *b}):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            keys += [f"{k}.{s}" for s in sorted({*a[k], *b[k]}) if a[k].get(s) != b[k].get(s)]
        elif a.get(k) != b.get(k):
            keys.append(k)
    return ", ".join(keys) or "other key"


def resumable_state(path: str | Path, key: str) -> dict | None:
    """The state kept in ``path`` by :func:`run_resumable` (None: not started), refused
    when it was made with other settings than ``key``: a caller can check every run's
    state before any costly step."""
    path = Path(path)
    state = json.loads(path.read_text()) if path.exists() else None
    if state is not None and state.get("key") != key:
        from bsqkit.exceptions import InputError

        raise InputError(
            f"{path} was made with other settings ({_changed(state.get('key'), key)}); "
            "use another --out folder"
        )
    return state


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
    state = resumable_state(path, key)
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
            digest.update(fh.read(_FINGERPRINT_BYTES))
            if size > _FINGERPRINT_BYTES:
                fh.seek(max(_FINGERPRINT_BYTES, size - _FINGERPRINT_BYTES))
                digest.update(fh.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (checkpoints are verified by it before a warm start).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        Hex digest.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit._io import file_sha256
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "a").write_bytes(b"")
    ...     file_sha256(Path(tmp) / "a")[:12]
    0
    'e3b0c44298fc'
    """
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_params_atomic(net: Any, path: str | Path) -> None:
    """A skorch net's parameters written to ``path`` atomically (never half a file)."""
    with atomic_path(path) as tmp:
        net.save_params(f_params=tmp)
