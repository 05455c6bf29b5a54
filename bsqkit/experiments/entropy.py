"""The paper's appendix benchmark: class entropy and latent coverage of queried sets.

Paper Appendix A, with baselines: an MMD-VAE is trained once on the pool; five
experiments each start from an imbalanced initial set (10 samples; three random
classes' sampling prior divided by 10); 30 iterations of 10 queries. Every method runs on
the same codes, seeds and initial sets: BSQ "top" (the paper), BSQ "greedy", Random and
CoreSet. Per iteration: the class entropy of the annotated set (Fig. A.6), the product of
the per-dimension Gaussians fitted to the annotated codes shifted by the pool's (Fig.
A.7), and the test accuracy of a logistic regression trained on the annotated codes only
(a downstream measure that class entropy cannot fake).

Kept whole: one benchmark (settings, runner, resumable records), read top to bottom.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from bsqkit._io import atomic_path, remove_orphan_temporaries, run_resumable
from bsqkit.datasets import load_digits_images, load_emnist, load_mnist
from bsqkit.exceptions import InputError
from bsqkit.metrics import class_entropy, latent_coverage
from bsqkit.query import BayesianSampleQuery, CoreSetQuery, RandomQuery

__all__ = [
    "METHODS",
    "EntropyConfig",
    "downstream_accuracy",
    "imbalanced_initial_set",
    "run_entropy_benchmark",
    "run_entropy_experiment",
    "summarize",
]

METHODS: dict[str, Callable[[int], Any]] = {
    "BSQ top": lambda seed: BayesianSampleQuery(batch_mode="top"),
    "BSQ greedy": lambda seed: BayesianSampleQuery(batch_mode="greedy"),
    "Random": lambda seed: RandomQuery(random_state=seed),
    "CoreSet": lambda seed: CoreSetQuery(random_state=seed),
}

# per setup: latent size, VAE input size and depth (paper: n_lat 5 for s1, 10 for s2)
# a strategy's seed is seed * _SEED_STRIDE + experiment * _EXPERIMENT_STRIDE + iteration:
# primes above any experiment and iteration count, so that no two queries share a seed
_SEED_STRIDE = 1_000_003
_EXPERIMENT_STRIDE = 1009

_SETUPS = {
    "digits": {"n_latent": 5, "input_size": 8, "n_blocks": 3},
    "s1": {"n_latent": 5, "input_size": 28, "n_blocks": 5},
    "s2": {"n_latent": 10, "input_size": 28, "n_blocks": 5},
}


@dataclass
class EntropyConfig:
    """Every setting of the appendix benchmark (numbers live here, not in code).

    Parameters
    ----------
    setup : {"digits", "s1", "s2"}, default="digits"
        digits (embedded), MNIST (s1) or MNIST + EMNIST byclass (s2), as in the appendix.
    data_dir : str, optional
        Folder of the IDX files (needed for s1 and s2).
    download : bool, default=False
        Let torchvision download missing EMNIST files.
    n_experiments : int, default=5
        Imbalanced initial draws.
    n_iterations, n_instances, n_init : int, default=30, 10, 10
        Query rounds per run, samples queried per round, and size of the initial set.
    n_reduced_classes : int, default=3
        Number of random classes made rare in the initial draw.
    prior_reduction : float, default=10.0
        Classes whose prior is divided by this in the initial draw.
    methods : tuple of str
        Any of ``"BSQ top"``, ``"BSQ greedy"``, ``"Random"``, ``"CoreSet"``.
    seed : int, default=0
        Base seed of the digits split, the pool subsample, the MMD-VAE, the initial sets
        and the methods' random choices.
    max_pool : int, optional
        Subsample the pool (quick runs and tests).
    vae_width, vae_epochs, vae_lr, vae_batch_size
        Training of the MMD-VAE, once per setup.
    device : str, default="cpu"
        Torch device the MMD-VAE trains and encodes on, such as ``"cpu"`` or ``"cuda"``.
    report_iterations : tuple of int
        Iterations shown in the printed table.

    Examples
    --------
    >>> from bsqkit.experiments.entropy import EntropyConfig
    >>> config = EntropyConfig(setup="digits", n_experiments=2, n_iterations=5)
    >>> config.n_instances, config.methods
    (10, ('BSQ top', 'BSQ greedy', 'Random', 'CoreSet'))
    """

    setup: str = "digits"
    data_dir: str | None = None
    download: bool = False
    n_experiments: int = 5
    n_iterations: int = 30
    n_instances: int = 10
    n_init: int = 10
    n_reduced_classes: int = 3
    prior_reduction: float = 10.0
    methods: tuple[str, ...] = tuple(METHODS)
    seed: int = 0
    max_pool: int | None = None  # subsample the pool (quick runs and tests)
    vae_width: int = 16
    vae_epochs: int = 30
    vae_lr: float = 1e-3
    vae_batch_size: int = 64
    device: str = "cpu"
    report_iterations: tuple[int, ...] = field(default=(0, 1, 2, 5, 10, 20, 30))

    def validate(self) -> None:
        if self.setup not in _SETUPS:
            raise InputError(f"setup must be one of {sorted(_SETUPS)}, got {self.setup!r}")
        if self.setup != "digits" and not self.data_dir:
            raise InputError(f"setup {self.setup!r} needs --data (a folder of IDX files)")
        if self.setup != "digits" and not self.download and not Path(self.data_dir).is_dir():
            raise InputError(
                f"--data {self.data_dir} is not a folder (--download fetches MNIST/EMNIST)"
            )
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise InputError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")
        for name in ("n_experiments", "n_iterations", "n_instances", "n_init", "vae_epochs"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")

    def data_settings(self) -> dict:
        """What determines the codes: the data (location and a fingerprint of its IDX
        files) and the VAE's settings."""
        from bsqkit._io import data_fingerprint

        keys = ("setup", "seed", "max_pool", "vae_width", "vae_epochs", "vae_lr", "vae_batch_size")
        settings = {k: getattr(self, k) for k in keys}
        if self.setup != "digits":
            folder = Path(self.data_dir).resolve()
            settings["data_dir"] = str(folder)
            settings["data_fingerprint"] = data_fingerprint(folder, ("*-ubyte", "*-ubyte.gz"))
        return settings

    def data_key(self) -> str:
        """Hash of :meth:`data_settings`."""
        return _settings_hash(self.data_settings())


