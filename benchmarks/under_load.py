"""The README's main job idle and beside busy processes: wall and CPU time.

    python benchmarks/under_load.py --out docs/results/under-load/cpu.json

Runs `bsqkit benchmark entropy --setup digits` (a fresh output folder each time, so that
nothing is reused) idle, then beside `--busy` processes that spin on the CPU, `--repeats`
times each, two ways: with the thread settings bsqkit's command line chooses (waiting
OpenMP threads sleep; the thread pools take the cores free when the command starts), and
with those of torch and numpy left to themselves (`OMP_WAIT_POLICY=ACTIVE`,
`OMP_NUM_THREADS` = every core). On 2 cores a fair share beside two busy processes is a
third of the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bsqkit._io import write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info

SETTINGS = {
    "bsqkit": {},
    "left to torch and numpy": {
        "OMP_WAIT_POLICY": "ACTIVE",
        "OMP_NUM_THREADS": str(os.cpu_count()),
    },
}


def _main_job(settings: str) -> tuple[float, float]:
    """Wall and CPU seconds of one main job (the child's CPU time, all threads)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env.update(SETTINGS[settings])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "bsqkit.cli", "benchmark", "entropy", "--setup",
                   "digits", "--out", out, "--quiet"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/under_load.json")
    parser.add_argument("--busy", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for policy in SETTINGS:
        for load in (0, args.busy):
            spinners = [
                subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)
            ]
            try:
                for _ in range(args.repeats):
                    wall, cpu = _main_job(policy)
                    rows.append({"threads": policy, "busy": load, "wall_s": wall, "cpu_s": cpu})
                    print(f"{policy} beside {load} busy: {wall:.1f} s wall, {cpu:.1f} s CPU",
                          flush=True)  # fmt: skip
            finally:
                for p in spinners:
                    p.kill()
                    p.wait()

    def median(policy: str, load: int, key: str) -> float:
        return float(
            np.median([r[key] for r in rows if r["threads"] == policy and r["busy"] == load])
        )

    ratios = {
        policy: {
            "wall_loaded_over_idle": median(policy, args.busy, "wall_s")
            / median(policy, 0, "wall_s"),
            "cpu_loaded_over_idle": median(policy, args.busy, "cpu_s")
            / median(policy, 0, "cpu_s"),
        }
        for policy in SETTINGS
    }
    for policy, r in ratios.items():
        print(f"{policy}: loaded/idle wall {r['wall_loaded_over_idle']:.2f}, "
              f"CPU {r['cpu_loaded_over_idle']:.2f}")  # fmt: skip
    write_json_atomic(
        Path(args.out),
        {
            "command": "python benchmarks/under_load.py " + " ".join(sys.argv[1:]),
            "machine": machine_info(),
            "runs": rows,
            "ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
