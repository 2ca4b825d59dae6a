"""Tests of the IDX format: files and pairs (gzip too), their errors, and `validate`/`read_data` on them."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest

from exemplar import data
from exemplar.data import DataError


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    dims = np.array(arr.shape, dtype=">u4").tobytes()
    big = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, code, arr.ndim]) + dims + big.tobytes()


def write_idx(path, arr, gz=False):
    raw = idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                         (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)])
def test_idx_types(tmp_path, code, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - (5 if code != 0x08 else 0)).astype(dtype)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(arr, code))
    got = data.load_idx(path)
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, arr)
    got[0, 0, 0] = 1  # writeable


def test_idx_gzip(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "labels-idx1-ubyte", arr, gz=True)  # no .gz in the name
    np.testing.assert_array_equal(data.load_idx(path), arr)


IDX_GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))  # 4 + 8 header bytes + 12


@pytest.mark.parametrize("raw, needles", [
    (b"\x01\x00" + IDX_GOOD[2:], ["byte offset 0", "magic", "0x01"]),
    (IDX_GOOD[:2] + b"\x07" + IDX_GOOD[3:], ["byte offset 2", "0x07", "type code"]),
    (IDX_GOOD[:3], ["truncated header", "byte offset 3", "exemplar data"]),
    (IDX_GOOD[:9], ["truncated header", "byte offset 9", "12-byte header"]),
    (IDX_GOOD[:-1], ["byte offset 12", "11 bytes", "need 12", "truncated", "run `exemplar data`"]),
    (IDX_GOOD + b"\x00\x00", ["byte offset 12", "14 bytes", "need 12", "2 extra bytes from byte offset 24"]),
    (b"\x00\x00\x08\x00", ["byte offset 3", "0 dimensions"]),
])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_errors(tmp_path, raw, needles, gz):
    path = tmp_path / "bad.idx"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataError) as info:
        data.load_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, msg


def test_a_truncated_gzip_idx_points_to_exemplar_data(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8) % 10))[:-30])
    with pytest.raises(DataError, match="truncated.*run `exemplar data`"):
        data.load_idx(path)


def test_an_idx_file_that_disagrees_with_its_size_is_refused_unread(tmp_path):
    path = tmp_path / "huge-images-idx3-ubyte"
    with open(path, "wb") as fh:
        fh.write(idx_bytes(np.zeros((1, 28, 28), np.uint8))[:16])
        fh.truncate(256 << 20)  # 256 MiB, sparse: far more than 1 x 28 x 28 bytes
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="extra bytes"):
            data.load_idx(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 8 << 20


def test_idx_pair(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    ip = write_idx(tmp_path / "img", images)
    lp = write_idx(tmp_path / "lab", np.array([1, 2, 3], dtype=np.uint8))
    X, y = data.load_idx_pair(ip, lp)
    assert X.shape == (3, 784) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X[1], images[1].ravel())


def test_idx_pair_count_mismatch(tmp_path):
    ip = write_idx(tmp_path / "img", np.zeros((3, 2, 2), np.uint8))
    lp = write_idx(tmp_path / "lab", np.zeros(4, np.uint8))
    with pytest.raises(DataError) as info:
        data.load_idx_pair(ip, lp)
    msg = str(info.value)
    assert str(ip) in msg and str(lp) in msg and "3 images" in msg and "4 labels" in msg


# --------------------------------------------------------------------------- read_data and validate_file


@pytest.fixture
def pair(tmp_path):
    """train-images-idx3-ubyte.gz and train-labels-idx1-ubyte side by side (one gzipped, one not)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28)).astype(np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    ip = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    lp = write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    return ip, lp, images.reshape(12, -1), labels.astype(np.int64)


def test_validate_an_idx_image_file_checks_its_labels_beside_it(pair):
    ip, lp, _, _ = pair
    assert data.validate_file(ip) == (
        f"{ip}: gzip-compressed IDX images (12 x 28 x 28) with labels {lp}; 12 rows, 784 pixels, "
        f"labels 0–9 (counts 2 2 1 1 1 1 1 1 1 1), OK")


def test_validate_idx_images_or_labels_alone(tmp_path):
    ip = write_idx(tmp_path / "images.idx", np.zeros((4, 28, 28), np.uint8))
    assert data.validate_file(ip) == f"{ip}: IDX images; 4 images of 28 x 28 unsigned-byte pixels " \
                                     f"(no label file beside it), OK"
    lp = write_idx(tmp_path / "letters-labels-idx1-ubyte", np.array([1, 26, 3], np.uint8), gz=True)
    assert data.validate_file(lp) == f"{lp}: gzip-compressed IDX labels; 3 labels 1–26 " \
                                     f"(counts 1 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1), OK"
    fp = tmp_path / "floats.idx"
    fp.write_bytes(idx_bytes(np.zeros((2, 2), np.float32), 0x0D))
    with pytest.raises(DataError, match=r"float32 data of shape \(2, 2\); expected images"):
        data.validate_file(fp)


def test_read_data_reads_an_idx_pair_as_it_reads_a_csv(pair, tmp_path):
    ip, lp, X, y = pair
    got = data.read_data(ip)
    np.testing.assert_array_equal(got.X, X)
    np.testing.assert_array_equal(got.y, y)
    assert got.found.startswith("gzip-compressed IDX images (12 x 28 x 28) with labels")
    assert data.read_data(ip, labels=lp, n_rows=5).y.tolist() == [0, 1, 2, 3, 4]
    csv = data.write_csv(tmp_path / "same.csv", X, y)
    again = data.read_data(csv)
    np.testing.assert_array_equal(again.X, X)
    assert again.found == "CSV with a header line (label,1x1,...,28x28)"


def test_read_data_needs_the_labels_of_idx_images(tmp_path, pair):
    _, lp, _, _ = pair
    with pytest.raises(DataError, match="an IDX label file with no label file beside it.*pass labels="):
        data.read_data(lp)
    csv = data.write_csv(tmp_path / "c.csv", np.zeros((1, 784)), [0])
    with pytest.raises(DataError, match="is a CSV file, which holds its own labels"):
        data.read_data(csv, labels=lp)
