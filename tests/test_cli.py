import json

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
    assert {"Random", "BSQ", "BSQ greedy", "CoreSet"} <= methods
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


def test_benchmark_entropy_needs_data_for_mnist(tmp_path):
    with pytest.raises(SystemExit):
        main(["benchmark", "entropy", "--setup", "s1", "--out", str(tmp_path)])
