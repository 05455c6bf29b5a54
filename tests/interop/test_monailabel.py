"""bsqkit in a real MONAI Label server: the sample app (docs/monailabel_app) started on
loopback over a local datastore of NIfTI volumes the test writes; scoring, active
learning, a label saved through the API, and bad input answered with an HTTP error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

try:
    import monailabel  # noqa: F401
    import requests
except ImportError:
    if os.environ.get("BSQKIT_REQUIRE_MONAILABEL"):
        raise
    pytest.skip(
        'MONAI Label is not installed: pip install "bsqkit[monailabel]"', allow_module_level=True
    )

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


APP_OUTPUTS = shutil.ignore_patterns("logs", "bsqkit-cache", "__pycache__")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The sample app on a datastore of 5 cardiac-like volumes, 1 labeled; a tiny
    profile so that a scoring takes seconds."""
    from bsqkit.datasets.synthetic import write_cardiac_like
    from bsqkit.profiles import load_profile

    root = tmp_path_factory.mktemp("monailabel")
    source = write_cardiac_like(root / "source", 5, (30, 40), (4.0, 5.0), outlier_matrix=None)
    studies = root / "studies"
    (studies / "labels" / "final").mkdir(parents=True)
    names = sorted(p.name for p in (source / "images").iterdir())
    for k, name in enumerate(names):
        shutil.copy(source / "images" / name, studies / name)
        if k == 0:
            shutil.copy(source / "labels" / name, studies / "labels" / "final" / name)
    profile = load_profile("cpu")
    profile.update(image_size=16, n_mc=3)
    profile["segmenter"].update(max_steps=5, width=4, depth=2)
    profile["vae"].update(max_epochs=1, input_size=16, n_latent=3, width=4)
    (root / "tiny.json").write_text(json.dumps(profile))
    # a copy of the sample app: the server writes its logs and the MMD-VAE cache there
    app = shutil.copytree(REPO / "docs" / "monailabel_app", root / "app", ignore=APP_OUTPUTS)
    port = _free_port()
    command = [
        sys.executable, "-m", "monailabel.main", "start_server",
        "--app", str(app), "--studies", str(studies),
        "--host", "127.0.0.1", "--port", str(port),
        "--conf", "profile", str(root / "tiny.json"), "--conf", "k", "2",
    ]  # fmt: skip
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if requests.get(f"{url}/info/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(
                    "the server did not start:\n" + (root / "server.log").read_text()[-3000:]
                )
            time.sleep(1)
        yield {"url": url, "source": source, "studies": studies, "names": names}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _post(url: str, path: str, **params) -> requests.Response:
    return requests.post(f"{url}{path}", params=params, json={}, timeout=120)


def _save_label(server: dict, image: str, label_file: Path) -> requests.Response:
    with open(label_file, "rb") as fh:
        return requests.put(
            f"{server['url']}/datastore/label",
            params={"image": image, "tag": "final"},
            files={"label": (label_file.name, fh)},
            data={"params": "{}"},
            timeout=60,
        )


def test_scoring_then_the_next_volume_and_never_a_labeled_one(server):
    url = server["url"]
    info = requests.get(f"{url}/info/", timeout=10).json()
    assert "bsqkit" in info["strategies"] and "bsqkit" in info["scoring"]
    scored = _post(url, "/scoring/bsqkit", run_sync="true")
    assert scored.ok, scored.text
    result = scored.json()
    assert result["method"] == "BSQ greedy" and [c["rank"] for c in result["chosen"]] == [1, 2]
    assert set(result["columns"]) == {"score", "uncertainty", "representativeness"}
    first = _post(url, "/activelearning/bsqkit").json()
    assert first["id"] == result["chosen"][0]["id"] and first["bsqkit"]["rank"] == 1
    assert first["next"] == [result["chosen"][1]["id"]]
    # the annotator saves the label of the volume served
    saved = _save_label(server, first["id"], server["source"] / "labels" / f"{first['id']}.nii.gz")
    assert saved.ok, saved.text
    second = _post(url, "/activelearning/bsqkit").json()
    assert second["id"] == result["chosen"][1]["id"] != first["id"]
    # both chosen volumes are labeled or being labeled: the answer says what to do
    third = _post(url, "/activelearning/bsqkit")
    assert third.status_code == 409 and "run POST /scoring/bsqkit" in third.json()["detail"]
    rescored = _post(url, "/scoring/bsqkit", run_sync="true").json()
    assert first["id"] not in {c["id"] for c in rescored["chosen"]}


def test_bad_input_is_an_http_error_that_names_it(server, tmp_path):
    import nibabel as nib

    url, names = server["url"], server["names"]
    # a label whose shape differs from its image's
    wrong = tmp_path / "wrong.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((7, 7, 3), np.uint8), np.eye(4)), wrong)
    victim = names[-1][: -len(".nii.gz")]
    assert _save_label(server, victim, wrong).ok
    answer = _post(url, "/scoring/bsqkit", run_sync="true")
    assert answer.status_code == 400 and victim in answer.json()["detail"]
    assert "differ in shape" in answer.json()["detail"]
    # put it right, then an image that cannot be read
    right = server["source"] / "labels" / names[-1]
    assert _save_label(server, victim, right).ok
    uploaded = requests.put(
        f"{url}/datastore/image",
        params={"image": "broken"},
        files={"file": ("broken.nii.gz", b"not a NIfTI file at all")},
        data={"params": "{}"},
        timeout=30,
    )
    assert uploaded.ok, uploaded.text
    answer = _post(url, "/scoring/bsqkit", run_sync="true")
    assert answer.status_code == 400 and "'broken'" in answer.json()["detail"], answer.text
    assert "cannot be read as NIfTI" in answer.json()["detail"]
    assert requests.delete(f"{url}/datastore/image", params={"id": "broken"}, timeout=30).ok
    # every volume labeled: a clear answer, not a hung request
    for name in names:
        _save_label(server, name[: -len(".nii.gz")], server["source"] / "labels" / name)
    answer = _post(url, "/activelearning/bsqkit")
    assert answer.status_code == 409 and "labeled" in answer.json()["detail"]
