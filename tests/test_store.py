"""The training store (exemplar.store) and the chapter loop's use of it (runner.run_chapter(store=...))."""

from __future__ import annotations

import hashlib
import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest

from exemplar import store as store_module
from exemplar.experiments import runner
from exemplar.models.numpy_mlp import train
from exemplar.store import StoreWarning, TrainingStore


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data folder of its own (the store's key holds every data file's SHA-256)."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "mnist_train.csv").write_text("label,1x1\n5,0\n")
    monkeypatch.setenv("EXEMPLAR_DATA", str(folder))
    monkeypatch.delenv(store_module.FRESH_ENV, raising=False)
    return folder


def _fit(X, y, Xt, yt, hidden, seed):
    res = train(X, y, hidden, 8, seed, dtype="float64")
    accuracy = float((res.net.predict_proba(Xt).argmax(1) == yt).mean() * 100)
    return accuracy, res.net.weights()


def _chapter(digits, calls: list):
    """A run chapter of two small trainings (repeat 0 and 1) of the fast trainer, in this process."""
    X, y, Xt, yt = digits

    def run_one(p, inputs, cl, c):
        calls.append(c["repeat"])
        accuracy, weights = _fit(X, y, Xt, yt, p.hidden, p.seed + c["repeat"])
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()
        return {"accuracy_pct": accuracy, "weights_sha256": digest, "fit_seconds": 0.1 * (len(calls))}

    return types.SimpleNamespace(
        __name__="stand-in chapter", SPEC=None, RESULTS_NAME="standin", KEY_COLUMNS=["repeat"], EXPERIMENT="test",
        parameters=lambda ns: ns, load=lambda p: runner.Inputs(), summarize=lambda rows: rows,
        configs=lambda p: [{"repeat": r} for r in range(2)], run_one=run_one,
        recorded=lambda p: {"hidden": p.hidden, "seed": p.seed}, cluster_size=lambda p, c: None)


def _params(**changes):
    return types.SimpleNamespace(**{"hidden": 12, "seed": 0, "resume": False, "retries": 0, **changes})


def _run(module, p, tmp_path, **kw):
    store = TrainingStore(tmp_path / "results" / ".store", log=lambda *a, **k: None, **kw)
    out = runner.run_chapter(module, p, inputs=runner.Inputs(inputs="synthetic"), directory=tmp_path / "results",
                             store=store, progress=False, log=lambda *a, **k: None)
    return out, store


def test_a_reused_training_equals_a_fresh_one_accuracy_and_weights(tmp_path, data_dir, digits):
    X, y, Xt, yt = digits
    store = TrainingStore(tmp_path / "store")
    ident = store_module.identity("fit", {"hidden": 12, "seed": 3}, "fp", data=store.data_fingerprint())
    accuracy, weights = _fit(X, y, Xt, yt, 12, 3)
    store.put(ident, {"accuracy_pct": accuracy}, {"provenance_id": "abc", "created": "today"},
              arrays={f"w{i}": w for i, w in enumerate(weights)})
    entry = store.get(ident)
    again_accuracy, again = _fit(X, y, Xt, yt, 12, 3)  # trained afresh: the store's entry is what it gives
    assert entry["row"]["accuracy_pct"] == accuracy == again_accuracy
    for i, w in enumerate(again):
        np.testing.assert_array_equal(entry["arrays"][f"w{i}"], w)
    assert entry.reused_from == "abc@today"


def test_a_chapter_rerun_reuses_its_trainings_and_says_so(tmp_path, data_dir, digits):
    calls = []
    module = _chapter(digits, calls)
    first, _ = _run(module, _params(), tmp_path)
    assert calls == [0, 1] and first.prov["reused_rows"] == 0
    second, _ = _run(module, _params(), tmp_path)
    assert calls == [0, 1], "the stored trainings ran again"
    cols = ["repeat", "accuracy_pct", "weights_sha256", "fit_seconds"]
    pd.testing.assert_frame_equal(second.rows[cols], first.rows[cols])  # timings too: the training run's
    assert second.prov["reused_rows"] == 2
    assert (second.rows["reused_from"] == f"{first.rows.provenance_id[0]}@{first.prov['created']}").all()
    # fresh: trained again, and equal (the trainer is deterministic), nothing reused
    fresh, _ = _run(module, _params(), tmp_path, reuse=False)
    assert calls == [0, 1, 0, 1] and fresh.prov["reused_rows"] == 0
    assert fresh.rows.accuracy_pct.tolist() == first.rows.accuracy_pct.tolist()
    assert fresh.rows.weights_sha256.tolist() == first.rows.weights_sha256.tolist()


def test_fresh_is_what_the_environment_says(monkeypatch, tmp_path):
    monkeypatch.setenv(store_module.FRESH_ENV, "1")
    assert TrainingStore(tmp_path).reuse is False
    monkeypatch.setenv(store_module.FRESH_ENV, "0")
    assert TrainingStore(tmp_path).reuse is True


