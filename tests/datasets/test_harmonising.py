"""The harmonising step: classes chosen and merged, one grid of one pixel size whose
default an outlier cannot set, crops around the body with their coverage, label
resampling whose cost does not grow with the number of label values, and the same arrays
for the benchmark and `bsqkit suggest`."""

from __future__ import annotations

import json
import time

import nibabel as nib
import numpy as np
import pytest

from bsqkit.cli import main
from bsqkit.datasets import Subject
from bsqkit.datasets.label_classes import LabelClasses, parse_label_classes
from bsqkit.datasets.slicing import SliceGrid, crop_center, inplane_geometry, plan_grid
from bsqkit.datasets.synthetic import ATLAS_HIPPOCAMPUS, write_atlas_like, write_cardiac_like
from bsqkit.exceptions import InputError
from bsqkit.experiments.segmentation.data import data_summary, format_summary, prepare_dataset
from bsqkit.workflow import AnnotationProject

FRACTIONS = (0.70, 0.05, 0.25)


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    """Four atlas-like volumes with 120 label values (47 and 48 the hippocampus)."""
    folder = tmp_path_factory.mktemp("atlas")
    return write_atlas_like(folder, n_subjects=4, shape=(48, 60, 40), n_values=120, seed=1)


@pytest.fixture(scope="module")
def cardiac(tmp_path_factory):
    """Seven cine-like volumes of varied matrices and spacings; the last one 160 x 160
    pixels of 2 mm (320 mm, the others 90-180 mm), its body off-centre."""
    folder = tmp_path_factory.mktemp("cardiac")
    return write_cardiac_like(folder, 7, (60, 90), (1.5, 2.0), outlier_matrix=160, seed=2)


# -- classes -----------------------------------------------------------------------------
def test_two_atlas_values_merged_into_one_class_the_rest_background(atlas):
    data = prepare_dataset(str(atlas), 24, labels="hippocampus=47+48")
    assert data.labels == {1: "hippocampus"} and data.n_classes == 2
    raw = {s.id: s for s in _stored(atlas)}
    for s in data.subjects:
        label = np.moveaxis(raw[s.id].label, 2, 0)  # stored RAS: canonical already
        np.testing.assert_array_equal(s.native_label, np.isin(label, ATLAS_HIPPOCAMPUS))
        assert set(np.unique(s.y)) <= {0, 1} and s.y.any()
    text = format_summary(data_summary(data, FRACTIONS))
    assert "1 class + background" in text and "hippocampus [47+48]" in text


def test_bare_values_take_the_names_of_the_data_set(atlas):
    data = prepare_dataset(str(atlas), 24, labels="48,47")
    assert data.labels == {1: "left hippocampus", 2: "right hippocampus"}


def test_a_json_mapping_file(atlas, tmp_path):
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({"hippocampus": [47, 48], "other": 5}))
    present = {int(v) for s in _stored(atlas) for v in np.unique(s.label)}
    if 5 not in present:  # the atlas draws its values: take one it holds
        other = sorted(present - {0, 47, 48})[0]
        path.write_text(json.dumps({"hippocampus": [47, 48], "other": other}))
    data = prepare_dataset(str(atlas), 24, labels=str(path))
    assert data.labels == {1: "hippocampus", 2: "other"}


def test_many_classes_print_the_largest_and_count_the_rest(atlas):
    summary = data_summary(prepare_dataset(str(atlas), 24), FRACTIONS)
    present = {int(v) for s in _stored(atlas) for v in np.unique(s.label)} - {0}
    assert len(summary["classes"]) == len(present) > 100  # a few regions vanish at this size
    line = next(x for x in format_summary(summary).splitlines() if "classes + background" in x)
    assert f"and {len(present) - 7} smaller classes" in line and len(line) < 1000
    # the largest classes first
    shown = [c for c in summary["classes"] if f"{c['name']} [" in line]
    smallest_shown = min(c["voxel_fraction"] for c in shown)
    assert all(c["voxel_fraction"] <= smallest_shown for c in summary["classes"] if c not in shown)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("47,x", "'x' is not a label value"),
        ("0,47", "0 is the background"),
        ("47,300", "300 is not a label value"),
        ("a=47,a=48", "two classes are named 'a'"),
        ("a=47,b=47+48", "label value 47 is in two classes ('a' and 'b')"),
        ("47,,48", "an empty class"),
        ("=47", "a class without a name"),
        ("47,47", "label value 47 is given twice"),
    ],
)
def test_bad_label_specs_name_the_value(spec, message):
    with pytest.raises(InputError, match="^--labels.*" + _escaped(message)):
        parse_label_classes(spec)


