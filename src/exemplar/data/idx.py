"""The IDX binary format of MNIST, Fashion-MNIST and EMNIST: read files and image/label pairs.

Layout: two zero bytes, a data-type code (0x08 ubyte, 0x09 sbyte, 0x0B short, 0x0C int,
0x0D float, 0x0E double), the number of dimensions, each dimension as a big-endian uint32,
then the big-endian payload. Gzip-compressed files are recognised by their first bytes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from exemplar.data.common import REBUILD_HINT, DataError, gzip_errors, is_gzip, open_data

__all__ = ["load_idx", "load_idx_pair", "find_idx_files", "idx_labels_for", "is_idx", "IDX_FILES", "IDX_TYPES"]

#: IDX data-type codes: numpy dtype (big-endian) and name.
IDX_TYPES = {
    0x08: (np.dtype("u1"), "unsigned byte"),
    0x09: (np.dtype("i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short"),
    0x0C: (np.dtype(">i4"), "int"),
    0x0D: (np.dtype(">f4"), "float"),
    0x0E: (np.dtype(">f8"), "double"),
}

#: The IDX file names (images, labels) of each split, as MNIST, Fashion-MNIST and EMNIST ship them;
#: each may also carry a ``.gz`` suffix.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_READ_BYTES = 1 << 22


def is_idx(head: bytes) -> bool:
    """Whether a file's first (decompressed) bytes look like an IDX header: 00 00, a known type, dimensions."""
    return len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in IDX_TYPES and head[3] > 0


def _read_exactly(fh: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the file), read in bounded pieces."""
    parts, left = [], n
    while left > 0:
        part = fh.read(min(left, _READ_BYTES))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _count_rest(fh: BinaryIO) -> int:
    """How many bytes are left in ``fh`` (read and dropped in pieces)."""
    n = 0
    while part := fh.read(_READ_BYTES):
        n += len(part)
    return n


def _read_header(fh: BinaryIO, path: Path) -> tuple[int, tuple[int, ...], int]:
    """``(type code, dims, header bytes)``, checked."""
    raw = _read_exactly(fh, 4)
    if len(raw) < 4:
        raise DataError(f"{path}: truncated header at byte offset {len(raw)}: the file has {len(raw)} bytes; "
                        f"expected at least 4 (the IDX magic number). {REBUILD_HINT}")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}, byte offset 0: magic starts {raw[0]:#04x} {raw[1]:#04x}; expected 0x00 0x00 "
                        f"(an IDX file such as train-images-idx3-ubyte).")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"{c:#04x} ({n})" for c, (_, n) in IDX_TYPES.items())
        raise DataError(f"{path}, byte offset 2: unknown data type code {code:#04x}; expected one of {known}.")
    if ndim == 0:
        raise DataError(f"{path}, byte offset 3: 0 dimensions; expected at least 1.")
    header = 4 + 4 * ndim
    raw += _read_exactly(fh, 4 * ndim)
    if len(raw) < header:
        raise DataError(f"{path}: truncated header at byte offset {len(raw)}: {ndim} dimensions need a "
                        f"{header}-byte header, the file has {len(raw)} bytes. {REBUILD_HINT}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return code, dims, header


def _payload_error(path: Path, dims, code: int, header: int, have: int, need: int) -> DataError:
    dtype, name = IDX_TYPES[code]
    problem = (f"is truncated. {REBUILD_HINT}" if have < need
               else f"has {have - need} extra bytes from byte offset {header + need}")
    return DataError(f"{path}: payload from byte offset {header} has {have} bytes but dimensions {dims} of "
                     f"{name} ({dtype.itemsize} bytes each) need {need}; the file {problem}.")


def load_idx(path) -> np.ndarray:
    """Read an IDX file (the binary format of MNIST, Fashion-MNIST and EMNIST).

    Any IDX file is read, whatever its shape and type: EMNIST's files too (their images are
    stored transposed, column by column: ``images.transpose(0, 2, 1)`` gives MNIST's row order;
    the letters' labels run from 1 to 26). Memory is bounded by the payload the header
    declares: an uncompressed file whose size disagrees with it is refused before its payload
    is read.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        Shape as the header says, native byte order, writeable.

    Raises
    ------
    DataError
        With the byte offset, for a wrong magic number, unknown type code, truncated header, or
        a payload shorter or longer than the dimensions say.
    """
    path = Path(path)
    with open_data(path, "IDX file") as fh, gzip_errors(path):
        code, dims, header = _read_header(fh, path)
        dtype = IDX_TYPES[code][0]
        need = math.prod(dims) * dtype.itemsize
        if not is_gzip(path):
            have = os.stat(path).st_size - header
            if have != need:
                raise _payload_error(path, dims, code, header, have, need)
        payload = _read_exactly(fh, need)
        extra = _count_rest(fh)
    if len(payload) != need or extra:
        raise _payload_error(path, dims, code, header, len(payload) + extra, need)
    arr = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a native, writeable copy


def load_idx_pair(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """An IDX image file and its label file -> ``X`` uint8 (n, rows*cols), ``y`` int64 (n,).

    Raises
    ------
    DataError
        When the images are not a 3-d unsigned-byte array or hold no image, the labels are not
        1-d integers, or their counts differ (the message names both files).
    """
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: holds {images.dtype} data of shape {images.shape}; expected "
                        f"unsigned-byte images of shape (n, rows, cols).")
    if not len(images):
        raise DataError(f"{images_path}: holds no images (its first dimension is 0); expected at least one.")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{labels_path}: holds {labels.dtype} data of shape {labels.shape}; expected integer "
                        f"labels of shape (n,).")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images):,} images but {labels_path} has {len(labels):,} labels; "
                        f"expected the same count. Are they from the same split?")
    return images.reshape(len(images), images.shape[1] * images.shape[2]), labels.astype(np.int64)


def idx_labels_for(images_path) -> Path | None:
    """The label file beside an IDX image file, by the usual naming, or None when there is none.

    ``train-images-idx3-ubyte`` pairs with ``train-labels-idx1-ubyte`` (also for EMNIST's
    ``emnist-digits-train-images-idx3-ubyte``), with or without ``.gz`` on either name.
    """
    images_path = Path(images_path)
    stem = images_path.name[:-3] if images_path.name.endswith(".gz") else images_path.name
    if "images-idx3" not in stem:
        return None
    labels = stem.replace("images-idx3", "labels-idx1")
    return next((images_path.parent / n for n in (labels, labels + ".gz") if (images_path.parent / n).is_file()),
                None)


def find_idx_files(folder) -> dict[str, tuple[Path, Path]]:
    """The IDX files of both splits in ``folder``: ``{"train": (images, labels), "test": (...)}``.

    Each of the four names in :data:`IDX_FILES` is looked up as is and with ``.gz``.

    Raises
    ------
    DataError
        When ``folder`` is not a folder or a file is missing (the message lists what it holds).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected a folder holding the IDX files "
                        f"{', '.join(n for pair in IDX_FILES.values() for n in pair)} (each may end in .gz).")
    found, missing = {}, []
    for split, names in IDX_FILES.items():
        pair = []
        for name in names:
            hit = next((folder / n for n in (name, name + ".gz") if (folder / n).is_file()), None)
            if hit is None:
                missing.append(name)
            pair.append(hit)
        found[split] = tuple(pair)
    if missing:
        have = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise DataError(f"{folder}: missing IDX file(s) {', '.join(missing)} (with or without .gz); "
                        f"the folder holds {have}.")
    return found
