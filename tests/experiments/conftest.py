"""Small labeled NIfTI data sets written by the tests: conventional (H, W, Z) cine-like
volumes with 10 mm slices, in several layouts and storage orders."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SPACING = (1.5, 1.5, 10.0)  # in-plane 1.5 mm, 10 mm between slices


def cine_subject(seed: int, shape=(32, 28, 6)) -> tuple[np.ndarray, np.ndarray]:
    """An (H, W, Z) volume with two structures that change from slice to slice."""
    rng = np.random.RandomState(seed)
    h, w, z = shape
    yy, xx = np.mgrid[:h, :w]
    label = np.zeros(shape, np.uint8)
    cy, cx = h / 2 + rng.uniform(-3, 3), w / 2 + rng.uniform(-3, 3)
    for k in range(z):
        r = 6 + 3 * np.sin(np.pi * (k + 0.5) / z) + rng.uniform(-1, 1)
        ring = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2) & ((yy - cy) ** 2 + (xx - cx) ** 2 > 9)
        label[..., k][ring] = 1
        label[..., k][(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = 2
    image = 40 + 60 * (label == 1) + 120 * (label == 2) + rng.normal(0, 8, shape)
    return image.astype(np.float32), label


def write_subject(folder: Path, kind: str, name: str, array: np.ndarray, order="HWZ"):
    """Save ``array`` (H, W, Z) as stored in ``order``: "HWZ" or "ZHW" (slice axis first),
    with an affine that says so."""
    affine = np.diag([*SPACING, 1.0])
    if order == "ZHW":
        array = np.moveaxis(array, 2, 0)
        # stored axis 0 is the 10 mm (S-I) axis, axes 1, 2 the in-plane ones
        affine = np.zeros((4, 4))
        affine[2, 0], affine[0, 1], affine[1, 2], affine[3, 3] = SPACING[2], *SPACING[:2], 1
    (folder / kind).mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), folder / kind / f"{name}.nii.gz")


def make_cine_folder(
    folder: Path, n_patients: int = 8, frames: int = 2, order: str = "HWZ", decathlon=False
) -> Path:
    images, labels = ("imagesTr", "labelsTr") if decathlon else ("images", "labels")
    entries = []
    for p in range(n_patients):
        for f in range(frames):
            name = f"patient{p:03d}_frame{f + 1:02d}"
            image, label = cine_subject(100 * p + f)
            write_subject(folder, images, name, image, order)
            write_subject(folder, labels, name, label, order)
            entries.append(
                {"image": f"./{images}/{name}.nii.gz", "label": f"./{labels}/{name}.nii.gz"}
            )
    if decathlon:
        meta = {
            "labels": {"0": "background", "1": "myocardium", "2": "cavity"},
            "training": entries,
        }
        (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture
def cine_folder(tmp_path) -> Path:
    return make_cine_folder(tmp_path / "cine")


@pytest.fixture
def tiny_profile() -> dict:
    from bsqkit.profiles import load_profile

    profile = load_profile("cpu")
    profile["image_size"] = 24
    profile["n_mc"] = 3
    profile["slice"] = {"n_init": 0.1, "n_uncertain": 0.2, "n_instances": 0.1, "until": 0.3}
    profile["volume"] = {"n_init": 1, "n_uncertain": 3, "n_instances": 2, "until": 5}
    profile["segmenter"].update(max_steps=6, warm_steps=3, width=4, depth=2)
    profile["vae"].update(max_epochs=1, input_size=24, n_latent=4, width=4)
    profile["evaluation"]["noise_seeds"] = 0
    return profile
