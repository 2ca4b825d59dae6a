"""Tests of exemplar.data's public face: the cache and loaders, `exemplar validate` and `exemplar data`,
and the one atomic write (exemplar.fileio) that data and results share.

The CSV format is tested in test_data_csv.py and test_data_csv_errors.py, IDX in test_data_idx.py,
and the sources (the MNIST wheel, Fashion-MNIST, SHA256SUMS) in test_data_sources.py.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from exemplar import cli, data, fileio, results
from exemplar.data import DataError


def images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784)).astype(np.uint8), (np.arange(n) % 10).astype(np.int64)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An EXEMPLAR_DATA folder holding a small mnist_train.csv and mnist_test.csv."""
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    for split, n in (("train", 7), ("test", 3)):
        data.write_csv(data.dataset_csv("mnist", split), *images(n, seed=n))
    return tmp_path


# --------------------------------------------------------------------------- the public API


def test_the_public_names_callers_use_are_there():
    for name in ("load_mnist", "load_dataset", "load_csv", "read_csv", "write_csv", "read_data", "validate_file",
                 "fetch_dataset", "fetch_mnist", "fetch_fashion_mnist", "install_fashion_mnist", "load_idx",
                 "load_idx_pair", "find_idx_files", "dataset_csv", "check_dataset", "DataError", "DataFile",
                 "CSV_HEADER", "SHA256SUMS", "DATASETS", "IDX_FILES", "FASHION_MNIST_CLASSES"):
        assert name in data.__all__ and hasattr(data, name), name
    assert issubclass(DataError, ValueError)


# --------------------------------------------------------------------------- load_mnist and its cache


def test_load_mnist_uses_and_checks_its_cache(data_dir):
    X, y = data.load_mnist("test")
    np.testing.assert_array_equal(X, images(3, seed=3)[0])
    cache = data_dir / "mnist_test.npz"
    assert cache.is_file()
    X1, y1 = data.load_mnist("train", n_rows=4, cache=False)
    X2, y2 = data.load_mnist("train", n_rows=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    # a changed CSV makes the cache stale
    csv_path = data_dir / "mnist_test.csv"
    lines = csv_path.read_text().splitlines()
    lines[1] = "9" + lines[1][1:]
    csv_path.write_text("\n".join(lines) + "\n")
    os.utime(csv_path, ns=(1, 1))
    assert data.load_mnist("test")[1][0] == 9
    # a damaged cache is ignored and rebuilt
    cache.write_bytes(b"junk")
    assert data.load_mnist("test")[1][0] == 9
    with np.load(cache) as npz:
        assert npz["y"][0] == 9
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".")]


def test_load_mnist_reads_a_headerless_or_gzipped_file_alike(data_dir):
    path = data_dir / "mnist_train.csv"
    expected = data.load_mnist("train", cache=False)
    body = path.read_bytes().split(b"\n", 1)[1]
    for content in (body, gzip.compress(body), gzip.compress(path.read_bytes())):
        path.write_bytes(content)
        X, y = data.load_mnist("train")
        np.testing.assert_array_equal(X, expected[0])
        np.testing.assert_array_equal(y, expected[1])


def test_a_damaged_data_file_says_how_to_rebuild_it(data_dir):
    path = data_dir / "mnist_test.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",", ",x", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        data.load_mnist("test")
    msg = str(info.value)
    assert f"{path}, line 3" in msg and "To check mnist_test.csv against SHA256SUMS and rebuild it, run " \
                                      "`exemplar data`." in msg


def test_load_mnist_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("valid")
    with pytest.raises(DataError, match="exemplar data") as info:
        data.load_mnist("train")
    assert str(tmp_path / "mnist_train.csv") in str(info.value)


def test_load_dataset_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="dataset must be one of 'mnist', 'fashion-mnist'"):
        data.load_dataset("emnist")
    with pytest.raises(ValueError, match="split"):
        data.load_dataset("fashion-mnist", "valid")
    with pytest.raises(DataError, match="exemplar data --dataset fashion-mnist") as info:
        data.load_dataset("fashion-mnist", "train")
    assert str(tmp_path / "fashion-mnist_train.csv") in str(info.value)


# --------------------------------------------------------------------------- exemplar validate / exemplar data


def test_validate_file_summary(tmp_path):
    X, y = images(12)
    path = data.write_csv(tmp_path / "v.csv", X, (np.arange(12) % 10))
    assert data.validate_file(path) == (f"{path}: CSV with a header line (label,1x1,...,28x28); 12 rows, 784 pixels, "
                                        f"labels 0–9 (counts 2 2 1 1 1 1 1 1 1 1), OK")


def test_cli_validate_says_what_each_file_is(tmp_path, capsys):
    X, y = images(4)
    with_header = data.write_csv(tmp_path / "a.csv", X, y)
    headerless = tmp_path / "b.csv.gz"
    headerless.write_bytes(gzip.compress(with_header.read_bytes().split(b"\n", 1)[1]))
    idx = tmp_path / "t10k-labels-idx1-ubyte"
    idx.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 4]) + bytes(y.astype(np.uint8)))
    assert cli.main(["validate", str(with_header), str(headerless), str(idx)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{with_header}: CSV with a header line (label,1x1,...,28x28); 4 rows")
    assert out[1].startswith(f"{headerless}: gzip-compressed CSV without a header line; 4 rows")
    assert out[2] == f"{idx}: IDX labels; 4 labels 0–3 (counts 1 1 1 1), OK"
    assert cli.main(["validate", str(tmp_path / "nope.csv")]) == 1
    assert "nope.csv: no such file" in capsys.readouterr().err


def test_cli_data_passes_dataset_and_source_dir(monkeypatch, tmp_path):
    seen = []

    def fake_fetch(name, source_dir=None, force=False, quiet=False):
        seen.append((name, source_dir, force))
        return {"train": tmp_path / "a.csv", "test": tmp_path / "b.csv"}

    monkeypatch.setattr(data, "fetch_dataset", fake_fetch)
    assert cli.main(["data", "--dataset", "fashion-mnist", "--source-dir", str(tmp_path)]) == 0
    assert cli.main(["data"]) == 0
    assert seen == [("fashion-mnist", str(tmp_path), False), ("mnist", None, False)]
    with pytest.raises(SystemExit):
        cli.main(["data", "--dataset", "emnist"])


# --------------------------------------------------------------------------- atomic writes: one definition


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "f.csv"
    target.write_text("old")

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fileio.atomic_write(target, boom)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


def test_atomic_write_text_replaces_whole_and_is_readable_by_all(tmp_path):
    target = tmp_path / "sub" / "r.json"
    assert fileio.atomic_write_text(target, "héllo\r\n") == target
    assert target.read_bytes() == "héllo\r\n".encode() and (target.stat().st_mode & 0o777) == 0o644
    assert results.atomic_write_text is fileio.atomic_write_text  # results uses the same one


def test_a_writer_killed_mid_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    import subprocess
    import sys

    from exemplar import fileio

    target = tmp_path / "demo.csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".demo.csv.{int(dead.stdout)}.abcd1234.tmp"  # as a killed writer leaves it
    stale.write_text("half")
    alive = tmp_path / f".demo.csv.{os.getpid()}.efgh5678.tmp"  # a writer still running: left alone
    alive.write_text("busy")
    fileio.atomic_write_text(target, "label\n1\n")
    assert target.read_text() == "label\n1\n"
    assert not stale.exists() and alive.exists()
