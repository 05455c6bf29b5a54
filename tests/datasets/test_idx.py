import gzip
import struct

import numpy as np
import pytest

from bsqkit.datasets import load_mnist, read_idx


def _write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path, compress):
    images = np.random.RandomState(0).randint(0, 256, size=(5, 4, 3))
    labels = np.arange(5)
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    X, y = load_mnist(tmp_path, "train")
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)
    assert X.dtype == np.uint8 and y.dtype == np.int64


def test_truncated_and_bad_files_rejected(tmp_path):
    path = tmp_path / "t.idx"
    _write_idx(path, np.zeros((3, 2, 2)), False)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
    path.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(tmp_path, "test")
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "val")


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("emnist_split", ["byclass", "letters"])
def test_emnist_orientation_and_letters(tmp_path, compress, emnist_split):
    from bsqkit.datasets import load_emnist

    rng = np.random.RandomState(1)
    upright = rng.randint(0, 256, size=(4, 28, 28))
    stored = upright.transpose(0, 2, 1)  # EMNIST files hold the transpose
    labels = np.array([1, 2, 3, 26]) if emnist_split == "letters" else np.array([0, 5, 61, 9])
    suffix = ".gz" if compress else ""
    gz = tmp_path / "gzip"
    gz.mkdir()
    _write_idx(gz / f"emnist-{emnist_split}-test-images-idx3-ubyte{suffix}", stored, compress)
    _write_idx(gz / f"emnist-{emnist_split}-test-labels-idx1-ubyte{suffix}", labels, compress)
    X, y = load_emnist(tmp_path, emnist_split, "test")
    np.testing.assert_array_equal(X, upright)
    expected = labels - 1 if emnist_split == "letters" else labels
    np.testing.assert_array_equal(y, expected)


def test_emnist_errors(tmp_path):
    from bsqkit.datasets import load_emnist

    with pytest.raises(ValueError, match="emnist_split"):
        load_emnist(tmp_path, "bogus")
    with pytest.raises(FileNotFoundError, match="emnist-digits-train"):
        load_emnist(tmp_path, "digits")


def test_torchvision_layout_and_mismatch(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2)), False)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(2), False)
    with pytest.raises(ValueError, match="one label per image"):
        load_mnist(tmp_path, "test")


def test_digits_images():
    from bsqkit.datasets import load_digits_images

    X, y = load_digits_images()
    assert X.shape == (1797, 8, 8) and y.shape == (1797,) and y.max() == 9


def test_corrupt_gzip_names_the_file(tmp_path):
    good = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes(3))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(good[:12])  # cut inside the deflate stream
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz cannot be read"):
        read_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        read_idx(path)