def load_setup(config: EntropyConfig) -> tuple[NDArray, NDArray, NDArray, NDArray, int]:
    """Pool and test images with labels, and the number of classes."""
    if config.setup == "digits":
        X, y = load_digits_images()
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=1 / 3, random_state=config.seed, stratify=y
        )
        return X_pool, y_pool, X_test, y_test, 10
    root = Path(config.data_dir)
    mnist = root / "mnist" if (root / "mnist").is_dir() else root
    X_pool, y_pool = load_mnist(mnist, "train", download=config.download)
    X_test, y_test = load_mnist(mnist, "test", download=config.download)
    if config.setup == "s1":
        return X_pool, y_pool, X_test, y_test, 10
    emnist = root / "emnist" if (root / "emnist").is_dir() else root
    X_e, y_e = load_emnist(emnist, "byclass", "train", download=config.download)
    X_et, y_et = load_emnist(emnist, "byclass", "test", download=config.download)
    # byclass labels 0-9 are the digits, so MNIST's labels need no mapping
    return (
        np.concatenate([X_pool, X_e]),
        np.concatenate([y_pool, y_e]),
        np.concatenate([X_test, X_et]),
        np.concatenate([y_test, y_et]),
        62,
    )


def imbalanced_initial_set(
    labels: NDArray,
    n_init: int,
    n_classes: int,
    rng: np.random.RandomState,
    n_reduced_classes: int = 3,
    prior_reduction: float = 10.0,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Draw an imbalanced initial set (paper Appendix A.1).

    Samples are drawn without replacement with probability proportional to a class
    prior that is uniform except for ``n_reduced_classes`` random classes, whose prior
    is divided by ``prior_reduction``.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,)
        Class of each sample, integers in ``0 .. n_classes - 1``.
    n_init : int
        Number of samples to draw.
    n_classes : int
        Number of classes.
    rng : RandomState
        Draws the reduced classes and the samples.
    n_reduced_classes : int, default=3
        Number of classes whose prior is reduced.
    prior_reduction : float, default=10.0
        What the prior of each reduced class is divided by.

    Returns
    -------
    indices : ndarray of shape (n_init,)
    reduced_classes : ndarray of shape (n_reduced_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.experiments.entropy import imbalanced_initial_set
    >>> labels = np.repeat(np.arange(10), 100)
    >>> rng = np.random.RandomState(0)
    >>> initial, rare = imbalanced_initial_set(labels, n_init=10, n_classes=10, rng=rng)
    >>> initial.shape, rare.shape
    ((10,), (3,))
    """
    reduced = rng.choice(n_classes, n_reduced_classes, replace=False)
    prior = np.ones(n_classes)
    prior[reduced] /= prior_reduction
    weights = prior[labels]
    return rng.choice(len(labels), n_init, replace=False, p=weights / weights.sum()), reduced


def downstream_accuracy(
    codes_train: NDArray, y_train: NDArray, codes_test: NDArray, y_test: NDArray
) -> float:
    """Test accuracy of a logistic regression trained on the annotated codes only.

    Parameters
    ----------
    codes_train : ndarray of shape (n_annotated, n_latent)
        Codes of the annotated samples, to train on.
    y_train : array-like of shape (n_annotated,)
        Their labels; with a single class, every test sample is predicted as it.
    codes_test : ndarray of shape (n_test, n_latent)
        Codes of the test samples.
    y_test : array-like of shape (n_test,)
        Their labels.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.experiments.entropy import downstream_accuracy
    >>> codes = np.array([[0.0], [0.2], [1.0], [1.2]])
    >>> downstream_accuracy(codes, [0, 0, 1, 1], np.array([[0.1], [1.1]]), np.array([0, 1]))
    1.0
    """
    classes = np.unique(y_train)
    if classes.size == 1:
        return float(np.mean(y_test == classes[0]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(max_iter=1000).fit(codes_train, y_train)
    return float(clf.score(codes_test, y_test))


def run_entropy_experiment(
    codes: NDArray,
    labels: NDArray,
    codes_test: NDArray,
    y_test: NDArray,
    n_classes: int,
    initial: NDArray[np.intp],
    method: str,
    experiment: int,
    config: EntropyConfig,
    state: dict | None = None,
    on_iteration: Callable[[dict], None] | None = None,
) -> dict:
    """One method in one experiment: ``n_iterations`` queries from ``initial``.

    Parameters
    ----------
    codes, labels : ndarray of shape (n_pool, n_latent) and (n_pool,)
        The pool's standardised codes and its (hidden) labels.
    codes_test, y_test : ndarray of shape (n_test, n_latent) and (n_test,)
        For the downstream accuracy.
    n_classes : int
        Number of classes, for the class entropy and its maximum ``log(n_classes)``.
    initial : ndarray of shape (n_init,)
        Indices of the initial annotated set (shared by every method of an experiment).
    method : str
        One of :data:`METHODS`.
    experiment : int
        Seeds the method's random choices.
    config : EntropyConfig
        Gives ``n_iterations``, ``n_instances`` and ``seed``.
    state : dict, optional
        A partial state returned by an earlier, interrupted call (``annotated``,
        ``records``): the run continues after its last finished iteration. Random draws
        are seeded per iteration, so a resumed run equals an uninterrupted one.
    on_iteration : callable, optional
        Called with the state after every iteration (e.g. to save it).

    Returns
    -------
    dict
        ``annotated`` (indices in query order), ``records`` (one per iteration) and
        ``finished``.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.experiments.entropy import EntropyConfig, run_entropy_experiment
    >>> rng = np.random.RandomState(0)
    >>> codes, labels = rng.normal(size=(200, 3)), rng.randint(0, 4, 200)
    >>> config = EntropyConfig(n_iterations=3, n_instances=5)
    >>> state = run_entropy_experiment(codes, labels, codes[:50], labels[:50], 4, np.arange(10),
    ...                                "CoreSet", experiment=0, config=config)
    >>> len(state["annotated"]), [r["iteration"] for r in state["records"]]
    (25, [0, 1, 2, 3])
    """
    if state is None:
        annotated, records = [int(i) for i in initial], []
    else:
        annotated, records = list(state["annotated"]), list(state["records"])

    def record(iteration: int) -> dict:
        shift, std = latent_coverage(codes[annotated], codes)
        return {
            "method": method,
            "experiment": experiment,
            "iteration": iteration,
            "n_annotated": len(annotated),
            "entropy": class_entropy(labels[annotated], n_classes),
            "entropy_max": float(np.log(n_classes)),
            "product_mean_shift": shift,
            "product_std": std,
            "accuracy": downstream_accuracy(
                codes[annotated], labels[annotated], codes_test, y_test
            ),
        }

    if not records:
        records.append(record(0))
    for iteration in range(len(records), config.n_iterations + 1):
        mask = np.ones(len(codes), dtype=bool)
        mask[annotated] = False
        candidates = np.flatnonzero(mask)
        seed = config.seed * _SEED_STRIDE + experiment * _EXPERIMENT_STRIDE + iteration
        strategy = METHODS[method](seed)
        idx, _ = strategy.query(
            codes[candidates], X_labeled=codes[annotated], n_instances=config.n_instances
        )
        annotated.extend(int(i) for i in candidates[idx])
        records.append(record(iteration))
        if on_iteration is not None:
            on_iteration({"annotated": annotated, "records": records, "finished": False})
    return {"annotated": annotated, "records": records, "finished": True}


def _codes(config: EntropyConfig, out: Path, progress: bool) -> dict[str, NDArray]:
    """Train the MMD-VAE once on the pool and encode pool and test set (cached)."""
    cache = out / "codes.npz"
    settings = config.data_settings()
    key = _settings_hash(settings)
    if cache.exists():
        data = dict(np.load(cache))
        if str(data["key"]) != key:
            made = json.loads(str(data["settings"])) if "settings" in data else {}
            changed = sorted(k for k in {*settings, *made} if settings.get(k) != made.get(k))
            raise ValueError(
                f"{cache} was made from other data or settings ({', '.join(changed)}); "
                "use another --out folder or delete it"
            )
        return data
    from bsqkit.nets import MMDVAEEncoder

    try:
        X_pool, y_pool, X_test, y_test, n_classes = load_setup(config)
    except FileNotFoundError as exc:
        raise InputError(str(exc).replace("pass download=True", "pass --download")) from exc
    if config.download:  # the files may have just arrived: fingerprint what was read
        settings = config.data_settings()
        key = _settings_hash(settings)
    if config.max_pool is not None and len(X_pool) > config.max_pool:
        keep = np.sort(
            np.random.RandomState(config.seed).choice(len(X_pool), config.max_pool, replace=False)
        )
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    spec = _SETUPS[config.setup]
    encoder = MMDVAEEncoder(
        n_latent=spec["n_latent"],
        input_size=spec["input_size"],
        module__n_blocks=spec["n_blocks"],
        module__width=config.vae_width,
        lr=config.vae_lr,
        batch_size=config.vae_batch_size,
        max_epochs=config.vae_epochs,
        random_state=config.seed,
        device=config.device,
        progress_bar=progress,
    ).fit(X_pool)
    data = {
        "key": np.array(key),
        "settings": np.array(json.dumps(settings, sort_keys=True)),
        "codes": encoder.transform(X_pool),
        "labels": y_pool,
        "codes_test": encoder.transform(X_test),
        "labels_test": y_test,
        "n_classes": np.array(n_classes),
        "train_recon": np.asarray(encoder.history[:, "train_recon"]),
        "train_mmd": np.asarray(encoder.history[:, "train_mmd"]),
    }
    with atomic_path(cache, suffix=".tmp.npz") as tmp:  # savez keeps a .npz name
        np.savez(tmp, **data)
    return data


def run_entropy_benchmark(
    config: EntropyConfig, out: str | Path, progress: bool = True
) -> list[dict]:
    """Run (or resume) the whole benchmark into ``out``; return all records.

    Layout of ``out``: ``codes.npz`` (the VAE's codes, made once), ``runs/<method>_e<k>.json``
    (one file per method and experiment, rewritten atomically after every iteration; a
    finished run is never recomputed, an interrupted one resumes after its last
    iteration).

    Parameters
    ----------
    config : EntropyConfig
        The benchmark's settings; checked before anything runs.
    out : str or Path
        Output folder; created if needed.
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    list of dict
        One record per method, experiment and iteration (``entropy``, ``accuracy``,
        ``product_mean_shift``, ``product_std``...).

    Examples
    --------
    >>> import tempfile
    >>> from bsqkit.experiments.entropy import EntropyConfig, run_entropy_benchmark
    >>> config = EntropyConfig(setup="digits", n_experiments=1, n_iterations=2, vae_epochs=2,
    ...                        methods=("BSQ greedy", "Random"))
    >>> with tempfile.TemporaryDirectory() as out:
    ...     records = run_entropy_benchmark(config, out, progress=False)
    ...
    >>> sorted({r["iteration"] for r in records}), sorted({r["method"] for r in records})
    ([0, 1, 2], ['BSQ greedy', 'Random'])
    """
    config.validate()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    remove_orphan_temporaries(out)
    jobs = [(e, m) for e in range(config.n_experiments) for m in config.methods]
    expected = {f"{m.replace(' ', '_')}_e{e}.json" for e, m in jobs}
    others = sorted(p.name for p in (out / "runs").glob("*.json") if p.name not in expected)
    if others:
        # the summary of this call would silently drop them
        raise ValueError(
            f"{out} holds runs this call does not make ({', '.join(others[:6])}"
            f"{'...' if len(others) > 6 else ''}); pass the same --experiments and methods "
            "as before, or use another --out folder"
        )
    data = _codes(config, out, progress)  # writes the first file: only now a folder
    (out / "runs").mkdir(parents=True, exist_ok=True)
    codes, labels = data["codes"], data["labels"]
    # every method and the downstream classifier see the codes standardised with the
    # pool's statistics (BSQ is invariant to it; k-center distances and the
    # logistic regression are not)
    mu, sigma = codes.mean(axis=0), codes.std(axis=0) + 1e-12
    z, z_test = (codes - mu) / sigma, (data["codes_test"] - mu) / sigma
    n_classes = int(data["n_classes"])
    records = []
    key = _run_key(config)
    bar = tqdm(
        total=len(jobs) * config.n_iterations, desc=f"entropy {config.setup}", disable=not progress
    )
    for experiment, method in jobs:
        rng = np.random.RandomState(config.seed * 7919 + experiment)
        initial, _ = imbalanced_initial_set(
            labels, config.n_init, n_classes, rng, config.n_reduced_classes, config.prior_reduction
        )
        path = out / "runs" / f"{method.replace(' ', '_')}_e{experiment}.json"

        def run(state, save, initial=initial, method=method, experiment=experiment):
            return run_entropy_experiment(
                z,
                labels,
                z_test,
                data["labels_test"],
                n_classes,
                initial,
                method,
                experiment,
                config,
                state,
                save,
            )

        before = bar.n
        state = run_resumable(path, key, run, on_save=bar.update)
        bar.update(len(state["records"]) - 1 - (bar.n - before))  # resumed or reused
        records.extend(state["records"])
    bar.close()
    return records


def _settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _run_key(config: EntropyConfig) -> str:
    keys = ("n_iterations", "n_instances", "n_init", "n_reduced_classes", "prior_reduction")
    return _settings_hash({"data": config.data_key(), **{k: getattr(config, k) for k in keys}})


def config_dict(config: EntropyConfig) -> dict:
    """The configuration as JSON-ready data."""
    return asdict(config)


def summarize(
    records: list[dict],
    iterations: tuple[int, ...],
    metrics: tuple[str, ...] = ("entropy", "accuracy"),
) -> list[dict]:
    """Mean and standard deviation over experiments per method and iteration.

    Parameters
    ----------
    records : list of dict
        As returned by :func:`run_entropy_benchmark`.
    iterations : tuple of int
        The iterations to keep.
    metrics : tuple of str, default=("entropy", "accuracy")
        Record keys to summarise, e.g. ``"product_mean_shift"`` or ``"product_std"``.

    Returns
    -------
    list of dict
        One row per method and iteration with ``<metric>_mean`` and ``<metric>_std``.

    Examples
    --------
    >>> from bsqkit.experiments.entropy import summarize
    >>> records = [
    ...     {"method": "Random", "iteration": 0, "experiment": e, "n_annotated": 10,
    ...      "entropy": h, "accuracy": 0.5}
    ...     for e, h in enumerate((1.0, 1.2))
    ... ]
    >>> row = summarize(records, iterations=(0,))[0]
    >>> row["method"], round(row["entropy_mean"], 3), round(row["entropy_std"], 3)
    ('Random', 1.1, 0.1)
    """
    rows = []
    methods = list(dict.fromkeys(r["method"] for r in records))
    for method in methods:
        for it in iterations:
            sel = [r for r in records if r["method"] == method and r["iteration"] == it]
            if not sel:
                continue
            row = {
                "method": method,
                "iteration": it,
                "n_annotated": sel[0]["n_annotated"],
                "n_experiments": len(sel),
            }
            for m in metrics:
                values = np.array([r[m] for r in sel])
                row[f"{m}_mean"], row[f"{m}_std"] = float(values.mean()), float(values.std())
            rows.append(row)
    return rows
