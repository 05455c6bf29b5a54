import json

import numpy as np
import pytest

from bsqkit.datasets import make_shoulder_phantom
from bsqkit.experiments.segmentation import (
    METHODS,
    load_profile,
    prepare_holdout,
    run_holdout,
    subject_split,
    train_encoder,
)


def test_subject_split_is_disjoint_and_matches_the_paper():
    pool, val, test = subject_split(36, (0.70, 0.05, 0.25), seed=3)
    assert (len(pool), len(val), len(test)) == (25, 2, 9)
    assert len(set(pool) | set(val) | set(test)) == 36
    with pytest.raises(ValueError, match="fractions"):
        subject_split(10, (0.5, 0.5, 0.5), 0)


def test_profiles():
    cpu, paper = load_profile("cpu"), load_profile("paper")
    assert paper["segmenter"]["max_steps"] == 8000 and paper["vae"]["n_latent"] == 200
    assert (
        cpu["slice"]
        == paper["slice"]
        == {"n_init": 64, "n_uncertain": 64, "n_instances": 32, "n_iterations": 11}
    )
    with pytest.raises(ValueError, match="profile"):
        load_profile("gpu")


def test_profile_from_a_json_file(tmp_path):

    path = tmp_path / "mine.json"
    path.write_text(json.dumps({**load_profile("cpu"), "image_size": 32}))
    assert load_profile(path)["image_size"] == 32
    assert load_profile(str(path)) == load_profile(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_profile(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def tiny():
    profile = load_profile("cpu")
    profile["image_size"] = 24
    profile["slice"].update(n_init=12, n_uncertain=12, n_instances=6, n_iterations=2)
    profile["segmenter"].update(max_steps=8, width=4, depth=2)
    profile["vae"].update(max_epochs=1, input_size=24, n_latent=4, width=4)
    profile["n_mc"] = 3
    subjects = make_shoulder_phantom(5, random_state=0)
    data = prepare_holdout(subjects, profile, holdout=0, axis=2)
    return profile, data, train_encoder(data["X_pool"], profile, "cpu", 0)


def test_two_iterations_every_method(tiny):
    profile, data, encoder = tiny
    assert data["X_pool"].shape[1:] == (24, 24)
    assert not set(data["pool_ids"]) & set(data["test_ids"])  # subject-wise split
    firsts = {}
    for method in METHODS:
        out = run_holdout(data, method, profile, 5, encoder)
        records = out["records"]
        assert out["finished"] and len(set(out["annotated"])) == len(out["annotated"])
        for r in records:
            assert 0 <= r["dice"] <= 1 and np.isfinite(r["msd"]) and r["msd"] >= 0
            assert len(r["dice_per_structure"]) == 4
        if method == "Upper bound":
            assert records[0]["n_annotated"] == len(data["X_pool"])
            continue
        assert [r["n_annotated"] for r in records] == [12, 18, 24]
        firsts[method] = out["annotated"][:12]
    assert len({tuple(v) for v in firsts.values()}) == 1  # same initial set


def test_resume_after_interruption(tiny):
    profile, data, encoder = tiny
    saved = []
    full = run_holdout(
        data,
        "BSQ greedy",
        profile,
        5,
        encoder,
        on_iteration=lambda s: saved.append(
            {**s, "records": list(s["records"]), "annotated": list(s["annotated"])}
        ),
    )
    partial = saved[0]  # interrupted after iteration 0
    resumed = run_holdout(data, "BSQ greedy", profile, 5, encoder, state=partial)
    assert resumed["annotated"] == full["annotated"]
    assert [r["dice"] for r in resumed["records"]] == [r["dice"] for r in full["records"]]


def test_volume_mode_annotates_whole_volumes(tiny):

    profile, data, encoder = tiny
    profile = {
        **profile,
        "volume": {"n_init": 1, "n_uncertain": 2, "n_instances": 1, "n_iterations": 2},
    }
    n_volumes = len(set(data["pool_ids"]))
    for method in ("Random", "Uncertainty", "Baseline", "BSQ top"):
        out = run_holdout(data, method, profile, 5, encoder, mode="volume")
        assert [r["n_volumes"] for r in out["records"]] == [1, 2, 3] or n_volumes < 3
        ids = data["pool_ids"][out["annotated"]]
        for volume in set(ids):  # every annotated volume is annotated whole
            assert (ids == volume).sum() == (data["pool_ids"] == volume).sum()
    with pytest.raises(ValueError, match="mode"):
        run_holdout(data, "Random", profile, 5, encoder, mode="patch")


def test_benchmark_runner_resumes_and_tabulates(tiny, tmp_path):
    from bsqkit.experiments.segmentation import gap_to_upper_bound, run_segmentation_benchmark
    from bsqkit.plotting import plot_method_difference, plot_segmentation_curves

    profile = {**tiny[0], "n_subjects": 5}
    methods = ("Random", "BSQ top", "Baseline", "Upper bound")
    records = run_segmentation_benchmark(
        "phantom", tmp_path, profile=profile, n_holdouts=1, methods=methods, progress=False
    )
    files = sorted(p.name for p in (tmp_path / "holdout_0").iterdir())
    assert "vae.pt" in files and "slice_BSQ_top.json" in files
    stamp = (tmp_path / "holdout_0" / "slice_Random.json").stat().st_mtime_ns
    again = run_segmentation_benchmark(
        "phantom", tmp_path, profile=profile, n_holdouts=1, methods=methods, progress=False
    )
    assert again == records
    assert (tmp_path / "holdout_0" / "slice_Random.json").stat().st_mtime_ns == stamp
    table = gap_to_upper_bound(records)
    upper = next(r["dice"] for r in records if r["method"] == "Upper bound")
    first = next(r for r in records if r["method"] == "Random" and r["iteration"] == 0)
    row = next(r for r in table if r["method"] == "Random" and r["iteration"] == 0)
    assert row["gap_mean"] == pytest.approx(100 * (upper - first["dice"]))
    assert plot_segmentation_curves(records, tmp_path / "c.png").stat().st_size > 0
    assert type(plot_segmentation_curves(records)).__name__ == "Figure"  # no path: the figure
    assert plot_method_difference(records, tmp_path / "d.png") is not None
    with pytest.raises(ValueError, match="other settings"):
        run_segmentation_benchmark(
            "phantom",
            tmp_path,
            profile={**profile, "n_mc": 4},
            n_holdouts=1,
            methods=methods,
            progress=False,
        )
    # a changed VAE is refused before vae.pt is read: another size, or the same shapes
    for vae in ({**profile["vae"], "n_latent": 6}, {**profile["vae"], "lr": 0.5}):
        with pytest.raises(ValueError, match=r"vae\.pt was made with other data or settings"):
            run_segmentation_benchmark(
                "phantom",
                tmp_path,
                profile={**profile, "vae": vae},
                n_holdouts=1,
                methods=("BSQ top",),
                progress=False,
            )


def test_only_runs_the_chosen_holdouts(tiny, tmp_path):
    from bsqkit.experiments.segmentation import run_segmentation_benchmark

    profile = {**tiny[0], "n_subjects": 5}
    methods = ("Random",)
    kwargs = {"profile": profile, "n_holdouts": 3, "methods": methods, "progress": False}
    records = run_segmentation_benchmark("phantom", tmp_path, only=[1], **kwargs)
    assert {r["holdout"] for r in records} == {1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holdout_1"]
    with pytest.raises(ValueError, match="only"):
        run_segmentation_benchmark("phantom", tmp_path, only=[3], **kwargs)


@pytest.mark.parametrize("method", ["Random", "Uncertainty", "Baseline", "BSQ top", "BSQ greedy"])
def test_volume_mode_queries_several_volumes_through_the_group_strategies(tiny, method):
    from bsqkit.experiments.segmentation import _segmenter, _strategy

    profile, _, encoder = tiny
    profile = {
        **profile,
        "volume": {"n_init": 1, "n_uncertain": 4, "n_instances": 2, "n_iterations": 1},
    }
    data = prepare_holdout(make_shoulder_phantom(10, random_state=1), profile, 0, axis=2)
    volume_of = np.unique(data["pool_ids"], return_inverse=True)[1]
    assert volume_of.max() + 1 >= 6
    out = run_holdout(data, method, profile, 5, encoder, mode="volume")
    assert [r["n_volumes"] for r in out["records"]] == [1, 3]
    n_first = out["records"][0]["n_annotated"]
    first, queried = out["annotated"][:n_first], np.array(out["annotated"][n_first:])
    # the same two volumes as the strategy's own group query on that model
    X = data["X_pool"]
    seg = _segmenter(profile, 5, "cpu", 0).fit(X[first], data["y_pool"][first])
    candidates = np.setdiff1d(np.arange(len(X)), first)
    idx, scores = _strategy(method, profile, "volume", encoder, 0).query(
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
