"""The state of an annotation project: an embedded SQLite database and a lock file.

``PROJECT/.bsqkit/state.sqlite`` (Python's :mod:`sqlite3`, no server) keeps the rounds
and their settings, the suggestions, when each slice was first seen annotated, the
model checkpoints with their hashes, and the validation Dice of each round's model. A
round is written in one transaction when it finishes; a round that was killed is left
``started`` and is rerun cleanly by the next call.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bsqkit._deprecation import renamed_keywords
from bsqkit.exceptions import InputError

__all__ = ["SCHEMA_VERSION", "ProjectState", "project_lock"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    number INTEGER PRIMARY KEY, status TEXT NOT NULL, started TEXT NOT NULL,
    finished TEXT, settings TEXT NOT NULL, cold_start INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS suggestions (
    round INTEGER NOT NULL, rank INTEGER NOT NULL, subject TEXT NOT NULL,
    slice INTEGER, score REAL NOT NULL, uncertainty REAL, representativeness REAL,
    PRIMARY KEY (round, rank)
);
CREATE TABLE IF NOT EXISTS annotations (
    subject TEXT NOT NULL, slice INTEGER NOT NULL, first_seen_round INTEGER NOT NULL,
    first_seen TEXT NOT NULL, PRIMARY KEY (subject, slice)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    round INTEGER PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validation (
    round INTEGER PRIMARY KEY, dice REAL NOT NULL, n_slices INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS validation_classes (
    round INTEGER NOT NULL, class TEXT NOT NULL, dice REAL NOT NULL,
    PRIMARY KEY (round, class)
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ProjectState:
    """The project's SQLite database.

    Parameters
    ----------
    path : str or Path
        The database file; created with the current schema when absent. A database of
        another schema version is refused.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit.workflow.state import ProjectState
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     state = ProjectState(Path(tmp) / "state.sqlite")
    ...     number = state.begin_round({"unit": "slice"})
    ...     state.finish_round(number, [("case_01", 12, 0.9, 0.1, 0.8)], checkpoint=None)
    ...     state.pending()
    {('case_01', 12)}
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        # tables and version in one transaction: a kill leaves all or nothing; an existing
        # version is kept (and checked below)
        self.db.executescript(
            f"BEGIN; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES "
            f"('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
        )
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else None
        if version != SCHEMA_VERSION:
            raise InputError(
                f"{self.path} was written by a bsqkit with project schema {version}; this "
                f"bsqkit reads schema {SCHEMA_VERSION}: use that version, or start a new "
                "project folder"
            )

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def snapshot(self) -> sqlite3.Connection:
        """An in-memory copy of the database, for :meth:`restore`."""
        copy = sqlite3.connect(":memory:")
        self.db.backup(copy)
        return copy

    def restore(self, snapshot: sqlite3.Connection) -> None:
        """Put the database back as it was at :meth:`snapshot` (a round that failed)."""
        self.db.rollback()
        snapshot.backup(self.db)
        snapshot.close()

    def next_round(self) -> int:
        """The number the next round will take."""
        (last,) = self.db.execute("SELECT COALESCE(MAX(number), 0) FROM rounds").fetchone()
        return last + 1

    # -- rounds ------------------------------------------------------------------
    def discard_unfinished(self) -> list[int]:
        """Forget rounds that were started but never finished (killed); return them."""
        rows = self.db.execute("SELECT number FROM rounds WHERE status = 'started'").fetchall()
        with self.db:
            for (number,) in rows:
                self.db.execute("DELETE FROM suggestions WHERE round = ?", (number,))
                self.db.execute("DELETE FROM rounds WHERE number = ?", (number,))
        return [r[0] for r in rows]

    def begin_round(self, settings: dict, cold_start: bool = False) -> int:
        """Start the next round; return its number (1, 2, ...)."""
        number = self.next_round()
        with self.db:
            self.db.execute(
                "INSERT INTO rounds (number, status, started, settings, cold_start) "
                "VALUES (?, 'started', ?, ?, ?)",
                (number, _now(), json.dumps(settings, sort_keys=True), int(cold_start)),
            )
        return number

    def finish_round(
        self,
        number: int,
        suggestions: list[tuple],
        checkpoint: tuple[str, str] | None,
        validation: tuple[int, float, int] | None = None,
        validation_classes: dict[str, float] | None = None,
    ) -> None:
        """Record a round's suggestions (subject, slice or None, score, uncertainty,
        representativeness), its checkpoint (path, sha256) and the validation of the
        previous round's model (its round, Dice, slices; Dice per class name), and mark
        it finished, all in one transaction."""
        with self.db:
            self.db.executemany(
                "INSERT INTO suggestions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(number, rank, *row) for rank, row in enumerate(suggestions, start=1)],
            )
            if checkpoint is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)", (number, *checkpoint)
                )
            if validation is not None:  # (round of the model, Dice, slices)
                self.db.execute("INSERT OR REPLACE INTO validation VALUES (?, ?, ?)", validation)
                self.db.executemany(
                    "INSERT OR REPLACE INTO validation_classes VALUES (?, ?, ?)",
                    [(validation[0], k, v) for k, v in (validation_classes or {}).items()],
                )
            self.db.execute(
                "UPDATE rounds SET status = 'finished', finished = ? WHERE number = ?",
                (_now(), number),
            )

    def rounds(self) -> list[dict]:
        """Every finished round: number, dates, settings, cold start."""
        rows = self.db.execute(
            "SELECT number, started, finished, settings, cold_start FROM rounds "
            "WHERE status = 'finished' ORDER BY number"
        ).fetchall()
        return [
            {"number": n, "started": s, "finished": f, "settings": json.loads(st), "cold": bool(c)}
            for n, s, f, st, c in rows
        ]

    # -- what is annotated, suggested, pending -------------------------------------
    def record_annotations(self, units: set[tuple[str, int]], round_number: int) -> None:
        """Remember when each annotated slice (subject, slice) was first seen."""
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO annotations VALUES (?, ?, ?, ?)",
                [(s, k, round_number, _now()) for s, k in sorted(units)],
            )

    def annotated_since(self, round_number: int) -> set[tuple[str, int]]:
        """Slices first seen annotated at or after ``round_number``."""
        rows = self.db.execute(
            "SELECT subject, slice FROM annotations WHERE first_seen_round >= ?", (round_number,)
        ).fetchall()
        return {(s, k) for s, k in rows}

    def suggested(self) -> list[dict]:
        """Every suggestion of the finished rounds."""
        rows = self.db.execute(
            "SELECT s.round, s.rank, s.subject, s.slice, s.score FROM suggestions s "
            "JOIN rounds r ON r.number = s.round WHERE r.status = 'finished' "
            "ORDER BY s.round, s.rank"
        ).fetchall()
        return [
            {"round": r, "rank": k, "subject": s, "slice": sl, "score": sc}
            for r, k, s, sl, sc in rows
        ]

    @renamed_keywords(annotated="labeled")
    def pending(self, labeled: set | None = None) -> set[tuple]:
        """Suggestions (subject, slice) not labeled yet; slice is None for volumes."""
        labeled = labeled or set()
        out = set()
        for row in self.suggested():
            key = (row["subject"], row["slice"])
            done = key in labeled or (row["slice"] is None and row["subject"] in labeled)
            if not done:
                out.add(key)
        return out

    # -- checkpoints and validation ---------------------------------------------------
    def last_checkpoint(self) -> tuple[int, str, str] | None:
        """(round, path, sha256) of the newest checkpoint of a finished round."""
        row = self.db.execute(
            "SELECT c.round, c.path, c.sha256 FROM checkpoints c JOIN rounds r "
            "ON r.number = c.round WHERE r.status = 'finished' ORDER BY c.round DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def validation(self) -> list[dict]:
        """Validation Dice per model: round ``r``'s model on the slices annotated after
        it (measured at a later round), the mean and ``per_class`` (by class name)."""
        rows = self.db.execute(
            "SELECT round, dice, n_slices FROM validation ORDER BY round"
        ).fetchall()
        per_class: dict[int, dict[str, float]] = {}
        for r, name, dice in self.db.execute(
            "SELECT round, class, dice FROM validation_classes ORDER BY rowid"
        ):
            per_class.setdefault(r, {})[name] = dice
        return [
            {"round": r, "dice": d, "n_slices": n, "per_class": per_class.get(r, {})}
            for r, d, n in rows
        ]

    def settings(self, key: str) -> Any:
        """A project-wide setting fixed at the first round (None before)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Fix a project-wide setting."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))


try:  # an advisory lock the system releases when its holder dies, however it dies
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextmanager
def project_lock(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder/lock`` for the duration of a round.

    An advisory lock on the file (``flock``): a second holder is refused with a message
    naming the running process, and a process that dies, however it dies, releases it,
    so no stale lock is ever taken over by hand and two processes cannot both take it.
    The file stays; it holds the holder's host and process id.

    Parameters
    ----------
    folder : str or Path
        The project's ``.bsqkit`` folder.

    Yields
    ------
    Path
        The lock file.

    Examples
    --------
    >>> import tempfile
    >>> from bsqkit.workflow.state import project_lock
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with project_lock(tmp) as lock:
    ...         lock.name
    'lock'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        _try_lock(fd)
    except (BlockingIOError, PermissionError):  # held: any other error is reported as is
        try:
            who = os.read(fd, 256).decode(errors="replace").strip() or "another process"
        except OSError:  # pragma: no cover - Windows refuses to read a locked range
            who = "another process"
        os.close(fd)
        raise InputError(
            f"another bsqkit suggest is running on this project ({who}); wait for it to finish"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
        yield lock
    finally:
        os.ftruncate(fd, 0)
        _unlock(fd)
        os.close(fd)
