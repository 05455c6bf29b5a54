import json
import math

import numpy as np
import pytest

from bsqkit.experiments.entropy import (
    EntropyConfig,
    imbalanced_initial_set,
    run_entropy_benchmark,
    summarize,
)


def test_imbalanced_draw_frequencies():
    labels = np.repeat(np.arange(10), 100)
    rng = np.random.RandomState(0)
    in_reduced, per_class = [], np.zeros(10)
    for _ in range(4000):
        idx, reduced = imbalanced_initial_set(labels, 1, 10, rng)
        assert len(set(reduced.tolist())) == 3
        in_reduced.append(labels[idx[0]] in reduced)
        per_class[labels[idx[0]]] += 1
    # P(draw from a reduced class) = 3 * 0.1 / (7 + 3 * 0.1)
    assert np.mean(in_reduced) == pytest.approx(0.3 / 7.3, abs=0.01)
    # over many experiments every class is reduced equally often: near-uniform marginal
    assert per_class.min() > 0.6 * per_class.max()
    idx, _ = imbalanced_initial_set(labels, 10, 10, np.random.RandomState(1))
    assert len(np.unique(idx)) == 10


def _small(tmp_path, **kw):
    cfg = dict(
        setup="digits",
        n_experiments=2,
        n_iterations=3,
        vae_epochs=1,
        vae_width=4,
        methods=("BSQ top", "Random"),
    )
    cfg.update(kw)
    return EntropyConfig(**cfg)


def test_protocol_resumes_and_never_recomputes(tmp_path):
    config = _small(tmp_path)
    records = run_entropy_benchmark(config, tmp_path, progress=False)
    assert len(records) == 2 * 2 * 4
    for r in records:
        assert 0 <= r["entropy"] <= math.log(10) + 1e-12
        assert r["n_annotated"] == 10 + 10 * r["iteration"]
    # the same initial set for every method of an experiment
    for e in (0, 1):
        firsts = [r for r in records if r["experiment"] == e and r["iteration"] == 0]
        assert len({(r["entropy"], r["accuracy"]) for r in firsts}) == 1
    # simulate an interruption after iteration 1 of one run
    path = tmp_path / "runs" / "Random_e1.json"
    full = json.loads(path.read_text())
    partial = {
        **full,
        "records": full["records"][:2],
        "annotated": full["annotated"][:20],
        "finished": False,
    }
    path.write_text(json.dumps(partial))
    finished = tmp_path / "runs" / "BSQ_top_e0.json"
    stamp = finished.stat().st_mtime_ns
    again = run_entropy_benchmark(config, tmp_path, progress=False)
    assert json.loads(path.read_text())["annotated"] == full["annotated"]
    assert again == records  # resumed run equals the uninterrupted one
    assert finished.stat().st_mtime_ns == stamp  # a finished run is not recomputed
    rows = summarize(again, (0, 3))
    assert {r["method"] for r in rows} == {"BSQ top", "Random"}
    assert all(r["n_experiments"] == 2 for r in rows)


def test_changed_settings_are_refused(tmp_path):
    run_entropy_benchmark(_small(tmp_path, n_iterations=1), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"other data or settings \(vae_epochs\)"):
        run_entropy_benchmark(_small(tmp_path, vae_epochs=2), tmp_path, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        run_entropy_benchmark(_small(tmp_path, n_iterations=2), tmp_path, progress=False)


def test_bad_configuration(tmp_path):
    with pytest.raises(ValueError, match="setup"):
        run_entropy_benchmark(EntropyConfig(setup="s3"), tmp_path)
    with pytest.raises(ValueError, match="needs --data"):
        run_entropy_benchmark(EntropyConfig(setup="s1"), tmp_path)
    with pytest.raises(ValueError, match="unknown methods"):
        run_entropy_benchmark(EntropyConfig(methods=("BSQ",)), tmp_path)


def test_two_iterations_on_real_mnist(mnist_dir, tmp_path):
    config = EntropyConfig(
        setup="s1",
        data_dir=str(mnist_dir),
        n_experiments=1,
        n_iterations=2,
        vae_epochs=1,
        max_pool=3000,
    )
    records = run_entropy_benchmark(config, tmp_path, progress=False)
    assert len(records) == 4 * 3
    data = np.load(tmp_path / "codes.npz")
    assert data["codes"].shape == (3000, 5) and data["codes_test"].shape == (10000, 5)
    assert all(r["accuracy"] > 0.1 for r in records if r["iteration"] == 2)


def _fake_mnist(folder, seed):
    from tests.datasets.test_idx import _write_idx

    folder.mkdir()
    rng = np.random.RandomState(seed)
    for split, n in (("train", 120), ("t10k", 30)):
        _write_idx(folder / f"{split}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)), False)
        _write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, False)


def test_codes_cache_is_keyed_by_the_data(tmp_path):
    _fake_mnist(tmp_path / "a", 0)
    _fake_mnist(tmp_path / "b", 1)
    out = tmp_path / "out"

    def config(data_dir):
        return EntropyConfig(
            setup="s1",
            data_dir=str(data_dir),
            n_experiments=1,
            n_iterations=1,
            vae_epochs=1,
            vae_width=4,
            methods=("Random",),
        )

    run_entropy_benchmark(config(tmp_path / "a"), out, progress=False)
    with pytest.raises(ValueError, match=r"codes\.npz was made from other data.*data_dir"):
        run_entropy_benchmark(config(tmp_path / "b"), out, progress=False)
    with pytest.raises(ValueError, match="is not a folder"):
        run_entropy_benchmark(config(tmp_path / "missing"), out, progress=False)
    # same place, other content: the fingerprint tells
    (tmp_path / "a" / "t10k-images-idx3-ubyte").unlink()
    _fake_mnist(tmp_path / "c", 2)
    (tmp_path / "c" / "t10k-images-idx3-ubyte").rename(tmp_path / "a" / "t10k-images-idx3-ubyte")
    with pytest.raises(ValueError, match="data_fingerprint"):
        run_entropy_benchmark(config(tmp_path / "a"), out, progress=False)


def test_fewer_experiments_into_a_finished_folder_are_refused(tmp_path):
    run_entropy_benchmark(_small(tmp_path, n_iterations=1), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"holds runs this call does not make \(BSQ_top_e1"):
        run_entropy_benchmark(
            _small(tmp_path, n_iterations=1, n_experiments=1), tmp_path, progress=False
        )
    # the same call again reads what is there
    assert (
        len(run_entropy_benchmark(_small(tmp_path, n_iterations=1), tmp_path, progress=False)) == 8
    )


def test_downloaded_data_is_fingerprinted_after_the_download(tmp_path, monkeypatch):
    import bsqkit.experiments.entropy as entropy

    real = entropy.load_setup
    folder = tmp_path / "mnist-to-come"

    def downloading(config):  # what --download does: the files arrive during loading
        if not folder.exists():
            _fake_mnist(folder, 0)
        return real(config)

    monkeypatch.setattr(entropy, "load_setup", downloading)
    config = EntropyConfig(
        setup="s1",
        data_dir=str(folder),
        download=True,
        n_experiments=1,
        n_iterations=1,
        vae_epochs=1,
        vae_width=4,
        methods=("Random",),
    )
    first = run_entropy_benchmark(config, tmp_path / "out", progress=False)
    assert run_entropy_benchmark(config, tmp_path / "out", progress=False) == first
