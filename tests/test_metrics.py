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
