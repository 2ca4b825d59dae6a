"""``data/SHA256SUMS``: read it, say which data files no longer match it (and why), write files against it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from exemplar.data.cache import write_cache
from exemplar.data.common import SHA256SUMS, DataError, say, sha256_file
from exemplar.data.csvfile import csv_chunks
from exemplar.fileio import atomic_write, atomic_write_text

__all__ = ["read_sums", "stale_reasons", "write_dataset"]


def read_sums(path: Path) -> dict[str, str]:
    """``{filename: hex}`` from a sha256sum-format file; empty when there is none.

    Raises
    ------
    DataError
        For a line that is not ``<64 hex digits>  <file name>`` (blank lines and ``#`` comments are skipped).
    """
    if not path.is_file():
        return {}
    sums = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip())
        if not m:
            raise DataError(
                f"{path}, line {lineno}: {line!r} is not '<64 hex digits>  <file name>'; "
                f"expected sha256sum format. Restore it with `git checkout -- data/{SHA256SUMS}`."
            )
        sums[m.group(2)] = m.group(1).lower()
    return sums


def stale_reasons(paths: dict[str, Path], sums_path: Path) -> list[str]:
    """Why each file in ``paths`` must be (re)built, as sentences; empty when all match ``sums_path``.

    A file is stale when it is missing, has no hash recorded, or its SHA-256 differs from the
    recorded one (it was changed, damaged or cut short).
    """
    recorded = read_sums(sums_path)
    reasons = []
    for path in paths.values():
        if not path.is_file():
            reasons.append(f"{path} does not exist")
        elif path.name not in recorded:
            reasons.append(f"{path} has no SHA-256 recorded in {sums_path}")
        else:
            found = sha256_file(path)
            if found != recorded[path.name]:
                reasons.append(f"{path} has SHA-256 {found}, not the {recorded[path.name]} recorded in {sums_path} "
                               f"(the file was changed, damaged or cut short)")
    return reasons


def _formatted(arrays: dict[str, tuple[np.ndarray, np.ndarray]], paths: dict[str, Path]):
    """Each split's CSV as byte chunks, and the SHA-256 of each file name."""
    contents, digests = {}, {}
    for split, (X, y) in arrays.items():
        chunks = list(csv_chunks(X, y))
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
        contents[split], digests[paths[split].name] = chunks, h.hexdigest()
    return contents, digests


def write_dataset(arrays: dict[str, tuple[np.ndarray, np.ndarray]], paths: dict[str, Path], quiet: bool) -> None:
    """Write each split's CSV (and its binary cache) atomically and record their hashes in ``SHA256SUMS``.

    Both files are formatted and hashed in memory first, so a disagreement with hashes already
    recorded in ``SHA256SUMS`` leaves the files on disk untouched. Other entries of
    ``SHA256SUMS`` (another data set's) are kept.

    Raises
    ------
    DataError
        When a new file's hash differs from the one recorded (the conversion is deterministic).
    """
    folder = next(iter(paths.values())).parent
    sums_path = folder / SHA256SUMS
    recorded = read_sums(sums_path)
    contents, digests = _formatted(arrays, paths)
    wrong = [(n, recorded[n], d) for n, d in digests.items() if n in recorded and recorded[n] != d]
    if wrong:
        lines = "; ".join(f"{n}: recorded {r}, newly written {d}" for n, r, d in wrong)
        raise DataError(
            f"the converted CSV files disagree with {sums_path} ({lines}). The conversion is deterministic, "
            f"so either {SHA256SUMS} was edited or the source or the converter changed. Check "
            f"`git diff data/{SHA256SUMS}`; if the change is intended, delete {sums_path} and rerun."
        )
    for split, chunks in contents.items():
        atomic_write(paths[split], lambda fh, chunks=chunks: fh.writelines(chunks))
        write_cache(paths[split], *arrays[split])
        say(quiet, f"wrote {paths[split]} ({len(arrays[split][1]):,} rows)")
    new_sums = {**recorded, **digests}
    text = "".join(f"{new_sums[n]}  {n}\n" for n in sorted(new_sums))
    if not sums_path.is_file() or sums_path.read_text(encoding="utf-8") != text:
        atomic_write_text(sums_path, text)
        say(quiet, f"wrote {sums_path}")
