"""`bsqkit suggest`: annotation rounds on phantom volumes written as NIfTI, the test
playing the annotator."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from bsqkit.exceptions import InputError
from bsqkit.workflow import AnnotationProject
from tests.conftest import REPO

FAST = {"max_steps": 15, "vae_epochs": 1, "image_size": 24, "n_mc": 3, "verbose": False}


@pytest.fixture(scope="module")
def phantom_volumes():
    """Six small phantom shoulders: (image, label, affine), a quarter of the resolution."""
    from bsqkit.datasets import make_shoulder_phantom

    out = []
    for s in make_shoulder_phantom(6, random_state=0, harmonised=False):
        zoom = (0.25, 0.25, 0.25)
        image = ndimage.zoom(s.image, zoom, order=1).astype(np.float32)
        label = ndimage.zoom(s.label, zoom, order=0).astype(np.uint8)
        affine = np.diag([*(4 * np.asarray(s.spacing)), 1.0])
        out.append((s.id, image, label, affine))
    return out


@pytest.fixture
def project(tmp_path, phantom_volumes):
    root = tmp_path / "project"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for name, image, _, affine in phantom_volumes:
        nib.save(nib.Nifti1Image(image, affine), root / "images" / f"{name}.nii.gz")
    # the annotator has drawn three slices of the first subject so far
    name, _, label, affine = phantom_volumes[0]
    partial = np.zeros_like(label)
    drawn = [k for k in range(label.shape[2]) if label[..., k].any()][:3]
    partial[..., drawn] = label[..., drawn]
    nib.save(nib.Nifti1Image(partial, affine), root / "labels" / f"{name}.nii.gz")
    return root


def _truth(phantom_volumes):
    return {name: (label, affine) for name, _, label, affine in phantom_volumes}


def _annotate(root: Path, truth, rows, unit="slice"):
    """Copy the ground truth of the suggested slices (or volumes) into labels/."""
    (root / "labels").mkdir(exist_ok=True)
    for row in rows:
        label, affine = truth[row["subject"]]
        path = root / "labels" / f"{row['subject']}.nii.gz"
        current = np.asarray(nib.load(path).dataobj) if path.exists() else np.zeros_like(label)
        if unit == "volume":
            current = label.copy()
        else:
            k = int(row["slice"])  # slices along the stored axis 2 (the 12 mm axis)
            current[..., k] = label[..., k]
            if not label[..., k].any():  # background only: the annotator confirms it
                new = not (root / "annotated.csv").exists()
                with open(root / "annotated.csv", "a", newline="") as fh:
                    writer = csv.writer(fh)
                    if new:
                        writer.writerow(["subject", "slice"])
                    writer.writerow([row["subject"], k])
        nib.save(nib.Nifti1Image(current.astype(np.uint8), affine), path)


def _rows(folder: Path) -> list[dict]:
    with open(folder / "suggestions.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_three_slice_rounds_with_the_test_as_annotator(project, phantom_volumes):
    truth = _truth(phantom_volumes)
    first_name = phantom_volumes[0][0]
    drawn = {
        (first_name, k)
        for k in range(truth[first_name][0].shape[2])
        if np.asarray(nib.load(project / "labels" / f"{first_name}.nii.gz").dataobj)[..., k].any()
    }
    p = AnnotationProject(project)
    r1 = p.suggest(unit="slice", n_instances=4, **FAST)
    assert r1["round"] == 1 and not r1["cold_start"]
    s1 = {(r["subject"], r["slice"]) for r in r1["suggestions"]}
    assert len(s1) == 4 and not s1 & drawn  # annotated slices are never suggested
    assert _rows(r1["folder"])[0]["rank"] == "1"
    _annotate(project, truth, r1["suggestions"])
    r2 = p.suggest(unit="slice", n_instances=4, **FAST)
    s2 = {(r["subject"], r["slice"]) for r in r2["suggestions"]}
    assert not s2 & (s1 | drawn)
    # round 1's model was scored (at round 2) on the four slices annotated since
    assert [v["round"] for v in r2["validation"]] == [1] and r2["validation"][0]["n_slices"] == 4
    assert 0 <= r2["validation"][0]["dice"] <= 1
    # half of round 2's suggestions annotated: the other half is pending, not re-suggested
    _annotate(project, truth, r2["suggestions"][:2])
    pending = {(r["subject"], r["slice"]) for r in r2["suggestions"][2:]}
    r3 = p.suggest(unit="slice", n_instances=4, **FAST)
    s3 = {(r["subject"], r["slice"]) for r in r3["suggestions"]}
    assert not s3 & (s1 | s2 | drawn)
    again = p.suggest(unit="slice", n_instances=4, resuggest=True, **FAST)
    assert again["round"] == 4
    # prelabels: on each image's own grid, with its affine; the prediction fills the
    # suggested slices only, the rest is what the labels already hold
    for row in r3["suggestions"]:
        pre = nib.load(r3["folder"] / "prelabels" / f"{row['subject']}.nii.gz")
        image = nib.load(project / "images" / f"{row['subject']}.nii.gz")
        assert pre.shape == image.shape and np.allclose(pre.affine, image.affine)
        values = np.asarray(pre.dataobj)
        assert set(np.unique(values)) <= set(range(5))
        label_path = project / "labels" / f"{row['subject']}.nii.gz"
        current = np.asarray(nib.load(label_path).dataobj) if label_path.exists() else 0 * values
        suggested = {r["slice"] for r in r3["suggestions"] if r["subject"] == row["subject"]}
        others = [k for k in range(values.shape[2]) if k not in suggested]
        np.testing.assert_array_equal(values[..., others], current[..., others])
    history = p.history()
    assert [r["number"] for r in history["rounds"]] == [1, 2, 3, 4]
    assert len(history["suggestions"]) == 16
    assert pending  # pending ones were excluded in round 3 (checked above)
    for name in ("suggestions.csv", "suggestions.png", "report.html"):
        assert (r3["folder"] / name).stat().st_size > 100


def test_volume_rounds_and_cold_start(tmp_path, phantom_volumes):
    root = tmp_path / "cold"
    (root / "images").mkdir(parents=True)
    for name, image, _, affine in phantom_volumes:
        nib.save(nib.Nifti1Image(image, affine), root / "images" / f"{name}.nii.gz")
    p = AnnotationProject(root)
    r1 = p.suggest(unit="volume", n_instances=2, **FAST)
    assert r1["cold_start"] and len(r1["suggestions"]) == 2
    assert all(r["slice"] is None for r in r1["suggestions"])
    assert not (r1["folder"] / "prelabels").exists()  # no model yet
    _annotate(root, _truth(phantom_volumes), r1["suggestions"], unit="volume")
    r2 = p.suggest(unit="volume", n_instances=2, **FAST)
    assert not r2["cold_start"]
    chosen = {r["subject"] for r in r2["suggestions"]}
    assert not chosen & {r["subject"] for r in r1["suggestions"]}
    assert len(list((r2["folder"] / "prelabels").glob("*.nii.gz"))) == 2
    with pytest.raises(
        InputError, match=r"--n-instances 5 is larger than what is left .*\(2 volume"
    ):
        p.suggest(unit="volume", n_instances=5, **FAST)


def test_a_round_that_fails_leaves_the_project_as_it_was(project, monkeypatch):
    # Ctrl-C in a first round, an error in a later one: both go through the same
    # handlers (BaseException), so each kind of round is failed once
    import bsqkit.workflow.report as report

    p = AnnotationProject(project)
    before = sorted(str(q.relative_to(project)) for q in project.rglob("*"))
    original = report.write_round_outputs
    # what a failed first round may leave: the lock file and the cached MMD-VAE
    kept = (".bsqkit", ".bsqkit/lock", ".bsqkit/cache")

    error = KeyboardInterrupt

    def broken(folder, *a, **k):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "suggestions.csv").write_text("half")
        raise error("in the middle of writing the round")

    monkeypatch.setattr(report, "write_round_outputs", broken)
    with pytest.raises(KeyboardInterrupt):
        p.suggest(unit="slice", n_instances=3, **FAST)
    # a first round: no state, no rounds/, no checkpoint
    after = [str(q.relative_to(project)) for q in project.rglob("*")]
    assert sorted(q for q in after if not q.startswith(kept)) == before
    monkeypatch.setattr(report, "write_round_outputs", original)
    assert p.suggest(unit="slice", n_instances=3, **FAST)["round"] == 1
    state = _dump(project / ".bsqkit" / "state.sqlite")
    error = RuntimeError
    monkeypatch.setattr(report, "write_round_outputs", broken)
    with pytest.raises(RuntimeError):
        p.suggest(unit="slice", n_instances=3, **FAST)
    # a later round: the state and the files of round 1 as they were
    assert _dump(project / ".bsqkit" / "state.sqlite") == state
    assert sorted(q.name for q in (project / "rounds").iterdir()) == ["001"]
    assert not (project / ".bsqkit" / "checkpoints" / "round_002.pt").exists()
    assert [r["number"] for r in p.history()["rounds"]] == [1]


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return list(con.iterdump())


def test_only_a_verbose_round_estimates_and_announces_its_time(project, capsys, monkeypatch):
    import bsqkit.workflow.rounds as rounds

    estimates = []
    original = rounds._expected_duration
    monkeypatch.setattr(
        rounds, "_expected_duration", lambda *a: estimates.append(original(*a)) or estimates[-1]
    )
    p = AnnotationProject(project)
    quiet = p.suggest(unit="slice", n_instances=2, **FAST)
    assert quiet["expected_seconds"] is None and not estimates
    loud = p.suggest(unit="slice", n_instances=2, **{**FAST, "verbose": True})
    ((seconds, parts),) = estimates
    assert "training" in parts and "scoring" in parts and seconds > 0
    assert loud["expected_seconds"] > seconds
    announced = [x for x in capsys.readouterr().out.splitlines() if "expected ~" in x]
    assert len(announced) == 1 and parts in announced[0]


def test_a_non_nifti_file_in_images_is_named_in_one_warning(project, capsys):
    (project / "images" / "notes.txt").write_text("scanned on Tuesday")
    (project / "images" / "ids.csv").write_text("a,b")
    AnnotationProject(project).suggest(unit="slice", n_instances=2, **{**FAST, "verbose": True})
    warnings = [x for x in capsys.readouterr().out.splitlines() if "not NIfTI" in x]
    assert len(warnings) == 1 and "2 files" in warnings[0] and "notes.txt" in warnings[0]


@pytest.mark.slow
def test_the_lock_is_held_by_another_process_until_it_ends(project):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom bsqkit.workflow.state import project_lock\n"
            f"with project_lock({str(project / '.bsqkit')!r}):\n"
            "    print('held', flush=True)\n    time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=f"another bsqkit suggest is running.*{holder.pid}"):
            AnnotationProject(project).suggest(unit="slice", n_instances=2, **FAST)
    finally:
        holder.kill()
        holder.wait()
    # the system released the killed holder's lock: nothing to take over by hand
    assert AnnotationProject(project).suggest(unit="slice", n_instances=2, **FAST)["round"] == 1


@pytest.mark.slow
def test_a_killed_round_is_discarded_and_its_lock_freed(project):
    # a real kill: SIGKILL while the round trains
    code = (
        "from bsqkit.workflow import AnnotationProject\n"
        f"AnnotationProject({str(project)!r}).suggest(unit='slice', n_instances=3, "
        "max_steps=100000, vae_epochs=1, image_size=24, verbose=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    db = project / ".bsqkit" / "state.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    if con.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]:
                        break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    result = AnnotationProject(project).suggest(unit="slice", n_instances=3, **FAST)
    assert result["round"] == 1  # the killed round's lock is free, its round discarded


def test_a_second_round_on_the_same_project_is_refused(project):
    from bsqkit.workflow.state import project_lock

    with project_lock(project / ".bsqkit"):
        with pytest.raises(InputError, match="another bsqkit suggest is running"):
            AnnotationProject(project).suggest(unit="slice", n_instances=2, **FAST)


def test_a_project_of_another_schema_is_refused(project):
    AnnotationProject(project).suggest(unit="slice", n_instances=2, **FAST)
    with sqlite3.connect(project / ".bsqkit" / "state.sqlite") as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(InputError, match="schema 99"):
        AnnotationProject(project).suggest(unit="slice", n_instances=2, **FAST)


def test_bad_project_folders_name_the_file(tmp_path, project, phantom_volumes):
    with pytest.raises(InputError, match="images does not exist"):
        AnnotationProject(tmp_path / "none").suggest(**FAST)
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(InputError, match=r"holds no \.nii"):
        AnnotationProject(tmp_path / "empty").suggest(**FAST)
    name, _, label, affine = phantom_volumes[1]
    path = project / "labels" / f"{name}.nii.gz"
    nib.save(nib.Nifti1Image(label[:-1], affine), path)
    with pytest.raises(InputError, match=rf"{name}.nii.gz.*differ in shape"):
        AnnotationProject(project).suggest(**FAST)
    shifted = affine.copy()
    shifted[0, 3] = 9.0
    nib.save(nib.Nifti1Image(label, shifted), path)
    with pytest.raises(InputError, match="different affines"):
        AnnotationProject(project).suggest(**FAST)
    nib.save(nib.Nifti1Image(label, affine), path)
    (project / "labels.json").write_text(json.dumps({"labels": {"0": "bg", "1": "humerus"}}))
    with pytest.raises(
        InputError, match=r"label values \[2, 3, 4\] outside the classes declared in labels\.json"
    ):
        AnnotationProject(project).suggest(**FAST)
    (project / "labels.json").unlink()
    shutil.copy(path, project / "labels" / "stray.nii.gz")
    with pytest.raises(InputError, match=r"stray\.nii\.gz .*no image of the same name"):
        AnnotationProject(project).suggest(**FAST)
    (project / "labels" / "stray.nii.gz").unlink()
    (project / "annotated.csv").write_text(f"subject,slice\n{name},999\n")
    with pytest.raises(InputError, match=r"annotated.csv line 2: slice '999' .* does not exist"):
        AnnotationProject(project).suggest(**FAST)


def test_the_command_line_round_and_its_errors(project, capsys):
    from bsqkit.cli import main

    argv = [
        "suggest",
        str(project),
        "--n-instances",
        "3",
        "--max-steps",
        "15",
        "--vae-epochs",
        "1",
        "--image-size",
        "24",
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-1].startswith("report: ") and lines[-1].endswith("report.html")
    assert [line.split()[0] for line in lines[-4:-1]] == ["1", "2", "3"]  # the 3 suggestions
    assert main([*argv[:2], "--n-instances", "100000", *argv[4:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bsqkit: error: --n-instances 100000 is larger") and "\n" not in err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _site_check():
    """``docs/check_site.py``, whose headless Chromium command line the test shares."""
    spec = importlib.util.spec_from_file_location("check_site", REPO / "docs" / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_report_renders_in_a_real_browser(project, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("BSQKIT_REQUIRE_BROWSER"):
            pytest.fail("BSQKIT_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("headless Chromium not installed (Debian package chromium)")
    result = AnnotationProject(project).suggest(unit="slice", n_instances=5, **FAST)
    page = (result["folder"] / "report.html").resolve()
    flags = _site_check().headless(browser, tmp_path / "profile", budget_ms=5000)
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'data-thumbnails-shown="5"' in dom  # every thumbnail decoded in the browser
    assert dom.count('class="thumb"') == 5 and "Round 1: annotate these 5 slices next" in dom
    # class names with their colours, orientation, and every column explained
    assert dom.count('class="swatch"') == 1 and "label 1" in dom
    assert "A/P anterior/posterior" in dom
    for column in ("score", "uncertainty", "representativeness"):
        assert f"<th>{column}</th>" in dom and f"<dt>{column}</dt>" in dom
    assert "refitted after each pick" in dom  # why greedy ranks need not follow the score
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1100,1500", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 1000 and pixels[..., :3].std() > 0.05  # not a blank page
    for thumb in sorted((result["folder"] / "thumbs").glob("*.png")):
        rgb = mpimg.imread(thumb)[..., :3]
        assert rgb.std() > 0.02  # each thumbnail shows an image
        yellow = (rgb[..., 0] > 0.9) & (rgb[..., 1] > 0.9) & (rgb[..., 2] < 0.3)
        assert yellow.sum() > 10  # with its orientation letters


@pytest.mark.slow
def test_report_plots_validation_once_there_are_two_rounds(project, phantom_volumes):
    truth = _truth(phantom_volumes)
    p = AnnotationProject(project)
    for number in range(1, 4):
        result = p.suggest(unit="slice", n_instances=4, **FAST)
        page = (result["folder"] / "report.html").read_text()
        # round 2 scores round 1's model (a table row); round 3 has two rounds: a curve
        assert ('src="validation.png"' in page) == (number == 3)
        assert (result["folder"] / "validation.png").exists() == (number == 3)
        assert ('id="validation"' in page) == (number > 1)
        _annotate(project, truth, result["suggestions"])


def test_volume_rounds_by_patient(tmp_path, phantom_volumes):
    # six volumes, three patients of two volumes each ("p0_a", "p0_b", ...)
    root = tmp_path / "patients"
    (root / "images").mkdir(parents=True)
    names = {}
    for k, (name, image, _, affine) in enumerate(phantom_volumes):
        names[name] = f"p{k // 2}_{'ab'[k % 2]}"
        nib.save(nib.Nifti1Image(image, affine), root / "images" / f"{names[name]}.nii.gz")
    result = AnnotationProject(root).suggest(
        unit="volume", n_instances=2, group_by=r"(p\d+)_", **FAST
    )
    rows = result["suggestions"]
    assert len(rows) == 4 and sorted({r["rank"] for r in rows}) == [1, 2]
    for rank in (1, 2):  # both volumes of a patient, with the patient's rank
        patients = {r["subject"].split("_")[0] for r in rows if r["rank"] == rank}
        assert len(patients) == 1 and sum(r["rank"] == rank for r in rows) == 2


def test_background_only_annotations_and_a_fixed_slice_axis(tmp_path, phantom_volumes):
    root = tmp_path / "bg"
    (root / "images").mkdir(parents=True)
    for name, image, _, affine in phantom_volumes[:3]:
        nib.save(nib.Nifti1Image(image, affine), root / "images" / f"{name}.nii.gz")
    # the annotator has only confirmed two slices as empty: no label value at all
    name = phantom_volumes[0][0]
    (root / "annotated.csv").write_text(f"subject,slice\n{name},0\n{name},1\n")
    result = AnnotationProject(root).suggest(unit="slice", n_instances=2, **FAST)
    assert not result["cold_start"] and len(result["suggestions"]) == 2
    assert not {(name, 0), (name, 1)} & {(r["subject"], r["slice"]) for r in result["suggestions"]}
    # the slice numbers of earlier rounds hold along the axis they were made on
    with pytest.raises(InputError, match="sliced along stored axis 2 in earlier rounds"):
        AnnotationProject(root).suggest(unit="slice", n_instances=2, slice_axis=0, **FAST)


def test_label_values_beyond_255_are_refused(project, phantom_volumes):
    name, _, label, affine = phantom_volumes[2]
    nib.save(
        nib.Nifti1Image(label.astype(np.int16) * 100, affine),
        project / "labels" / f"{name}.nii.gz",
    )
    with pytest.raises(InputError, match=r"integer labels in \[0, 255\]"):
        AnnotationProject(project).suggest(**FAST)


def test_a_mistyped_project_folder_writes_nothing(tmp_path):
    with pytest.raises(InputError, match="images does not exist"):
        AnnotationProject(tmp_path / "typo").suggest(**FAST)
    assert not (tmp_path / "typo").exists()


def test_merged_classes_kept_across_rounds_and_written_back_as_values(project, phantom_volumes):
    truth = _truth(phantom_volumes)
    names = {"0": "background", "1": "humerus", "2": "scapula", "3": "supra", "4": "infra"}
    (project / "labels.json").write_text(json.dumps({"labels": names}))
    p = AnnotationProject(project)
    # only value 1 is drawn so far: values declared in labels.json may be chosen too
    r1 = p.suggest(unit="slice", n_instances=3, labels="bones=1+2,muscles=3+4", **FAST)
    state = p.history()["rounds"][0]["settings"]
    assert state["classes"] == ["bones (1+2)", "muscles (3+4)"] and state["n_classes"] == 3
    prelabels = list((r1["folder"] / "prelabels").glob("*.nii.gz"))
    assert prelabels
    for path in prelabels:  # each class written as its first value, on suggested slices
        assert set(np.unique(np.asarray(nib.load(path).dataobj)).tolist()) <= {0, 1, 2, 3, 4}
    _annotate(project, truth, r1["suggestions"])
    r2 = p.suggest(unit="slice", n_instances=3, **FAST)  # --labels kept
    assert p.history()["rounds"][1]["settings"]["classes"] == state["classes"]
    validation = r2["validation"][0]
    assert set(validation["per_class"]) <= {"bones", "muscles"} and validation["per_class"]
    assert validation["dice"] == pytest.approx(np.mean(list(validation["per_class"].values())))
    html = (r2["folder"] / "report.html").read_text()
    assert "<th>bones</th>" in html and "<th>muscles</th>" in html


def test_a_label_value_no_file_holds_is_refused(project):
    with pytest.raises(InputError, match="label value 9 in no label volume"):
        AnnotationProject(project).suggest(labels="1,9", **FAST)


def test_classes_given_once_are_kept_and_a_failed_round_changes_nothing(project, phantom_volumes):
    truth = _truth(phantom_volumes)
    p = AnnotationProject(project)
    r1 = p.suggest(unit="slice", n_instances=2, labels="first=1", **FAST)
    with pytest.raises(InputError, match="label value 9 in no label volume"):
        p.suggest(unit="slice", n_instances=2, labels="9", **FAST)
    _annotate(project, truth, r1["suggestions"])  # draws values 2, 3, 4 too
    p.suggest(unit="slice", n_instances=2, **FAST)
    assert [r["settings"]["classes"] for r in p.history()["rounds"]] == [["first (1)"]] * 2


def test_drawn_classes_keep_their_numbers_and_the_old_model_is_scored_fairly(
    project, phantom_volumes
):
    truth = _truth(phantom_volumes)
    p = AnnotationProject(project)
    r1 = p.suggest(unit="slice", n_instances=4, **FAST)  # only value 1 drawn so far
    assert p.history()["rounds"][0]["settings"]["classes"] == ["label 1"]
    _annotate(project, truth, r1["suggestions"])
    r2 = p.suggest(unit="slice", n_instances=4, **FAST)
    classes = p.history()["rounds"][1]["settings"]["classes"]
    assert classes[0] == "label 1" and len(classes) > 1  # new values appended
    # the first model knew one class: it is scored on that class alone
    assert set(r2["validation"][0]["per_class"]) == {"label 1"}


@pytest.mark.parametrize("strategy", ["bsq-greedy", "Suggestive Annotation", "random-foreground"])
def test_the_columns_are_the_strategys_own_numbers(project, monkeypatch, strategy):
    import bsqkit.catalogue as catalogue

    made = []
    real = catalogue.make_strategy

    def keep(*args, **kwargs):
        made.append(real(*args, **kwargs)[0])
        return made[-1], "kept"

    monkeypatch.setattr(catalogue, "make_strategy", keep)
    p = AnnotationProject(project)
    result = p.suggest(unit="slice", n_instances=4, strategy=strategy, max_per_volume=0, **FAST)
    (used,) = made
    details = used.pick_details_
    rows = _rows(result["folder"])
    assert list(rows[0])[3:] == list(details) == list(used.describe_picks())
    for key, values in details.items():
        np.testing.assert_allclose([float(r[key]) for r in rows], values, rtol=1e-6)
    # with a cap: the kept picks' own numbers, in the strategy's order
    result = p.suggest(unit="slice", n_instances=4, strategy=strategy, max_per_volume=1, **FAST)
    scores = list(made[-1].pick_details_["score"])
    kept = [scores.index(float(r["score"])) for r in _rows(result["folder"])]
    assert kept == sorted(kept) and len({r["subject"] for r in result["suggestions"]}) == 4
