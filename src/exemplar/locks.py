"""Exclusive locks on files that several runs may write at once (results files, the stage log).

The lock is the operating system's (``flock`` on ``PATH.lock`` beside the file), so it goes with
the process that holds it, however that process ends: no stale lock survives a killed run.
"""

from __future__ import annotations

import fcntl
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class BusyError(RuntimeError):
    """Another run holds the lock. The message names the file, the lock and its holder."""


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of ``path``: ``NAME.lock`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.lock")


@contextmanager
def exclusive(path: str | os.PathLike, wait: bool = False, advice: str = "") -> Iterator[Path]:
    """Hold the lock of ``path`` for the block.

    Parameters
    ----------
    path : path
        The file the lock protects (the lock is :func:`lock_path` of it).
    wait : bool
        Wait for the lock (for short read-modify-writes); else raise :class:`BusyError` at once,
        naming the holder (its pid, host, start time and command line) and ``advice``.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lp, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "a process that did not say who it is"
            raise BusyError(f"{path} is being written by another run ({holder}; lock {lp})."
                            + (f" {advice}" if advice else "")) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                 f"{' '.join(sys.argv)[:200]}")
        fh.flush()
        try:
            yield lp
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()
