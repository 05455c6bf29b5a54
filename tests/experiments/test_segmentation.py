"""The segmentation protocol on small NIfTI data sets the tests write (and the phantom)."""

import functools
import json

import numpy as np
import pytest

from bsqkit.exceptions import InputError
from bsqkit.experiments.segmentation import (
    METHODS,
    evaluate_subjects,
    noise_floor,
    run_holdout,
    run_segmentation_benchmark,
    train_encoder,
)
from bsqkit.experiments.segmentation.data import (
    prepare_dataset,
    split_holdout,
    subject_split,
)
from bsqkit.profiles import budget_count, load_profile, validate_profile
from tests.experiments.conftest import make_cine_folder


def test_subject_split_is_disjoint_and_matches_the_paper():
    pool, val, test = subject_split(36, (0.70, 0.05, 0.25), seed=3)
    assert (len(pool), len(val), len(test)) == (25, 2, 9)
    assert len(set(pool) | set(val) | set(test)) == 36
    with pytest.raises(InputError, match="fractions"):
        subject_split(10, (0.5, 0.5, 0.5), 0)


def test_profiles_are_validated():
    cpu, paper = load_profile("cpu"), load_profile("paper")
    assert paper["segmenter"]["max_steps"] == 8000 and paper["vae"]["n_latent"] == 200
    assert paper["slice"] == {
        "n_init": 64,
        "n_uncertain": 64,
        "n_instances": 32,
        "n_iterations": 11,
    }
    assert isinstance(cpu["slice"]["n_init"], float) and cpu["segmenter"]["retrain"] == "warm"
    with pytest.raises(InputError, match="profile"):
        load_profile("gpu")
    for change, message in (
        (lambda p: p.update(colour=1), "unknown profile key 'colour'"),
        (lambda p: p["slice"].update(n_init=1.5), r"'slice\.n_init'.*\(0, 1\]"),
        (lambda p: p["slice"].update(n_instances=0.0), r"'slice\.n_instances'"),
        (lambda p: p["slice"].update(n_init=0), r"'slice\.n_init'"),
        (
            lambda p: p["segmenter"].update(dropuot="head"),
            r"unknown profile key 'segmenter\.dropuot'",
        ),
        (lambda p: p["segmenter"].update(dropout="everywhere"), "'head' or 'blocks'"),
        (lambda p: p["slice"].pop("until"), "needs 'until' or 'n_iterations'"),
        (lambda p: p.update(split=[0.5, 0.5, 0.5]), "summing to 1"),
    ):
        profile = load_profile("cpu")
        change(profile)
        with pytest.raises(InputError, match=message):
            validate_profile(profile)


def test_profile_from_a_json_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({**load_profile("cpu"), "image_size": 32}))
    assert load_profile(path)["image_size"] == 32
    with pytest.raises(InputError, match="does not exist"):
        load_profile(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_profile(tmp_path / "bad.json")


def test_budgets_are_counts_or_fractions_of_the_pool():
    assert budget_count(0.0025, 6482) == 16 and budget_count(64, 6482) == 64
    assert budget_count(0.0001, 100) == 1  # at least one


@pytest.mark.parametrize("order", ["HWZ", "ZHW"])
def test_conventional_volumes_are_sliced_through_plane_without_flags(tmp_path, order):
    # cine-like volumes, 10 mm between slices: stored (H, W, Z) or (Z, H, W), the slices
    # must be the 6 through-plane ones of 32 x 28 pixels of 1.5 mm, either way
    folder = make_cine_folder(tmp_path / order, n_patients=2, frames=1, order=order)
    data = prepare_dataset(str(folder), image_size=24)
    s = data.subjects[0]
    assert s.native_label.shape == (6, 32, 28)
    assert s.grid.spacing == (10.0, 1.5, 1.5)
    assert "largest voxel spacing (10 mm" in s.axis_reason and "axial" in s.axis_reason
    reference = prepare_dataset(str(make_cine_folder(tmp_path / "ref", 2, 1)), image_size=24)
    np.testing.assert_array_equal(s.native_label, reference.subjects[0].native_label)
    np.testing.assert_allclose(s.X, reference.subjects[0].X, atol=1e-5)
    # an explicit stored axis overrides
    across = prepare_dataset(str(folder), image_size=24, slice_axis=1 if order == "HWZ" else 2)
    assert across.subjects[0].native_label.shape == (28, 32, 6)
    assert "--slice-axis" in across.subjects[0].axis_reason


def test_isotropic_volumes_are_sliced_axially():
    from bsqkit.datasets import Subject
    from bsqkit.datasets.slicing import choose_slice_axis

    # stored (S, R, A) with 1 mm voxels: the S axis is stored axis 0
    affine = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]])
    volume = np.zeros((5, 6, 7), np.float32)
    subject = Subject("iso", volume, volume.astype(np.uint8), (1.0, 1.0, 1.0), affine=affine)
    axis, reason = choose_slice_axis(subject)
    assert axis == 2 and reason.startswith("stored axis 0, axial") and "tied" in reason


