import json

import nibabel as nib
import numpy as np
import pytest

from bsqkit.datasets import (
    harmonise,
    load_decathlon,
    load_nifti_pairs,
    normalise_intensity,
    to_slices,
)


def _save(path, data, spacing):
    img = nib.Nifti1Image(data, np.diag([*spacing, 1.0]))
    nib.save(img, path)


def _volume(shape, seed):
    rng = np.random.RandomState(seed)
    image = rng.rand(*shape).astype(np.float32) * 100
    label = np.zeros(shape, np.uint8)
    c = [n // 2 for n in shape]
    label[c[0] - 3 : c[0] + 3, c[1] - 4 : c[1] + 4, c[2] - 2 : c[2] + 2] = 1
    label[c[0] - 1 : c[0] + 1, c[1] - 1 : c[1] + 1, :2] = 2
    return image, label


@pytest.fixture
def decathlon(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    entries = []
    # two acquisition settings, as in the paper's Table 1 (scaled down)
    for k, (shape, spacing) in enumerate(
        [((24, 24, 8), (0.91, 0.91, 3.0)), ((18, 18, 7), (0.83, 0.83, 3.0))]
    ):
        image, label = _volume(shape, k)
        _save(tmp_path / "imagesTr" / f"case_{k}.nii.gz", image, spacing)
        _save(tmp_path / "labelsTr" / f"case_{k}.nii.gz", label, spacing)
        entries.append(
            {"image": f"./imagesTr/case_{k}.nii.gz", "label": f"./labelsTr/case_{k}.nii.gz"}
        )
    (tmp_path / "dataset.json").write_text(json.dumps({"training": entries}))
    return tmp_path


def test_decathlon_and_plain_folder_keep_spacing(decathlon):
    subjects = load_decathlon(decathlon)
    assert [s.id for s in subjects] == ["case_0", "case_1"]
    assert subjects[0].spacing == pytest.approx((0.91, 0.91, 3.0))
    assert subjects[1].image.shape == (18, 18, 7) and subjects[1].label.dtype == np.uint8
    plain = load_nifti_pairs(decathlon / "imagesTr", decathlon / "labelsTr")
    np.testing.assert_array_equal(plain[1].label, subjects[1].label)


def test_harmonise_resamples_and_pads(decathlon):
    subjects = load_decathlon(decathlon)
    merged = harmonise(subjects)
    assert all(s.spacing == pytest.approx((0.91, 0.91, 3.0)) for s in merged)
    # in-plane padded to 24 x 24; each keeps its own number of slices (8 and 7)
    assert [s.image.shape for s in merged] == [(24, 24, 8), (24, 24, 7)]
    # the finer setting shrinks: 18 * 0.83 / 0.91 ~ 16.4 voxels, then zero padding
    assert set(np.unique(merged[1].label)) <= {0, 1, 2}
    assert merged[1].image[0].max() == 0  # padded border
    volume_mm3 = (merged[1].label > 0).sum() * 0.91 * 0.91 * 3.0
    original_mm3 = (subjects[1].label > 0).sum() * 0.83 * 0.83 * 3.0
    assert volume_mm3 == pytest.approx(original_mm3, rel=0.25)
    X, y, ids = to_slices([normalise_intensity(s) for s in merged], axis=2)
    assert X.shape == (15, 24, 24) and y.shape == X.shape
    assert list(ids[:8]) == ["case_0"] * 8 and list(ids[8:]) == ["case_1"] * 7
    assert abs(float(X[:8].mean())) < 1e-4


def test_errors(decathlon, tmp_path_factory):
    with pytest.raises(ValueError, match="harmonise"):
        to_slices(load_decathlon(decathlon))
    with pytest.raises(ValueError, match="harmonise"):
        to_slices(harmonise(load_decathlon(decathlon)), axis=0)  # depth differs
    with pytest.raises(FileNotFoundError, match=r"dataset\.json"):
        load_decathlon(tmp_path_factory.mktemp("empty"))
    (decathlon / "labelsTr" / "case_1.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="no label map"):
        load_nifti_pairs(decathlon / "imagesTr", decathlon / "labelsTr")
    bad = decathlon / "labelsTr" / "case_0.nii.gz"
    _save(bad, np.full((24, 24, 8), 0.5, np.float32), (0.91, 0.91, 3.0))
    with pytest.raises(ValueError, match="integer labels"):
        load_decathlon(decathlon)


def test_real_hippocampus(hippocampus_dir):
    meta = json.loads((hippocampus_dir / "dataset.json").read_text())
    assert len(meta["training"]) == 260
    subjects = load_decathlon(hippocampus_dir, limit=8)
    for s in subjects:
        assert s.spacing == pytest.approx((1.0, 1.0, 1.0))
        assert set(np.unique(s.label)) == {0, 1, 2}
    X, y, ids = to_slices(
        [normalise_intensity(s) for s in harmonise(subjects, slice_axis=0)], axis=0
    )
    assert len(X) == len(y) == sum(s.image.shape[0] for s in subjects)
    assert len(set(ids)) == 8


def test_corrupt_gz_and_undeclared_labels_name_the_file(decathlon):
    meta = json.loads((decathlon / "dataset.json").read_text())
    meta["labels"] = {"0": "background", "1": "structure"}  # the volumes also hold 2
    (decathlon / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"case_0\.nii\.gz holds label values \[2\]"):
        load_decathlon(decathlon)
    meta["labels"]["2"] = "core"
    (decathlon / "dataset.json").write_text(json.dumps(meta))
    assert len(load_decathlon(decathlon)) == 2
    image = decathlon / "imagesTr" / "case_1.nii.gz"
    image.write_bytes(image.read_bytes()[:200])  # truncated gzip stream
    with pytest.raises(ValueError, match=r"case_1\.nii\.gz.*corrupt or truncated"):
        load_decathlon(decathlon)
