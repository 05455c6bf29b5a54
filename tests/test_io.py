"""Atomic writes: permissions like any file the user writes, orphans cleaned."""

import os
import stat
import subprocess
import sys

import pytest

from bsqkit._io import atomic_path, remove_orphan_temporaries, write_json_atomic


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = write_json_atomic(tmp_path / "result.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_rewritten_file_keeps_its_mode(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("{}")
    path.chmod(0o640)
    write_json_atomic(path, {"b": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text().strip().startswith("{")


def _orphan(folder, name):
    # a process that dies in the middle of an atomic write leaves its temporary behind
    code = (
        "import os, sys\n"
        "from bsqkit._io import atomic_path\n"
        f"with atomic_path({str(folder / name)!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os._exit(1)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)


def test_orphans_of_dead_writers_are_removed_at_the_next_write(tmp_path):
    _orphan(tmp_path, "state.json")
    _orphan(tmp_path / "holdout_0", "vae.pt")
    orphans = sorted(p.name for p in tmp_path.rglob(".*.tmp*"))
    assert len(orphans) == 2 and all(str(os.getpid()) not in o for o in orphans)
    write_json_atomic(tmp_path / "state.json", {"c": 3})  # cleans its own file's orphans
    assert len(list(tmp_path.rglob(".*.tmp*"))) == 1
    assert remove_orphan_temporaries(tmp_path) and not list(tmp_path.rglob(".*.tmp*"))


def test_a_live_writers_temporary_is_kept(tmp_path):
    with atomic_path(tmp_path / "figure.png", suffix=".png") as tmp:
        tmp.write_bytes(b"png")
        assert remove_orphan_temporaries(tmp_path) == [] and tmp.exists()
    assert (tmp_path / "figure.png").read_bytes() == b"png"


def test_temporaries_of_other_hosts_are_never_removed(tmp_path):
    # a folder shared over the network: a writer on another machine, whatever its pid
    other = tmp_path / ".state.json.otherhost.1-0123abcd.tmp"
    other.write_text("in progress elsewhere")
    assert remove_orphan_temporaries(tmp_path) == [] and other.exists()