def test_grid_keeps_labels_aligned_with_their_images():
    # random squares at random positions and scales: no systematic offset between a
    # resampled label map and its image (the old resizing put labels half a pixel off)
    from bsqkit.datasets.slicing import SliceGrid

    rng = np.random.RandomState(0)
    offsets = []
    for _ in range(150):
        h, w = rng.randint(30, 70, 2)
        grid = SliceGrid((h, w), (3.0, 1.0, 1.0), int(rng.choice([24, 48, 96])), max(h, w) * 1.2)
        image = np.zeros((1, h, w), np.float32)
        r, c = rng.randint(2, h - 14), rng.randint(2, w - 14)
        image[0, r : r + rng.randint(6, 12), c : c + rng.randint(6, 12)] = 1
        on_grid = grid.to_grid(image)[0]
        label = grid.to_grid(image.astype(np.uint8) * 2, labels=True)[0] > 0
        yy, xx = np.mgrid[: grid.size, : grid.size]

        def centre(m, yy=yy, xx=xx):
            return np.array([(m * yy).sum(), (m * xx).sum()]) / m.sum()

        offsets.append(centre(label) - centre(on_grid))
    offsets = np.array(offsets)
    assert np.abs(offsets.mean(axis=0)).max() < 0.05  # no bias
    assert np.abs(offsets).max() < 0.5  # within half a pixel


def test_predictions_come_back_to_the_native_grid(cine_folder):
    data = prepare_dataset(str(cine_folder), image_size=24)  # 2 mm pixels, coarser

    class Truth:  # predicts each subject's labels on the common grid
        def predict(self, X):
            return next(s.y for s in data.subjects if s.X is X)

    result = evaluate_subjects(Truth(), data.subjects[:3], labels=[1, 2], resized_grid=True)
    # the round trip through the coarser grid costs a little, on the subject's own grid
    assert 0.75 < result["dice"] < 1.0 and result["dice_resized"] == 1.0
    assert result["n_empty_predictions"] == 0 and result["msd"] < 1.0

    class Nothing:
        def predict(self, X):
            return np.zeros(X.shape, int)

    empty = evaluate_subjects(Nothing(), data.subjects[:3], labels=[1, 2])
    assert empty["n_empty_predictions"] == 6 and empty["dice"] == 0.0


def test_groups_stay_on_one_side_and_subsets_are_drawn(cine_folder):
    data = prepare_dataset(str(cine_folder), image_size=24, group_by=r"(patient\d+)_frame")
    assert len({s.group for s in data.subjects}) == 8 and len(data.subjects) == 16
    for holdout in range(3):
        split = split_holdout(data, (0.70, 0.05, 0.25), holdout)
        pool, test = set(split["pool_groups"].tolist()), {s.group for s in split["test"]}
        assert pool and test and not pool & test
    subset = prepare_dataset(str(cine_folder), 24, n_subjects=6, group_by=r"(patient\d+)_")
    groups = [s.group for s in subset.subjects]
    assert len(groups) == 6 and all(groups.count(g) == 2 for g in groups)  # whole patients
    assert groups != ["patient000", "patient000", "patient001", "patient001"][:6]
    other = prepare_dataset(str(cine_folder), 24, n_subjects=6, group_by=r"(patient\d+)_", seed=1)
    assert [s.id for s in other.subjects] != [s.id for s in subset.subjects]


def _split(folder, profile, **kw):
    data = prepare_dataset(str(folder), profile["image_size"], **kw)
    return data, split_holdout(data, profile["split"], 0)


