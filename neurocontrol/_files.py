"""The package's one atomic file write (not public API).

Every writer of a file that another process or a later run reads (results,
checkpoints, weights, sweep markers, run artefacts) goes through
:func:`atomic_write`, so a crash or a full disk never leaves a half-written
file under the final name: readers see the old file or the new one.
It imports nothing of the package but its named errors.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from neurocontrol.exceptions import ParameterError

__all__ = ["atomic_write"]


def _read_umask() -> int:
    """Return the process's file-creation mask (set and restored once, at import)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of a new file: what ``open(path, "w")`` would give (``mkstemp`` alone makes it owner-only).
_NEW_FILE_MODE = 0o666 & ~_read_umask()


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically: temporary file in the same folder, fsync, ``os.replace``.

    The temporary file lives in the target's folder so that ``os.replace`` is a
    rename within one file system (atomic on POSIX and Windows). On any error
    the temporary file is removed and the target is left untouched. The file
    gets the permissions of a replaced file, or those a plain ``open`` would
    give a new one.

    Parameters
    ----------
    path : str or os.PathLike
        The target file; its folder must exist.
    data : bytes or str
        The whole content; ``str`` is encoded as UTF-8.

    Returns
    -------
    pathlib.Path
        The target path.

    Raises
    ------
    ParameterError
        If ``data`` is neither ``bytes`` nor ``str``.
    OSError
        If the folder does not exist or cannot be written.

    Examples
    --------
    >>> import os, tempfile
    >>> p = atomic_write(os.path.join(tempfile.mkdtemp(), "a.txt"), "hello")
    >>> p.read_text()
    'hello'
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise ParameterError(f"`data` must be bytes or str, got {type(data).__name__}; encode or serialise it first.")
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):   # POSIX only; Windows has no owner-only default to undo
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Flush the folder entry of a renamed file to disk where the platform allows it (POSIX)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:   # Windows cannot open a folder; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
