"""The training store: every finished training kept under a key of everything that determined it.

A chapter's configuration, once trained, is written to ``RESULTS/.store/CHAPTER/KEY.json`` (and, where a
training keeps arrays such as its weights, ``KEY.npz`` beside it). ``KEY`` is the SHA-256 of the
training's **identity** (:func:`identity`):

* what the chapter trains (its results name) and the configuration (its key columns);
* every parameter of the chapter (``resume`` and ``retries`` steer the loop and are left out), the
  package versions, the Python version and the machine (CPU model and cores: the timing columns are
  this machine's), as in :func:`exemplar.experiments.runner.provenance_id`;
* the **code version** (:func:`code_version`): a hash of the package's source files, those that show
  results and nothing else (``reporting/``, ``site/``, ``bench/``, ``cli.py``) left out, so editing a
  page's prose retrains nothing, and editing a trainer retrains everything;
* the **data** (:func:`data_fingerprint`): the SHA-256 of every data file (``data/*.csv``).

A configuration whose key is in the store is not trained again: its row is the stored one, with
``reused_from`` naming the run that trained it (its provenance id and its date), and its timings are
that run's. An entry is trusted only when it is whole: its own checksum, its key and its identity must
match (and the SHA-256 of its arrays, where it has them). A damaged or foreign entry is refused with a
:class:`StoreWarning` naming it, and the configuration is trained again (and the entry replaced).

``EXEMPLAR_FRESH=1`` (``exemplar run --fresh``, ``make book FRESH=1``) reuses nothing; what it trains
is still stored, for the next run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

from exemplar import config, fileio

#: ``EXEMPLAR_FRESH=1``: train everything again, reuse nothing (what is trained is stored all the same).
FRESH_ENV = "EXEMPLAR_FRESH"
#: The store's folder inside a results folder.
STORE_DIRNAME = ".store"
#: The entry format; an entry of another format is refused (and retrained).
FORMAT = 1
#: Parts of the package that show results and never change a training's numbers (left out of the code version).
NOT_TRAINING = ("reporting", "site", "bench", "cli.py")
#: The column of a reused row that names the run that trained it.
REUSED_COLUMN = "reused_from"


class StoreWarning(UserWarning):
    """A store entry was damaged or foreign and is not used; the configuration is trained again."""


def fresh() -> bool:
    """Whether this run reuses nothing (``EXEMPLAR_FRESH`` set to anything but ``0`` or empty)."""
    return os.environ.get(FRESH_ENV, "").strip() not in ("", "0")


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def code_version(package: Path | None = None, leave_out: tuple[str, ...] = NOT_TRAINING) -> str:
    """A 16-character hash of the package's training code: every ``.py`` file under ``package`` (default: this
    package) but those in ``leave_out`` (default :data:`NOT_TRAINING`; ``()``: all the code), by relative path
    and bytes."""
    root = Path(package) if package is not None else _package_dir()
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in leave_out or "__pycache__" in rel:
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def file_sha256(path: Path, memo: dict | None = None) -> str:
    """The SHA-256 of ``path``; ``memo`` (by path, size and mtime) spares reading an unchanged file twice."""
    st = path.stat()
    tag = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    if memo is not None and tag in memo:
        return memo[tag]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    if memo is not None:
        memo[tag] = h.hexdigest()
    return h.hexdigest()


def data_fingerprint(directory: Path | None = None, memo_path: Path | None = None) -> dict[str, str]:
    """The SHA-256 of every ``*.csv`` file in the data folder (default :func:`exemplar.config.data_dir`), by name.

    The digests are remembered in ``memo_path`` (by path, size and modification time), so a data file is
    read once, not at every chapter.
    """
    directory = Path(directory) if directory is not None else config.data_dir()
    memo: dict = {}
    if memo_path is not None:
        try:
            memo = dict(json.loads(Path(memo_path).read_text()))
        except (OSError, ValueError, TypeError):
            memo = {}
    before = dict(memo)
    out = {p.name: file_sha256(p, memo) for p in sorted(directory.glob("*.csv")) if p.is_file()}
    if memo_path is not None and memo != before:
        try:
            fileio.atomic_write_text(memo_path, json.dumps(memo, indent=0))
        except OSError:
            pass  # only a cache: the digests are computed again next time
    return out


def plain(value):
    """``value`` as plain JSON for keys and comparisons: numpy scalars as Python numbers, NaN as None, whole
    floats as ints (as read back from CSV), lists and dicts element by element."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer():
            return int(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, default=_json_default, separators=(",", ":")).encode()


def key_of(identity: Mapping[str, Any]) -> str:
    """The store key of ``identity``: the SHA-256 of its canonical JSON."""
    return hashlib.sha256(_canonical(plain(dict(identity)))).hexdigest()


