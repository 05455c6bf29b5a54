"""A round of bsqkit in a real MONAI Label server, on hippocampus MRI: what it costs
and what the server answers.

    python benchmarks/monailabel_round.py --data ../shared/data/hippocampus \
        --out docs/results/monailabel/cpu.json

Needs the `monailabel` extra. Starts the sample app (`docs/monailabel_app`) on loopback
over a local datastore of `--volumes` hippocampus volumes (`--labelled` of them
labelled), with the default `cpu` profile, then, `--repeats` times: `POST
/scoring/bsqkit?run_sync=true` (timed), `POST /activelearning/bsqkit`, the label of the
served volume saved with `PUT /datastore/label`, and `POST /activelearning/bsqkit`
again. Writes the times and a transcript of the requests and answers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bsqkit._io import write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/hippocampus")
    parser.add_argument("--out", default="benchmarks/results/monailabel_round.json")
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--labelled", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    data = Path(args.data)
    entries = json.loads((data / "dataset.json").read_text())["training"][: args.volumes]
    work = Path(tempfile.mkdtemp())
    studies = work / "studies"
    (studies / "labels" / "final").mkdir(parents=True)
    for k, e in enumerate(entries):
        shutil.copy(data / e["image"], studies / Path(e["image"]).name)
        if k < args.labelled:
            shutil.copy(data / e["label"], studies / "labels" / "final" / Path(e["image"]).name)
    # a copy of the sample app without outputs of earlier runs: the first scoring trains
    # the MMD-VAE, as on a new server
    app = shutil.copytree(
        ROOT / "docs" / "monailabel_app",
        work / "app",
        ignore=shutil.ignore_patterns("logs", "bsqkit-cache", "__pycache__"),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "monailabel.main", "start_server",
        "--app", str(app), "--studies", str(studies),
        "--host", "127.0.0.1", "--port", str(port), "--conf", "k", "4",
    ]  # fmt: skip
    log = open(work / "server.log", "w")
    start = time.perf_counter()
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    transcript, scoring_s = [], []

    def call(method: str, path: str, record: bool = True, **kwargs) -> dict:
        answer = requests.request(method, f"{url}{path}", timeout=600, **kwargs)
        body = answer.json()
        if record:
            transcript.append(
                {"request": f"{method} {path}", "status": answer.status_code, "answer": body}
            )
        return body

    try:
        deadline = time.time() + 300
        while True:
            try:
                if requests.get(f"{url}/info/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(
                    "the server did not start:\n" + (work / "server.log").read_text()[-3000:]
                )
            time.sleep(1)
        started_s = time.perf_counter() - start
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            call("POST", "/scoring/bsqkit?run_sync=true", json={})
            scoring_s.append(time.perf_counter() - t0)
            served = call("POST", "/activelearning/bsqkit", json={})
            image = served["id"]
            label = data / "labelsTr" / f"{image}.nii.gz"
            with open(label, "rb") as fh:
                call(
                    "PUT",
                    f"/datastore/label?image={image}&tag=final",
                    files={"label": (label.name, fh)},
                    data={"params": "{}"},
                )
            call("POST", "/activelearning/bsqkit", json={})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    result = {
        "command": "python benchmarks/monailabel_round.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "volumes": args.volumes,
        "labelled_at_start": args.labelled,
        "server_start_s": started_s,
        "scoring_s": scoring_s,
        "transcript": transcript,
    }
    write_json_atomic(Path(args.out), result)
    print(f"server up in {started_s:.1f} s; scoring {', '.join(f'{s:.1f}' for s in scoring_s)} s")
    print(f"written to {args.out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
