"""Renamed public names: the old ones still work, with a FutureWarning naming the new."""

import inspect

import numpy as np
import pytest

from bsqkit._deprecation import renamed_function, renamed_keywords


def test_renamed_keyword_forwards_and_warns():
    @renamed_keywords(old="new")
    def f(x, new=1):
        return x + new

    assert f(1, new=2) == 3
    with pytest.warns(FutureWarning, match="old is renamed new"):
        assert f(1, old=5) == 6
    with pytest.raises(TypeError, match="'old' and its new name 'new'"):
        f(1, old=1, new=2)
    assert list(inspect.signature(f).parameters) == ["x", "new"]


def test_renamed_function_warns_and_answers_the_same():
    def new_name(x):
        """Doc."""
        return 2 * x

    old = renamed_function(new_name, "old_name")
    with pytest.warns(FutureWarning, match="old_name is renamed new_name"):
        assert old(3) == 6
    assert old.__name__ == "old_name"


@pytest.mark.parametrize(
    ("call", "old"),
    [
        (
            lambda: __import__("bsqkit.functional", fromlist=["x"]).bsq_scores(
                np.zeros((2, 1)), [0.0], [1.0], mu_annotated=[0.0], sigma_labeled=[1.0]
            ),
            "mu_annotated",
        ),
        (
            lambda: __import__("bsqkit.metrics", fromlist=["x"]).latent_coverage(
                codes_annotated=np.eye(3, 2), codes_pool=np.arange(10.0).reshape(5, 2)
            ),
            "codes_annotated",
        ),
        (
            lambda: __import__("bsqkit.functional", fromlist=["x"]).fit_diagonal_gaussian(
                [[1.0]], sigma_floor=0.1
            ),
            "sigma_floor",
        ),
    ],
)
def test_bsqkit_public_renames_still_answer(call, old):
    with pytest.warns(FutureWarning, match=old):
        call()


def test_load_labelled_folder_is_the_old_name(tmp_path):
    from bsqkit.datasets import load_labeled_folder, load_labelled_folder
    from bsqkit.exceptions import InputError

    assert load_labelled_folder.__wrapped__ is load_labeled_folder
    with pytest.warns(FutureWarning, match="load_labeled_folder"), pytest.raises(InputError):
        load_labelled_folder(tmp_path / "missing")  # the new function's own error