def identity(what: str, config_key: Mapping[str, Any], fingerprint: str, *, code: str | None = None,
             data: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines a training's row (see the module's text)."""
    return {"what": what, "config": plain(dict(config_key)), "fingerprint": fingerprint,
            "code": code if code is not None else code_version(), "data": dict(data or {}),
            "inputs": plain(dict(inputs or {}))}


class Entry(dict):
    """A stored training: ``row``, ``trained_by`` (the run that trained it) and, where it has them, ``arrays``."""

    @property
    def reused_from(self) -> str:
        """``PROVENANCE_ID@DATE`` of the run that trained it."""
        by = self.get("trained_by", {})
        return f"{by.get('provenance_id', '?')}@{by.get('created', '?')}"


class TrainingStore:
    """The trainings stored in ``directory`` (default ``RESULTS/.store``).

    Parameters
    ----------
    directory : path, optional
        Where entries live.
    reuse : bool, optional
        Whether stored entries are used (default: not when :func:`fresh`). Entries are written either way.
    log : callable
        Where refusals are said (besides the :class:`StoreWarning`).
    """

    def __init__(self, directory: Path | None = None, reuse: bool | None = None, log=print):
        self.directory = Path(directory) if directory is not None else config.results_dir() / STORE_DIRNAME
        self.reuse = (not fresh()) if reuse is None else bool(reuse)
        self.log = log
        self.refused: list[str] = []

    def path(self, identity: Mapping[str, Any]) -> Path:
        return self.directory / str(identity.get("what", "misc")) / f"{key_of(identity)}.json"

    def data_fingerprint(self) -> dict[str, str]:
        """:func:`data_fingerprint` with its digests remembered in this store."""
        return data_fingerprint(memo_path=self.directory / "data-digests.json")

    def get(self, identity: Mapping[str, Any]) -> Entry | None:
        """The entry stored for ``identity``, or ``None`` (none, reuse off, or refused as damaged or foreign)."""
        if not self.reuse:
            return None
        path = self.path(identity)
        if not path.is_file():
            return None
        why = None
        try:
            entry = Entry(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            entry, why = None, f"unreadable ({type(exc).__name__}: {exc})"
        if why is None:
            why = self._check(entry, identity, path)
        if why is not None:
            self._refuse(path, why)
            return None
        if entry.get("arrays_sha256"):
            entry["arrays"] = self._arrays(path, entry["arrays_sha256"])
            if entry["arrays"] is None:
                return None
        return entry

    @staticmethod
    def _check(entry, identity, path) -> str | None:
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return f"not an entry of format {FORMAT}"
        body = {k: v for k, v in entry.items() if k != "checksum"}
        if entry.get("checksum") != hashlib.sha256(_canonical(body)).hexdigest():
            return "its checksum does not match its content (damaged)"
        key = key_of(identity)
        if entry.get("key") != key or path.stem != key or key_of(entry.get("identity", {})) != key:
            return "it was stored under another key (foreign)"
        return None

    def _arrays(self, path: Path, sha: str):
        import numpy as np

        npz = path.with_suffix(".npz")
        try:
            blob = npz.read_bytes()
        except OSError as exc:
            self._refuse(path, f"its arrays {npz.name} are missing ({exc.strerror or exc})")
            return None
        if hashlib.sha256(blob).hexdigest() != sha:
            self._refuse(path, f"its arrays {npz.name} do not match their checksum (damaged)")
            return None
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def _refuse(self, path: Path, why: str) -> None:
        message = (f"training store: the entry {path} is not used: {why}. The configuration is trained "
                   "again and the entry replaced")
        self.refused.append(str(path))
        warnings.warn(message, StoreWarning, stacklevel=3)
        self.log(message)

    def put(self, identity: Mapping[str, Any], row: Mapping[str, Any], trained_by: Mapping[str, Any],
            arrays: Mapping[str, Any] | None = None) -> Path:
        """Store ``row`` (and ``arrays``, e.g. weights) for ``identity``; ``trained_by``: the run's provenance
        id and date. Written atomically: a reader sees the old entry or the whole new one."""
        import numpy as np

        path = self.path(identity)
        body = {"format": FORMAT, "key": key_of(identity), "identity": plain(dict(identity)),
                "row": json.loads(_canonical(dict(row))), "trained_by": plain(dict(trained_by))}
        if arrays:
            buf = io.BytesIO()
            np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
            blob = buf.getvalue()
            fileio.atomic_write_bytes(path.with_suffix(".npz"), blob)
            body["arrays_sha256"] = hashlib.sha256(blob).hexdigest()
        body["checksum"] = hashlib.sha256(_canonical(body)).hexdigest()
        fileio.atomic_write_text(path, json.dumps(body, sort_keys=True, default=_json_default) + "\n")
        return path
