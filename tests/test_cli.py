import json
import os
import subprocess
import sys

import pytest

from bsqkit import __version__
from bsqkit.cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "quickstart" in capsys.readouterr().out


def test_help_and_version_import_neither_torch_nor_sklearn():
    # the parser answers before any heavy import: a fresh interpreter, since this one
    # has imported everything already
    code = (
        "import sys\n"
        "from bsqkit.cli import main\n"
        "for argv in (['--version'], ['--help'], ['suggest', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sklearn', 'scipy'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out
    assert f"bsqkit {__version__}" in out


def test_quickstart_writes_curve_and_figure(tmp_path, capsys):
    out = tmp_path / "qs"
    assert (
        main(["quickstart", "--out", str(out), "--seeds", "2", "--iterations", "2", "--quiet"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "Random" in printed and "BSQ" in printed
    data = json.loads((out / "digits_curve.json").read_text())
    methods = {r["method"] for r in data["records"]}
    assert {"Random", "BSQ top", "BSQ greedy", "BSQ top + uncertainty", "CoreSet"} <= methods
    # same initial set for every method of a seed
    first = {
        (r["method"], r["seed"]): r["accuracy"] for r in data["records"] if r["iteration"] == 0
    }
    for seed in (0, 1):
        assert len({v for (m, s), v in first.items() if s == seed}) == 1
    assert (out / "digits_curve.png").stat().st_size > 1000
    assert not list(out.glob("*.tmp*"))


def test_bad_arguments():
    with pytest.raises(SystemExit):
        main(["quickstart", "--seeds", "0"])


def test_benchmark_entropy_writes_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "ent"
    argv = [
        "benchmark",
        "entropy",
        "--setup",
        "digits",
        "--experiments",
        "1",
        "--iterations",
        "2",
        "--vae-epochs",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "BSQ greedy" in printed and "CoreSet" in printed
    for name in (
        "results.json",
        "results.csv",
        "summary.csv",
        "entropy.png",
        "latent_coverage.png",
        "accuracy.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert main(argv) == 0  # a second call reuses every finished run


def test_benchmark_entropy_needs_data_for_mnist(tmp_path, capsys):
    assert main(["benchmark", "entropy", "--setup", "s1", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == (
        "bsqkit: error: setup 's1' needs --data (a folder of IDX files)"
    )


def _cine(tmp_path, **kw):
    from tests.experiments.conftest import make_cine_folder

    return make_cine_folder(tmp_path / "cine", n_patients=3, frames=1, **kw)


def _expect_one_line_error(capsys, argv, message):
    import re

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("bsqkit: error: ") and re.search(message, err), err


def test_segmentation_bad_data_gives_one_line_errors(tmp_path, capsys):
    import nibabel as nib
    import numpy as np

    seg = ["benchmark", "segmentation", "--summary-only", "--out", str(tmp_path / "o")]
    _expect_one_line_error(capsys, [*seg, "--data", str(tmp_path / "nope")], "does not exist")
    (tmp_path / "empty").mkdir()
    _expect_one_line_error(capsys, [*seg, "--data", str(tmp_path / "empty")], "is empty")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "scan.nii.gz").write_bytes(b"")
    _expect_one_line_error(
        capsys,
        [*seg, "--data", str(tmp_path / "odd")],
        "none of the accepted layouts: a Decathlon",
    )
    folder = _cine(tmp_path)
    label = folder / "labels" / "patient001_frame01.nii.gz"
    label.rename(tmp_path / "aside.nii.gz")
    _expect_one_line_error(
        capsys, [*seg, "--data", str(folder)], "images without labels.*patient001_frame01"
    )
    # a label map of another shape, then one on another grid (affine): both files named
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 6), np.uint8), np.eye(4)), label)
    _expect_one_line_error(
        capsys,
        [*seg, "--data", str(folder)],
        "images/patient001_frame01.*labels/patient001_frame01.*shape",
    )
    good = nib.load(tmp_path / "aside.nii.gz")
    shifted = good.affine.copy()
    shifted[0, 3] += 5.0
    nib.save(nib.Nifti1Image(np.asarray(good.dataobj), shifted), label)
    _expect_one_line_error(capsys, [*seg, "--data", str(folder)], "different affines")


def test_segmentation_undeclared_labels_and_bad_profiles(tmp_path, capsys):
    import json

    folder = _cine(tmp_path, decathlon=True)
    meta = json.loads((folder / "dataset.json").read_text())
    meta["labels"].pop("2")
    (folder / "dataset.json").write_text(json.dumps(meta))
    seg = ["benchmark", "segmentation", "--data", str(folder), "--out", str(tmp_path / "o")]
    _expect_one_line_error(capsys, [*seg, "--summary-only"], r"label values \[2\].*dataset\.json")
    meta["labels"]["2"] = "cavity"
    (folder / "dataset.json").write_text(json.dumps(meta))
    from bsqkit.profiles import load_profile

    for change, message in (
        (lambda p: p.update(speed=2), "unknown profile key 'speed'"),
        (lambda p: p["slice"].update(n_instances=1.2), r"'slice\.n_instances'.*\(0, 1\]"),
        (lambda p: p["slice"].update(n_init=10_000), "fewer than the initial set"),
    ):
        profile = load_profile("cpu")
        profile["segmenter"].update(max_steps=2, width=4, depth=2)
        change(profile)
        path = tmp_path / "profile.json"
        path.write_text(json.dumps(profile))
        _expect_one_line_error(
            capsys, [*seg, "--profile", str(path), "--methods", "Random", "--quiet"], message
        )


def test_segmentation_summary_only_prints_and_writes_the_summary(tmp_path, capsys):
    import json

    folder = _cine(tmp_path)
    out = tmp_path / "o"
    argv = ["benchmark", "segmentation", "--data", str(folder), "--out", str(out)]
    assert main([*argv, "--summary-only"]) == 0
    printed = capsys.readouterr().out
    assert "3 of 3 subjects" in printed and "the largest voxel spacing (3 subjects)" in printed
    assert "spacing: through-plane 10-10 mm" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spacing_mm"]["through_plane"] == [10.0, 10.0]
    assert (out / "pool_examples.png").stat().st_size > 1000


def test_cite_prints_bibtex_for_the_paper_and_the_methods(capsys):
    assert main(["cite"]) == 0
    out = capsys.readouterr().out
    for key in (
        "ozdemir2021bsq",
        "bsqkit",
        "yang2017suggestive",
        "sener2018coreset",
        "zhao2019infovae",
    ):
        assert f"{{{key}," in out
    assert __version__ in out and "10.1016/j.knosys.2020.106531" in out


def test_every_option_has_a_help_text_with_its_default(capsys):
    import argparse

    from bsqkit.cli import build_parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
                    assert sub.epilog and "example" in sub.epilog, f"{path} {name}: no epilog"
            elif action.option_strings and action.help is None:
                missing.append((" ".join(path), action.option_strings[0]))

    walk(build_parser(), ["bsqkit"])
    assert not missing
    with pytest.raises(SystemExit):
        main(["suggest", "--help"])
    assert "(default: 16)" in capsys.readouterr().out


def test_out_that_is_a_file_and_missing_data_leave_no_folder(tmp_path, capsys):
    afile = tmp_path / "results.txt"
    afile.write_text("mine")
    assert main(["benchmark", "entropy", "--out", str(afile), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err and afile.read_text() == "mine"
    out = tmp_path / "never"
    assert (
        main(
            [
                "benchmark",
                "entropy",
                "--setup",
                "s1",
                "--data",
                str(tmp_path),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "pass --download" in err and "download=True" not in err and not out.exists()


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from _subparsers(sub)


def test_every_help_states_each_default_once():
    from bsqkit.cli import build_parser

    parser = build_parser()
    helps = dict(_subparsers(parser))
    assert {"quickstart", "entropy", "segmentation", "suggest", "cite"} <= set(helps)
    for name, sub in helps.items():
        text = " ".join(sub.format_help().split())  # lines joined as argparse wraps them
        assert "(default: None)" not in text and "(default: False)" not in text, name
        for option in text.split(" --")[1:]:
            assert option.count("(default:") <= 1, (name, option[:80])


def test_threads_are_calm_and_a_users_setting_is_kept(monkeypatch):
    import bsqkit.cli as cli

    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "thread_budget", lambda: 1)
    cli._calm_threads()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    cli._calm_threads()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and os.environ["OMP_NUM_THREADS"] == "7"
