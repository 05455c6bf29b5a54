"""Shared benchmark plumbing: run one measurement in a fresh process, with a timeout."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
from collections.abc import Callable
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Callable[..., dict], args: tuple, queue: Any) -> None:
    try:
        queue.put(fn(*args))
    except Exception as exc:  # recorded in the results, not hidden
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_isolated(fn: Callable[..., dict], args: tuple, timeout: float) -> dict:
    """Run ``fn(*args)`` (which returns a dict) in a spawned process.

    A fresh process makes peak memory the measurement's own. A run past ``timeout``
    seconds is killed and recorded as ``{"timeout": timeout}``.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"timeout": timeout}
    return queue.get() if not queue.empty() else {"error": f"exit code {proc.exitcode}"}


def machine_info(**extra: Any) -> dict:
    """What the numbers were measured on."""
    info = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return {**info, **extra}
