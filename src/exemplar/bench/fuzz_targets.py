"""What :mod:`exemplar.bench.fuzz` feeds its fuzzers: the targets (bytes in, a finding or None out) and their seeds.

A target never raises: an input that is read correctly, or refused with the project's own error naming the
file, line or parameter, is no finding; anything else (another exception type, a message that names nothing,
a fast parser that disagrees with the line-by-line check) is returned as a one-line finding, whose first part
(up to `` | ``) is its signature: findings with the same signature are one finding.
"""

from __future__ import annotations

import gzip
import re
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

#: The targets, in the order they run.
TARGETS = ("validate", "idx-labels", "csv-rows", "params")
_NAMED = re.compile(r"^(?:parameter (\w+) |unknown parameter\(s\) )")
_ROW = ",".join(["3"] + ["0"] * 700 + ["255"] * 84)


def _idx(arr: np.ndarray, code: int = 0x08) -> bytes:
    big = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes() + big.tobytes()


def _unexpected(exc: BaseException) -> str:
    """A finding for an exception no reader or check should raise: its type and where, then the message."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno} | {str(exc)[:200]}"


def _data_error(exc, *paths: Path) -> str | None:
    message = str(exc)
    if any(str(p) in message for p in paths):
        return None
    return f"DataError naming no file | {message[:200]}"


class Targets:
    """The targets over one scratch folder: ``Targets(folder)["validate"](data) -> finding or None``."""

    def __init__(self, folder: Path):
        from exemplar import data

        self.data, self.folder = data, Path(folder)
        self.images = self.folder / "train-images-idx3-ubyte"
        self.labels = self.folder / "train-labels-idx1-ubyte"
        self._fixed_images = _idx(np.arange(8, dtype=np.uint8).reshape(2, 2, 2))
        self._fixed_labels = _idx(np.array([1, 7], dtype=np.uint8))

    def __getitem__(self, name: str) -> Callable[[bytes], str | None]:
        return {"validate": self.validate, "idx-labels": self.idx_labels, "csv-rows": self.csv_rows,
                "params": self.params}[name]

    def _read(self, path: Path) -> str | None:
        try:
            summary = self.data.validate_file(path)
            got = self.data.read_data(path)
        except self.data.DataError as exc:
            return _data_error(exc, self.images, self.labels)
        except Exception as exc:  # every other exception is a finding
            return _unexpected(exc)
        if not (summary.startswith(f"{path}: ") and summary.endswith(", OK")) or len(got.y) != len(got.X):
            return f"a bad summary | {summary[:200]}"
        return None

    def validate(self, blob: bytes) -> str | None:
        """``exemplar validate`` and ``read_data`` on any file (CSV or IDX images, a good label file beside)."""
        self.images.write_bytes(blob)
        self.labels.write_bytes(self._fixed_labels)
        return self._read(self.images)

    def idx_labels(self, blob: bytes) -> str | None:
        """An IDX label file beside good images: the pair, and the label file alone."""
        self.images.write_bytes(self._fixed_images)
        self.labels.write_bytes(blob)
        return self._read(self.images) or self._read(self.labels)

    def csv_rows(self, blob: bytes) -> str | None:
        """The fast parser (pandas) against the line-by-line check, on up to 4 lines."""
        from exemplar.data.csvrows import parse_block, parse_line

        body = b"\n".join(blob.split(b"\n")[:4])
        try:
            try:
                X, y = parse_block(body, Path("f.csv"), 1)
            except self.data.DataError:
                X = None
            rows = []
            for i, line in enumerate(body.split(b"\n"), start=1):
                try:
                    rows.append(parse_line(line, f"f.csv, line {i}"))
                except self.data.DataError:
                    rows = None
                    break
        except Exception as exc:
            return _unexpected(exc)
        if (X is None) != (rows is None):
            verb = "refuses" if X is None else "accepts"
            return f"the fast parser {verb} what the line check does not | {body[:80]!r}"
        if X is not None and not (np.array_equal(X, np.array(rows)[:, 1:]) and np.array_equal(y, np.array(rows)[:, 0])):
            return f"the fast parser reads other values | {body[:80]!r}"
        return None

    def params(self, blob: bytes) -> str | None:
        """``exemplar run STEM -p NAME TEXT`` as checked before any kernel starts: the first two bytes pick the
        chapter and the parameter, the rest is the text (undecodable bytes as the command line passes them)."""
        import importlib

        from exemplar.experiments import CHAPTERS
        from exemplar.site import notebooks

        if len(blob) < 2:
            return None
        stems = sorted(CHAPTERS)
        stem = stems[blob[0] % len(stems)]
        spec = importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}").SPEC
        name = spec.names[blob[1] % len(spec.names)]
        text = blob[2:].decode("utf-8", "surrogateescape")
        try:
            got = notebooks.check_parameters(stem, {name: text})
            if spec[name].check(got[name]) != got[name]:
                return f"an accepted value checks to another | {stem} {name} {text[:60]!r}"
        except ValueError as exc:
            m = _NAMED.match(str(exc))
            if m is None or (m.group(1) is not None and m.group(1) not in spec.names):
                return f"ValueError naming no parameter | {str(exc)[:200]}"
        except Exception as exc:
            return _unexpected(exc)
        return None


def seeds(target: str) -> list[bytes]:
    """Good inputs of a target, for the fuzzers to mutate."""
    from exemplar.data import CSV_HEADER

    rows = f"{_ROW}\n{_ROW.replace('3', '7', 1)}\n"
    if target == "validate":
        return [f"{CSV_HEADER}\n{rows}".encode(), rows.encode(), gzip.compress(rows.encode()),
                f"{CSV_HEADER}\r\n{_ROW}\r\n".encode(), _idx(np.zeros((2, 2, 2), np.uint8)),
                gzip.compress(_idx(np.zeros((2, 2, 2), np.uint8)))]
    if target == "idx-labels":
        return [_idx(np.array([1, 7], np.uint8)), _idx(np.array([1, 7], ">i4"), 0x0C),
                gzip.compress(_idx(np.array([0, 9], np.uint8)))]
    if target == "csv-rows":
        return [rows.encode(), _ROW.encode(), f"{_ROW}\r\n{_ROW}".encode()]
    return [bytes([i, j]) + text.encode() for i, j, text in [
        (3, 0, "[1, 2]"), (2, 0, "[10, 20]"), (4, 11, "0.5"), (3, 3, "sweep-optimum"), (8, 0, "None"),
        (5, 3, "[1000, 2000]"), (1, 1, "30"), (3, 8, "true"), (3, 10, "float32"), (6, 0, "results/bench")]]
