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