def test_a_changed_parameter_data_file_or_trainer_is_not_reused(tmp_path, data_dir, digits):
    calls = []
    module = _chapter(digits, calls)
    _run(module, _params(), tmp_path)
    _run(module, _params(hidden=13), tmp_path)  # a parameter
    assert calls == [0, 1] * 2
    (data_dir / "mnist_train.csv").write_text("label,1x1\n6,0\n")  # a data file
    _run(module, _params(), tmp_path)
    assert calls == [0, 1] * 3
    _run(module, _params(), tmp_path)  # nothing changed: reused
    assert calls == [0, 1] * 3


def test_another_trainer_version_is_not_reused(tmp_path, data_dir, digits, monkeypatch):
    calls = []
    module = _chapter(digits, calls)
    _run(module, _params(), tmp_path)
    monkeypatch.setattr(store_module, "code_version", lambda *a, **k: "another trainer")
    again, _ = _run(module, _params(), tmp_path)
    assert calls == [0, 1] * 2 and again.prov["reused_rows"] == 0 and again.prov["code_version"] == "another trainer"


def test_the_code_version_follows_the_trainer_not_the_pages(tmp_path):
    package = tmp_path / "pkg"
    for rel in ("models/numpy_mlp.py", "reporting/sweep.py", "cli.py", "site/notebooks.py"):
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text("x = 1\n")
    before = store_module.code_version(package)
    for rel in ("reporting/sweep.py", "cli.py", "site/notebooks.py"):
        (package / rel).write_text("x = 2  # prose\n")
    assert store_module.code_version(package) == before
    (package / "models/numpy_mlp.py").write_text("x = 2\n")
    assert store_module.code_version(package) != before
    # and a chapter's key holds it: the same configuration under another trainer version is another key
    a = store_module.identity("c", {"r": 0}, "fp", code="v1")
    assert store_module.key_of(a) != store_module.key_of({**a, "code": "v2"})


def _damage_checksum(path):
    entry = json.loads(path.read_text())
    entry["row"]["accuracy_pct"] = 99.9
    path.write_text(json.dumps(entry))


def _damage_bytes(path):
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:40])


@pytest.mark.parametrize("damage", [_damage_checksum, _damage_bytes, _truncate], ids=["edited", "flipped", "cut"])
def test_a_damaged_entry_is_retrained_with_a_warning(tmp_path, data_dir, digits, damage):
    calls = []
    module = _chapter(digits, calls)
    first, store = _run(module, _params(), tmp_path)
    entries = sorted(store.directory.glob("standin/*.json"))
    assert len(entries) == 2
    damage(entries[0])
    with pytest.warns(StoreWarning, match="not used"):
        again, store2 = _run(module, _params(), tmp_path)
    assert len(calls) == 3 and again.prov["reused_rows"] == 1 and len(store2.refused) == 1
    assert again.rows.accuracy_pct.tolist() == first.rows.accuracy_pct.tolist()
    # the entry was replaced: a third run reuses both, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        third, _ = _run(module, _params(), tmp_path)
    assert len(calls) == 3 and third.prov["reused_rows"] == 2


def test_a_foreign_entry_and_damaged_arrays_are_refused(tmp_path, data_dir):
    store = TrainingStore(tmp_path / "store", log=lambda *a: None)
    a, b = (store_module.identity("fit", {"seed": s}, "fp") for s in (1, 2))
    store.put(a, {"acc": 1.0}, {"provenance_id": "x"}, arrays={"w": np.arange(3.0)})
    store.put(b, {"acc": 2.0}, {"provenance_id": "x"})
    store.path(b).write_bytes(store.path(a).read_bytes())  # a's entry copied under b's key
    with pytest.warns(StoreWarning, match="another key"):
        assert store.get(b) is None
    _damage_bytes(store.path(a).with_suffix(".npz"))
    with pytest.warns(StoreWarning, match="arrays"):
        assert store.get(a) is None


def test_a_chapter_says_what_the_store_gave_and_its_precision():
    from exemplar.reporting import status

    prov = {"reused_rows": 3, "reused_from": ["ab@2026-12-03T10:00:00+00:00", "cd@2026-12-03T10:00:00+00:00"],
            "load": {"start": [1.0, 1.0, 1.0], "end": [1.0, 1.0, 1.0]}, "machine": {"usable_cores": 2}}
    said = status.load_sentence(prov)
    assert said.startswith("**3 of these trainings were reused from the training store**, not run again: the run "
                           "of 2026-12-03T10:00:00+00:00 trained them")
    assert "their times are that run's" in said and "The machine was not busier" in said
    assert "training store" not in status.load_sentence({**prov, "reused_rows": 0})
    assert "**float32** (single precision" in status.precision_sentence("float32")
    assert "**float64** (double precision" in status.precision_sentence(None)
