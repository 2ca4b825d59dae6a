"""Atomic file writes: the one definition every module uses.

A file is written to a temporary file beside its destination, flushed to disk, made readable
by everyone (``0o644``; :func:`tempfile.mkstemp` creates ``0o600``) and renamed into place. The
rename is atomic, so a reader sees either the old file or the complete new one, never a
half-written one; on any error (including ``KeyboardInterrupt``) the temporary file is removed
and the old file is left as it was.

A process killed while it writes (``SIGKILL``: no cleanup can run) leaves its temporary file
behind. The temporary file's name carries the writer's pid, so the next write of the same file
removes the ones whose writer is gone (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_bytes", "remove_stale_temporaries"]


def atomic_write(path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fh)`` on a temporary binary file beside ``path``, then rename it to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its folder is created when missing.
    write : callable
        Called once with the open binary file; whatever it writes becomes the file's content.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    Exception
        Whatever ``write`` or the file system raises (``OSError`` for a full disk or a
        read-only folder); the old file is then untouched and no temporary file is left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def remove_stale_temporaries(path) -> list[Path]:
    """Remove the temporary files of ``path`` left by writers that no longer run; returns them.

    :func:`atomic_write` names them ``.NAME.PID.XXXXXXXX.tmp``; one whose ``PID`` is not a running
    process was left by a writer killed mid-write. Those of running writers are left alone.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def atomic_write_bytes(path, content: bytes) -> Path:
    """Write ``content`` to ``path`` atomically (see :func:`atomic_write`). Returns ``path``."""
    return atomic_write(path, lambda fh: fh.write(content))


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, as UTF-8, line endings as given. Returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))