def test_slice_mode_budgets_until_and_the_same_initial_set(cine_folder, tiny_profile):
    data, split = _split(cine_folder, tiny_profile)
    n_pool = len(split["X_pool"])
    encoder = train_encoder(split["X_pool"], tiny_profile, "cpu", 0)
    firsts = {}
    for method in METHODS:
        out = run_holdout(split, method, tiny_profile, data.n_classes, encoder)
        if method == "Upper bound":
            assert out["records"][0]["n_annotated"] == n_pool
            continue
        counts = [r["n_annotated"] for r in out["records"]]
        step, until = budget_count(0.1, n_pool), budget_count(0.3, n_pool)
        # batches of 10 % of the pool until 30 % is reached
        assert counts == list(range(step, until + step, step))[: -(-until // step)]
        assert counts[-2] < until <= counts[-1]
        assert out["stop"].startswith("reached until")
        assert len(set(out["annotated"])) == len(out["annotated"])
        for r in out["records"]:
            assert 0 <= r["dice"] <= 1 and r["msd"] >= 0 and r["msd_in_plane"] >= 0
            assert len(r["dice_per_structure"]) == 2
        firsts[method] = out["annotated"][:step]
    assert len({tuple(v) for v in firsts.values()}) == 1


def test_an_exhausted_pool_is_not_queried_again(cine_folder, tiny_profile):
    tiny_profile["slice"] = {"n_init": 0.5, "n_uncertain": 0.9, "n_instances": 0.4, "until": 1.0}
    data, split = _split(cine_folder, tiny_profile)
    out = run_holdout(split, "Random", tiny_profile, data.n_classes)
    counts = [r["n_annotated"] for r in out["records"]]
    assert counts[-1] == len(split["X_pool"]) and len(counts) == 3
    assert "used up" in out["stop"]
    tiny_profile["slice"] = {
        "n_init": 0.5,
        "n_uncertain": 0.9,
        "n_instances": 0.4,
        "n_iterations": 9,
    }
    out = run_holdout(split, "Random", tiny_profile, data.n_classes)
    assert len(out["records"]) == 3 and "used up" in out["stop"]


def test_pool_smaller_than_the_initial_set(cine_folder, tiny_profile):
    tiny_profile["slice"]["n_init"] = 10_000
    data, split = _split(cine_folder, tiny_profile)
    with pytest.raises(InputError, match="fewer than the initial set"):
        run_holdout(split, "Random", tiny_profile, data.n_classes)


@pytest.mark.parametrize("retrain", ["scratch", "warm"])
def test_resume_after_interruption(cine_folder, tiny_profile, tmp_path, retrain):
    tiny_profile["segmenter"]["retrain"] = retrain
    data, split = _split(cine_folder, tiny_profile)
    encoder = train_encoder(split["X_pool"], tiny_profile, "cpu", 0)
    # one holdout, method and encoder throughout; only the state and checkpoint vary
    run = functools.partial(
        run_holdout, split, "BSQ greedy", tiny_profile, data.n_classes, encoder
    )
    full = run(checkpoint=tmp_path / "a.pt")
    saved = []

    def killed_after_the_first_save(state):
        saved.append(json.loads(json.dumps(state)))
        raise KeyboardInterrupt

    stem = tmp_path / "b.pt"
    with pytest.raises(KeyboardInterrupt):
        run(on_iteration=killed_after_the_first_save, checkpoint=stem)
    resumed = run(state=saved[0], checkpoint=stem)
    assert resumed["annotated"] == full["annotated"]
    assert [r["dice"] for r in resumed["records"]] == [r["dice"] for r in full["records"]]
    if retrain == "warm":
        # without the last model a warm run cannot resume exactly: refused, not guessed
        with pytest.raises(InputError, match=r"model of iteration 0 .* is missing"):
            run(state=saved[0], checkpoint=tmp_path / "elsewhere.pt")


def test_budgets_are_checked_before_any_training(cine_folder, tiny_profile, tmp_path):
    from bsqkit.experiments.segmentation import check_budgets

    _, split = _split(cine_folder, tiny_profile)
    bad_shortlist = {**tiny_profile, "slice": {**tiny_profile["slice"], "n_uncertain": 0.01}}
    with pytest.raises(InputError, match=r"'slice\.n_uncertain' .* is below 'slice\.n_instances'"):
        check_budgets(split, bad_shortlist, "slice", ["BSQ top"])
    check_budgets(split, bad_shortlist, "slice", ["Random"])  # no shortlist: fine
    early_end = {**tiny_profile, "slice": {**tiny_profile["slice"], "until": 1}}
    with pytest.raises(InputError, match=r"'slice\.until' .* is below 'slice\.n_init'"):
        check_budgets(split, early_end, "slice", ["Random"])
    out = tmp_path / "run"
    with pytest.raises(InputError, match="n_uncertain"):
        run_segmentation_benchmark(
            str(cine_folder),
            out,
            profile=bad_shortlist,
            n_holdouts=1,
            methods=("BSQ top",),
            progress=False,
        )
    assert not list((out / "holdout_0").glob("vae*.pt"))  # refused before the VAE trained


def test_warm_retraining_fine_tunes_the_previous_model(cine_folder, tiny_profile):
    data, split = _split(cine_folder, tiny_profile)
    runs = {}
    for retrain in ("scratch", "warm"):
        tiny_profile["segmenter"]["retrain"] = retrain
        runs[retrain] = run_holdout(split, "Random", tiny_profile, data.n_classes)
    assert runs["scratch"]["annotated"] == runs["warm"]["annotated"]  # same queries (Random)
    assert runs["scratch"]["records"][0]["dice"] == runs["warm"]["records"][0]["dice"]
    assert runs["scratch"]["records"][1]["dice"] != runs["warm"]["records"][1]["dice"]


@pytest.mark.parametrize(
    "method", ["Random", "Uncertainty", "Suggestive Annotation", "CoreSet", "BSQ greedy"]
)
def test_volume_mode_queries_whole_volumes_through_the_group_strategies(
    cine_folder, tiny_profile, method
):
    from bsqkit.catalogue import make_segmenter, make_strategy

    data, split = _split(cine_folder, tiny_profile)
    encoder = train_encoder(split["X_pool"], tiny_profile, "cpu", 0)
    volume_of = np.unique(split["pool_ids"], return_inverse=True)[1]
    out = run_holdout(split, method, tiny_profile, data.n_classes, encoder, mode="volume")
    assert [r["n_volumes"] for r in out["records"]] == [1, 3, 5]
    n_first = out["records"][0]["n_annotated"]
    first, queried = out["annotated"][:n_first], np.array(out["annotated"][n_first:])
    queried = queried[: out["records"][1]["n_annotated"] - n_first]
    # the same two volumes as the strategy's own group query on that model
    X = split["X_pool"]
    seg = make_segmenter(tiny_profile, data.n_classes, "cpu", 0)
    seg.fit(X[first], split["y_pool"][first])
    candidates = np.setdiff1d(np.arange(len(X)), first)
    strategy, _ = make_strategy(
        method, n_uncertain=3, n_mc=tiny_profile["n_mc"], seed=0, encoder=encoder, segmenter=seg
    )
    idx, scores = strategy.query(
        X[candidates],
        estimator=seg,
        X_labeled=X[first],
        n_instances=2,
        groups=volume_of[candidates],
        labeled_groups=volume_of[first],
    )
    np.testing.assert_array_equal(queried, candidates[idx])
    assert scores.shape == (2,)
    for volume in set(volume_of[queried].tolist()):  # whole volumes
        assert (volume_of[queried] == volume).sum() == (volume_of == volume).sum()


def test_noise_floor_trains_several_seeds_on_one_set(cine_folder, tiny_profile):
    data, split = _split(cine_folder, tiny_profile)
    records = noise_floor(split, tiny_profile, data.n_classes, 10, n_seeds=2)
    assert [r["training_seed"] for r in records] == [0, 1]
    assert records[0]["dice"] != records[1]["dice"] or records[0]["msd"] != records[1]["msd"]


def test_runner_summary_resume_collect_and_refusals(cine_folder, tiny_profile, tmp_path):
    out = tmp_path / "run"
    kwargs = {"profile": tiny_profile, "n_holdouts": 2, "progress": False}
    summary = run_segmentation_benchmark(str(cine_folder), out, summary_only=True, **kwargs)
    assert summary["records"] == [] and "16 of 16 subjects" in summary["summary"]
    assert sorted(p.name for p in out.iterdir()) == ["pool_examples.png", "summary.json"]
    facts = json.loads((out / "summary.json").read_text())
    assert facts["slice_axis"] and facts["labels"] == {
        "0": "background",
        "1": "label 1",
        "2": "label 2",
    }
    methods = ("Random", "BSQ top", "Upper bound")
    one = run_segmentation_benchmark(str(cine_folder), out, only=[0], methods=methods, **kwargs)
    assert {r["holdout"] for r in one["records"]} == {0}
    # per class by name, beside the mean over classes
    assert one["classes"] == ["label 1", "label 2"]
    for r in one["records"]:
        per_class = [r["dice:label 1"], r["dice:label 2"]]
        assert r["dice"] == pytest.approx(np.mean(per_class))
        assert r["dice_per_structure"] == per_class and "msd:label 2" in r
    stamp = (out / "holdout_0" / "slice_Random.json").stat().st_mtime_ns
    collected = run_segmentation_benchmark(
        str(cine_folder), out, methods=methods, collect=True, **kwargs
    )
    assert collected["records"] == one["records"]  # read, not recomputed
    assert (out / "holdout_0" / "slice_Random.json").stat().st_mtime_ns == stamp
    assert collected["missing"] == [f"holdout 1 {m} (not started)" for m in methods]
    assert not list((out / "holdout_1").glob("vae*.pt"))  # collecting trains nothing
    with pytest.raises(InputError, match=r"other settings \(profile\.n_mc\)"):
        run_segmentation_benchmark(
            str(cine_folder),
            out,
            only=[0],
            methods=methods,
            **{**kwargs, "profile": {**tiny_profile, "n_mc": 4}},
        )
    # other MMD-VAE settings: the finished BSQ run is refused before a VAE trains
    vaes = sorted((out / "holdout_0").glob("vae-*.pt"))
    assert len(vaes) == 1
    vae = {**tiny_profile["vae"], "lr": 0.5}
    with pytest.raises(
        InputError, match=r"slice_BSQ_top\.json was made with other settings \(profile\.vae\)"
    ):
        run_segmentation_benchmark(
            str(cine_folder),
            out,
            only=[0],
            methods=("BSQ top",),
            **{**kwargs, "profile": {**tiny_profile, "vae": vae}},
        )
    assert sorted((out / "holdout_0").glob("vae-*.pt")) == vaes


def test_phantom_is_the_embedded_default():
    data = prepare_dataset("phantom", image_size=16, n_subjects=2, phantom_size=2)
    assert data.n_classes == 5 and all(s.X.shape[1:] == (16, 16) for s in data.subjects)
    assert all("largest voxel spacing (3 mm" in s.axis_reason for s in data.subjects)


def test_real_hippocampus_stored_another_way_is_read_the_same(hippocampus_dir, tmp_path):
    # three real subjects, every other axial slice (2 mm apart), stored (S, R, A) with an
    # affine that says so: read without flags, they give the original's axial slices
    import nibabel as nib

    from bsqkit.datasets import load_decathlon

    for s in load_decathlon(hippocampus_dir, limit=3):
        for kind, volume in (("images", s.image), ("labels", s.label)):
            thick = np.moveaxis(volume[:, :, ::2], 2, 0)  # (S, R, A)
            affine = np.zeros((4, 4))
            affine[2, 0], affine[0, 1], affine[1, 2], affine[3, 3] = 2.0, 1.0, 1.0, 1.0
            (tmp_path / "thick" / kind).mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(thick, affine), tmp_path / "thick" / kind / f"{s.id}.nii.gz")
    thick = prepare_dataset(str(tmp_path / "thick"), image_size=48)
    original = prepare_dataset(str(hippocampus_dir), image_size=48, n_subjects=None)
    by_id = {s.id: s for s in original.subjects}
    for s in thick.subjects:
        ref = by_id[s.id]
        assert "stored axis 0, axial: the largest voxel spacing (2 mm" in s.axis_reason
        assert s.grid.spacing == (2.0, 1.0, 1.0)
        np.testing.assert_array_equal(s.native_label, ref.native_label[::2])

        class Truth:
            def predict(self, X, s=s):
                return s.y

        scores = evaluate_subjects(Truth(), [s], labels=[1, 2])
        assert scores["dice"] > 0.9 and scores["n_empty_predictions"] == 0


def test_nnunet_v2_label_maps_are_read(tmp_path):
    from bsqkit.datasets import load_labeled_folder

    folder = make_cine_folder(tmp_path / "v2", n_patients=1, frames=1, decathlon=True)
    meta = json.loads((folder / "dataset.json").read_text())
    meta["labels"] = {"background": 0, "myocardium": 1, "cavity": 2}  # nnU-Net v2 style
    (folder / "dataset.json").write_text(json.dumps(meta))
    _, labels = load_labeled_folder(folder)
    assert labels == {1: "myocardium", 2: "cavity"}
    meta["labels"] = {"background": 0, "heart": [1, 2]}  # regions: not supported
    (folder / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="region-based labels are not supported"):
        load_labeled_folder(folder)
    profile = load_profile("cpu")
    profile["segmenter"] = [1, 2]
    with pytest.raises(InputError, match="'segmenter': expected a section"):
        validate_profile(profile)


def test_segmentation_data_is_a_deprecated_alias():
    import bsqkit.experiments.segmentation_data as old
    from bsqkit.experiments.segmentation import data

    with pytest.warns(FutureWarning, match=r"segmentation\.data"):
        assert old.prepare_dataset is data.prepare_dataset
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018
