import math

import numpy as np
import pytest

from bsqkit.metrics import class_entropy, gaussian_product


def test_class_entropy_hand_values():
    assert class_entropy([0, 0, 0]) == 0.0
    assert class_entropy([0, 1], n_classes=10) == pytest.approx(math.log(2))
    assert class_entropy(list(range(10)), 10) == pytest.approx(math.log(10))
    # p = (1/2, 1/4, 1/4): H = 1.5 log 2
    assert class_entropy([3, 3, 1, 7]) == pytest.approx(1.5 * math.log(2))
    with pytest.raises(ValueError, match="labels"):
        class_entropy([0, 10], n_classes=10)
    with pytest.raises(ValueError, match="non-empty"):
        class_entropy([])


def test_gaussian_product_hand_values():
    # N(0, 1) x N(2, 1) -> N(1, 1/2)
    m, s = gaussian_product([0.0, 2.0], [1.0, 1.0])
    assert m == pytest.approx(1.0) and s == pytest.approx(math.sqrt(0.5))
    # a sharp factor dominates: N(0, 0.1) x N(10, 10)
    m, s = gaussian_product([0.0, 10.0], [0.1, 10.0])
    assert m == pytest.approx((10 / 100) / (1 / 0.01 + 1 / 100))
    assert s == pytest.approx(1 / math.sqrt(100 + 0.01))
    # numerically: the normalised pointwise product of the densities
    z = np.linspace(-10, 10, 200001)
    pdf = np.exp(-0.5 * ((z - 1) / 2) ** 2) * np.exp(-0.5 * ((z + 3) / 0.5) ** 2)
    pdf /= pdf.sum()
    m, s = gaussian_product([1, -3], [2, 0.5])
    assert m == pytest.approx((z * pdf).sum(), abs=1e-6)
    assert s == pytest.approx(np.sqrt(((z - m) ** 2 * pdf).sum()), abs=1e-6)
    with pytest.raises(ValueError, match="positive"):
        gaussian_product([0.0], [0.0])


def test_dice_against_brute_force_counts():
    from bsqkit.metrics import dice_score

    rng = np.random.RandomState(0)
    pred, target = rng.randint(0, 3, (6, 7, 5)), rng.randint(0, 3, (6, 7, 5))
    got = dice_score(pred, target, [1, 2])
    for k, label in enumerate([1, 2]):
        inter = sum(
            1
            for p, g in zip(pred.ravel(), target.ravel(), strict=True)
            if p == label and g == label
        )
        size = sum(1 for p in pred.ravel() if p == label) + sum(
            1 for g in target.ravel() if g == label
        )
        assert got[k] == pytest.approx(2 * inter / size)
    assert dice_score(pred, pred, [1, 2]).tolist() == [1.0, 1.0]
    assert dice_score(np.zeros(4), np.zeros(4), [1]).tolist() == [1.0]  # absent in both
    assert dice_score(np.ones(4), np.zeros(4), [1]).tolist() == [0.0]
    with pytest.raises(ValueError, match="differ"):
        dice_score(np.zeros(3), np.zeros(4), [1])


def test_msd_known_distances_and_anisotropic_spacing():
    from bsqkit.metrics import mean_surface_distance

    a = np.zeros((10, 5, 5), bool)
    b = np.zeros((10, 5, 5), bool)
    a[2, 2, 2] = True  # a single voxel is its own contour
    b[5, 2, 2] = True
    assert mean_surface_distance(a, b) == pytest.approx(3.0)
    assert mean_surface_distance(a, b, spacing=(2.0, 1.0, 1.0)) == pytest.approx(6.0)
    assert mean_surface_distance(a, a, spacing=(3.0, 0.5, 0.5)) == 0.0
    # two one-voxel-thick slabs (each its own contour) 4 voxels apart along an axis of
    # 3 mm voxels: every contour point is 12 mm from the other contour
    s1 = np.zeros((12, 6, 6), bool)
    s2 = np.zeros((12, 6, 6), bool)
    s1[3] = True
    s2[7] = True
    assert mean_surface_distance(s1, s2, spacing=(3.0, 0.9, 0.9)) == pytest.approx(12.0)


def test_msd_empty_masks_are_defined():
    from bsqkit.metrics import mean_surface_distance

    empty = np.zeros((4, 5, 6), bool)
    full = empty.copy()
    full[1:3, 1:4, 1:5] = True
    assert mean_surface_distance(empty, empty) == 0.0
    diag = np.sqrt((4 * 2.0) ** 2 + 5**2 + 6**2)
    assert mean_surface_distance(full, empty, spacing=(2, 1, 1)) == pytest.approx(diag)
    assert mean_surface_distance(empty, full, spacing=(2, 1, 1)) == pytest.approx(diag)
    with pytest.raises(ValueError, match="spacing"):
        mean_surface_distance(full, full, spacing=(1, 1))


def test_class_entropy_of_float_string_and_negative_labels():
    assert class_entropy([1.0, 2.0, 2.0, 1.0]) == pytest.approx(math.log(2))
    assert class_entropy(np.array(["a", "b", "c"])) == pytest.approx(math.log(3))
    assert class_entropy([-1, -1, 3, 3]) == pytest.approx(math.log(2))  # ids, no n_classes
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\), got values from -1"):
        class_entropy([-1, 2], n_classes=4)
    with pytest.raises(ValueError, match="3 distinct classes"):
        class_entropy(["a", "b", "c"], n_classes=2)
    with pytest.raises(ValueError, match="NaN"):
        class_entropy([1.0, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        class_entropy([5.0], n_classes=3)
    with pytest.raises(ValueError, match="whole numbers"):
        class_entropy([0.5, 1.0], n_classes=3)


def test_dice_without_labels_scores_every_foreground_label():
    from bsqkit.metrics import dice_score

    a = np.array([[1, 1, 0], [0, 3, 0]])
    b = np.array([[1, 0, 0], [0, 3, 3]])
    np.testing.assert_allclose(dice_score(a, b), dice_score(a, b, labels=[1, 3]))
    np.testing.assert_allclose(dice_score(a > 0, b > 0), [2 * 2 / 6])  # two masks
    # no foreground in either: nothing to find, nothing found (never an empty mean)
    np.testing.assert_array_equal(dice_score(np.zeros(4), np.zeros(4)), [1.0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0, 0.0])
def test_msd_rejects_non_finite_or_non_positive_spacing(bad):
    from bsqkit.metrics import mean_surface_distance

    mask = np.zeros((6, 6), bool)
    mask[2:4, 2:4] = True
    with pytest.raises(ValueError, match="spacing"):
        mean_surface_distance(mask, mask, spacing=(1.0, bad))