def test_bad_mapping_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{'hippocampus': [47")
    with pytest.raises(InputError, match="is not valid JSON"):
        parse_label_classes(str(bad))
    bad.write_text(json.dumps({"hippocampus": [47, 4.5]}))
    with pytest.raises(InputError, match=r"class 'hippocampus': 4\.5 is not a label value"):
        parse_label_classes(str(bad))
    bad.write_text(json.dumps([47, 48]))
    with pytest.raises(InputError, match="expected an object"):
        parse_label_classes(str(bad))
    with pytest.raises(InputError, match="no such file"):
        parse_label_classes(str(tmp_path / "missing.json"))


def test_a_value_in_no_label_volume_is_refused(atlas):
    present = {int(v) for s in _stored(atlas) for v in np.unique(s.label)}
    absent = min(set(range(1, 208)) - present)
    with pytest.raises(InputError, match=f"label value {absent} in no label volume"):
        prepare_dataset(str(atlas), 24, labels=f"47,{absent}")


def test_classes_map_values_and_back():
    classes = LabelClasses(("hippocampus", "amygdala"), ((47, 48), (31, 32)))
    label = np.array([0, 47, 48, 31, 32, 5, 255], np.uint8)
    np.testing.assert_array_equal(classes.to_classes(label), [0, 1, 1, 2, 2, 0, 0])
    np.testing.assert_array_equal(classes.to_values(np.array([0, 1, 2, 3])), [0, 47, 31, 0])


# -- geometry ----------------------------------------------------------------------------
def test_an_outlier_does_not_set_the_pixel_size_and_is_cropped_around_its_body(cardiac):
    data = prepare_dataset(str(cardiac), 32)
    stored = {s.id: s for s in _stored(cardiac)}
    extents = sorted(max(s.image.shape[:2]) * s.spacing[0] for s in stored.values())
    assert extents[-1] == 320.0 and data.harmonised.grid.fov == extents[-2] <= 180
    outlier = next(s for s in data.subjects if s.id == "patient006")
    assert outlier.grid.center is not None  # cropped ...
    assert outlier.class_voxels_in_grid[1:].tolist() == outlier.class_voxels[1:].tolist()
    for s in data.subjects:  # padded where the grid covers the scan, cropped elsewhere
        fits = max(stored[s.id].image.shape[:2]) * stored[s.id].spacing[0] <= s.grid.fov
        assert (s.grid.center is None) == fits
    assert data.harmonised.coverage() == {"label 1": 1.0, "label 2": 1.0}
    summary = data_summary(data, FRACTIONS)
    assert summary["warnings"] == []
    assert "leaving out 1 more than 1.5 x the median" in summary["grid"]["chosen_by"]


def test_a_crop_keeps_the_heart_at_a_finer_pixel_size(cardiac):
    default = prepare_dataset(str(cardiac), 32)
    cropped = prepare_dataset(str(cardiac), 32, crop_mm=150)
    assert cropped.harmonised.grid.pixel_mm == 150 / 32 < default.harmonised.grid.pixel_mm
    heart = [(s.y > 0).sum() for s in cropped.subjects]
    before = [(s.y > 0).sum() for s in default.subjects]
    assert np.mean(heart) > 1.2 * np.mean(before)  # more pixels on the anatomy
    assert min(cropped.harmonised.coverage().values()) == 1.0
    # the same grid from the pixel size
    by_pixel = prepare_dataset(str(cardiac), 32, pixel_mm=150 / 32)
    np.testing.assert_array_equal(by_pixel.subjects[0].y, cropped.subjects[0].y)


def test_a_crop_that_cuts_anatomy_is_reported_before_training(cardiac):
    data = prepare_dataset(str(cardiac), 32, crop_mm=40)
    summary = data_summary(data, FRACTIONS)
    assert summary["classes"][0]["inside_grid"] < 0.99
    text = format_summary(summary)
    assert "warning: only" in text and "'label 1' lies inside the 40 mm grid" in text


def test_grid_settings_are_checked():
    with pytest.raises(InputError, match="--pixel-mm must be a size in mm > 0, got 0"):
        plan_grid([100.0], 32, pixel_mm=0)
    with pytest.raises(InputError, match="--crop-mm must be a size in mm > 0, got -5"):
        plan_grid([100.0], 32, crop_mm=-5)
    with pytest.raises(InputError, match=r"make a grid of 100\.0 pixels, but it has 32"):
        plan_grid([100.0], 32, pixel_mm=1.0, crop_mm=100.0)
    assert plan_grid([100.0], 32, pixel_mm=2.0, crop_mm=64.0).fov == 64.0


def test_a_crop_larger_than_an_image_pads():
    image = np.random.RandomState(0).rand(2, 20, 30).astype(np.float32)
    assert crop_center(image, (1.0, 1.0), fov=50.0) is None
    grid = SliceGrid((20, 30), (3.0, 1.0, 1.0), size=50, fov=50.0)
    on_grid = grid.to_grid(image)
    assert on_grid.shape == (2, 50, 50) and on_grid[:, :10].max() == 0  # padded
    np.testing.assert_allclose(on_grid[:, 15:35, 10:40], image, atol=1e-5)


def test_hippocampus_grid_stays_as_it_was(hippocampus_dir):
    # the earlier rule: the largest field of view of any subject fills the 48 pixels
    meta = json.loads((hippocampus_dir / "dataset.json").read_text())
    extents = []
    for entry in meta["training"]:
        image = nib.load(hippocampus_dir / entry["image"])
        shape = image.shape[:3]
        subject = Subject("s", np.empty(shape, np.float32), np.empty(shape, np.uint8),
                          tuple(float(z) for z in image.header.get_zooms()[:3]),
                          affine=image.affine)  # fmt: skip
        inplane, spacing = inplane_geometry(subject, axis=2)
        extents.append(max(n * d for n, d in zip(inplane, spacing[1:], strict=True)))
    assert len(extents) == 260
    plan = plan_grid(extents, 48)
    assert plan.pixel_mm == pytest.approx(max(extents) / 48, rel=0.01)
    data = prepare_dataset(str(hippocampus_dir), 48, n_subjects=12)
    assert data.harmonised.coverage() == {"Anterior": 1.0, "Posterior": 1.0}


# -- label resampling --------------------------------------------------------------------
def _majority_reference(grid: SliceGrid, label: np.ndarray) -> np.ndarray:
    """Pixel by pixel: the most frequent label among the footprint's samples, ties to the
    label at the pixel's centre."""
    scale, offset = grid._map()
    n_sub = [max(1, int(np.ceil(s - 1e-9))) for s in scale]
    out = np.zeros((grid.size, grid.size), label.dtype)

    def at(i, j):
        r, c = int(np.floor(i + 0.5)), int(np.floor(j + 0.5))
        inside = 0 <= r < label.shape[0] and 0 <= c < label.shape[1]
        return label[r, c] if inside else 0

    for a in range(grid.size):
        for b in range(grid.size):
            samples = [
                at(scale[0] * (a + (p + 0.5) / n_sub[0] - 0.5) + offset[0],
                   scale[1] * (b + (q + 0.5) / n_sub[1] - 0.5) + offset[1])
                for p in range(n_sub[0]) for q in range(n_sub[1])
            ]  # fmt: skip
            values, counts = np.unique(samples, return_counts=True)
            best = values[counts == counts.max()]
            centre = at(scale[0] * a + offset[0], scale[1] * b + offset[1])
            out[a, b] = centre if centre in best else best[0]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_label_resampling_is_the_footprint_majority(seed):
    rng = np.random.RandomState(seed)
    h, w = rng.randint(20, 50, 2)
    label = rng.randint(0, 4, (h, w)).astype(np.uint8)
    label = np.repeat(np.repeat(label[::3, ::3], 3, 0), 3, 1)[:h, :w]  # blobs
    size = int(rng.choice([8, 12, 30, 64]))
    center = None if seed % 2 else (h / 3, w / 2)
    grid = SliceGrid((h, w), (3.0, *rng.uniform(0.5, 2.0, 2)), size, max(h, w) * 1.1, center)
    np.testing.assert_array_equal(grid.to_grid(label[None], labels=True)[0],
                                  _majority_reference(grid, label))  # fmt: skip


def test_label_resampling_cost_does_not_grow_with_label_values():
    rng = np.random.RandomState(0)
    two = rng.randint(0, 2, (40, 160, 200)).astype(np.uint8)
    many = rng.randint(0, 200, (40, 160, 200)).astype(np.uint8)
    grid = SliceGrid((160, 200), (1.0, 1.0, 1.0), size=48, fov=200.0)

    def best_of_three(label):
        took = []
        for _ in range(3):
            start = time.perf_counter()
            grid.to_grid(label, labels=True)
            took.append(time.perf_counter() - start)
        return min(took)

    # one pass per label value (the earlier method) would be about 100 times slower
    assert best_of_three(many) < 3 * best_of_three(two)


@pytest.mark.parametrize(
    ("shape", "size", "center"),
    [((33, 33), 32, None), ((31, 31), 32, None), ((40, 40), 32, (20.0, 20.0))],
)
def test_a_grid_of_the_same_pixel_size_brings_labels_back_unchanged(shape, size, center):
    # exact half-pixel offsets: the way back must round as the way there does
    label = np.random.RandomState(0).randint(0, 5, (2, *shape)).astype(np.uint8)
    grid = SliceGrid(shape, (3.0, 1.0, 1.0), size=size, fov=float(size), center=center)
    back = grid.from_grid(grid.to_grid(label, labels=True))
    inside = grid.inside()
    assert inside.sum() == min(shape[0], size) * min(shape[1], size)
    np.testing.assert_array_equal(back[:, inside], label[:, inside])


def test_predictions_outside_the_grid_are_background():
    grid = SliceGrid((40, 40), (3.0, 1.0, 1.0), size=10, fov=20.0, center=(10.0, 30.0))
    native = grid.from_grid(np.ones((1, 10, 10), np.uint8))[0]
    np.testing.assert_array_equal(native.astype(bool), grid.inside())
    assert native[:, :20].sum() == 0 and native[1:20, 21:40].all()  # pixel 0, 20: on the edge


# -- one step for the benchmark and suggest ----------------------------------------------
def test_benchmark_and_suggest_see_the_same_arrays(cardiac):
    settings = {"labels": "heart=1+2", "crop_mm": 150.0}
    bench = prepare_dataset(str(cardiac), 32, **settings)
    project = AnnotationProject(cardiac).slices(32, **settings)
    assert [s.id for s in bench.subjects] == [s.id for s in project.subjects]
    for a, b in zip(bench.subjects, project.subjects, strict=True):
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)
        assert a.grid == b.grid
    assert project.classes.as_dict() == {0: "background", 1: "heart"}


def test_command_line_errors_are_one_line(cardiac, tmp_path, capsys):
    out = tmp_path / "out"
    for args, message in (
        (["--labels", "1,99"], "label value 99 in no label volume"),
        (["--labels", "a=1,a=2"], "two classes are named 'a'"),
        (["--pixel-mm", "0"], "--pixel-mm must be a size in mm > 0"),
        (["--crop-mm", "-1"], "--crop-mm must be a size in mm > 0"),
    ):
        code = main(["benchmark", "segmentation", "--data", str(cardiac), "--summary-only",
                     "--out", str(out), *args])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert main(["benchmark", "segmentation", "--data", str(cardiac), "--summary-only",
                 "--out", str(out), "--labels", "heart=1+2", "--crop-mm", "150"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "heart [1+2]" in printed and "--crop-mm 150" in printed
    assert json.loads((out / "summary.json").read_text())["classes"][0]["name"] == "heart"


def _stored(folder):
    from bsqkit.datasets import load_labeled_folder

    return load_labeled_folder(folder)[0]


def _escaped(text: str) -> str:
    import re

    return re.escape(text)
