import numpy as np
import pytest

from bsqkit.datasets import PHANTOM_LABELS, make_shoulder_phantom, to_slices


@pytest.fixture(scope="module")
def phantom():
    return make_shoulder_phantom(4, random_state=0)


def test_shapes_labels_and_settings(phantom):
    assert len(phantom) == 4
    for s in phantom:
        assert s.image.dtype == np.float32 and s.label.dtype == np.uint8
        assert s.image.shape[:2] == (192, 192) and s.image.shape[2] in (64, 56)
        assert s.spacing == pytest.approx((0.91, 0.91, 3.0))
        assert set(np.unique(s.label)) == set(PHANTOM_LABELS)  # all four structures
        assert np.isfinite(s.image).all()
    raw = make_shoulder_phantom(36, random_state=1, harmonised=False)
    shapes = [s.image.shape for s in raw]
    assert shapes.count((192, 192, 64)) == 20 and shapes.count((144, 144, 56)) == 16
    assert {s.id[-2:] for s in raw} == {"s1", "s2"}


def test_deterministic_in_random_state(phantom):
    again = make_shoulder_phantom(4, random_state=0)
    for a, b in zip(phantom, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.label, b.label)
    other = make_shoulder_phantom(4, random_state=1)
    assert not np.array_equal(other[0].label, phantom[0].label)


def test_subjects_vary_and_slice(phantom):
    volumes = [np.bincount(s.label.ravel(), minlength=5)[1:] for s in phantom]
    assert len({tuple(v) for v in volumes}) == 4  # structure sizes differ by subject
    X, _y, ids = to_slices(phantom, axis=2)
    assert X.shape[1:] == (192, 192) and len(set(ids)) == 4
    with pytest.raises(ValueError, match="n_subjects"):
        make_shoulder_phantom(0)
