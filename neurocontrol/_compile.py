"""The numba kernels' on-disk cache: kept in step with the sources, and the first-run notice and progress.

The kernels are compiled lazily, on their first call, and cached on disk next
to their source (``__pycache__/*.nbi``/``*.nbc``, or under ``NUMBA_CACHE_DIR``).
On a fresh install the first run therefore spends seconds compiling before it
flies; :func:`cache_is_cold` tells that from the file system alone (without
importing numba, so the notice comes within a second of the command), and
:class:`CompileProgress` reports each kernel as numba finishes it.

Numba checks a cached kernel against its own source file only: a kernel that
calls a kernel of another file (the controllers' kernels call the networks')
keeps the callee's old machine code after that file changes. So
:func:`clear_stale_kernels`, called when :mod:`neurocontrol._jit` is first
imported (before any kernel runs), removes every cached kernel of the project
when the kernel sources differ from those the cache was built from (a digest
kept beside the cache), and they are compiled afresh.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["CompileProgress", "cache_is_cold", "clear_stale_kernels", "kernel_modules"]

#: Packages whose modules may hold numba kernels (the package itself and the plants package next to it).
_ROOT = Path(__file__).resolve().parent
_PACKAGES = (_ROOT, _ROOT.parent / "plants")

#: A kernel module decorates at least one function with one of the project's numba decorators.
_DECORATOR = re.compile(r"^@(?:_?jit|plant_jit|_strict)\b", re.MULTILINE)

#: The file, in the cache folder, that holds the digest of the kernel sources the cache was built from.
_STAMP = "neurocontrol-kernels.sha256"


def kernel_modules(packages=_PACKAGES) -> list[Path]:
    """List the source files that define numba kernels.

    Parameters
    ----------
    packages : sequence of path-like, optional
        Package folders to search (default: ``neurocontrol`` and ``plants``).

    Returns
    -------
    list of pathlib.Path
        Sorted paths of the ``*.py`` files with a ``@jit``/``@_jit``/``@plant_jit``/``@_strict`` decorated
        function.
    """
    found = []
    for pkg in packages:
        pkg = Path(pkg)
        if not pkg.is_dir():
            continue
        for path in sorted(pkg.rglob("*.py")):
            try:
                if _DECORATOR.search(path.read_text(encoding="utf-8")):
                    found.append(path)
            except OSError:
                continue
    return found


def _cache_folders(source: Path, cache_dir: str | None) -> list[Path]:
    """List the folders where numba caches the kernels of ``source`` (``__pycache__`` or under ``cache_dir``)."""
    if cache_dir:
        # numba's folder: the source folder's name and the SHA-1 of its absolute path (numba.core.caching,
        # _CacheLocator.get_suitable_cache_subpath), so another project's folder of the same name is not this one
        folder = os.path.dirname(os.path.abspath(source))
        return [Path(cache_dir) / f"{os.path.basename(folder)}_{hashlib.sha1(folder.encode()).hexdigest()}"]
    return [source.parent / "__pycache__"]


def _sources_digest(modules) -> str:
    """SHA-256 over the kernel sources' names and contents, in a fixed order."""
    h = hashlib.sha256()
    for path in sorted(Path(m) for m in modules):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _cached_files(source: Path, cache_dir: str | None, suffixes=(".nbi", ".nbc")) -> list[Path]:
    """Numba's cached files for the kernels of ``source``: index (``.nbi``) and code (``.nbc``) by default."""
    return [p for d in _cache_folders(source, cache_dir) for suffix in suffixes
            for p in d.glob(f"{source.stem}.*{suffix}")]


def clear_stale_kernels(modules=None, *, cache_dir: str | None = None, stamp_dir=None) -> int:
    """Remove every cached kernel when the kernel sources differ from those the cache was built from.

    Numba invalidates a cached kernel when its own source file changes, not
    when a kernel it calls (in another file) does. This keeps a digest of all
    kernel sources beside the cache; when it differs (or is missing while
    cached kernels exist), the cached kernels of every kernel module are
    removed and the new digest is written, so each kernel is compiled again
    from the present sources at its next call. Failing to read or write the
    cache folder (a read-only install) leaves everything as it is; numba's
    own fallback there, a cache folder per user, is not looked at.

    Parameters
    ----------
    modules : sequence of path-like, optional
        Kernel source files (default: :func:`kernel_modules`, whose digest
        also covers ``neurocontrol/_jit.py``, the compile flags).
    cache_dir : str, optional
        Numba's cache folder (default: the ``NUMBA_CACHE_DIR`` environment
        variable; unset means the ``__pycache__`` folder next to each source).
    stamp_dir : path-like, optional
        Where the digest is kept (default: ``cache_dir``, or the package's
        ``__pycache__`` folder).

    Returns
    -------
    int
        The number of cached files removed.
    """
    if cache_dir is None:
        cache_dir = os.environ.get("NUMBA_CACHE_DIR") or None
    if modules is None:
        modules = kernel_modules()
        sources = modules + [_ROOT / "_jit.py"]        # the compile flags, in no kernel module
    else:
        modules = sources = [Path(m) for m in modules]
    if stamp_dir is None:
        stamp_dir = Path(cache_dir) if cache_dir else _ROOT / "__pycache__"
    stamp = Path(stamp_dir) / _STAMP
    try:
        digest = _sources_digest(sources)
        if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest:
            return 0
        removed = 0
        for source in modules:
            for path in _cached_files(source, cache_dir):
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:       # another process removed it first
                    pass
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        tmp.write_text(digest + "\n", encoding="ascii")
        os.replace(tmp, stamp)                  # atomic: a concurrent reader sees the old digest or the new one
        return removed
    except OSError:
        return 0


def cache_is_cold(modules=None, *, cache_dir: str | None = None) -> bool:
    """Tell whether the kernels will be compiled: no compiled code on disk, or code older than its source.

    Numba invalidates a module's cached kernels when the source file changes
    (its modification time is part of the index), so an index file older than
    the source means a recompile. A module without any index is not counted
    on its own (a run may never call its kernels); no index at all means a
    fresh install.

    Parameters
    ----------
    modules : sequence of path-like, optional
        Kernel source files (default: :func:`kernel_modules`).
    cache_dir : str, optional
        Numba's cache folder (default: the ``NUMBA_CACHE_DIR`` environment
        variable; unset means the ``__pycache__`` folder next to each source).

    Returns
    -------
    bool
        True when no kernel module has compiled code on disk, or one has stale code.
    """
    if cache_dir is None:
        cache_dir = os.environ.get("NUMBA_CACHE_DIR") or None
    any_index = False
    for source in (kernel_modules() if modules is None else [Path(m) for m in modules]):
        index = _cached_files(source, cache_dir, (".nbi",))
        if index:
            any_index = True
            if max(p.stat().st_mtime for p in index) < source.stat().st_mtime:
                return True
    return not any_index


class CompileProgress:
    """A numba compile-event listener that prints one line per compiled kernel, and a total at the end.

    Use as a context manager around the code that calls the kernels. Lines go
    to ``stream``; on a terminal each kernel overwrites the previous line.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    announce : bool, default True
        Print the "compiling kernels" notice on entry. With False it is printed
        before the first kernel compiles, if any does.
    """

    def __init__(self, stream=None, *, announce: bool = True) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.count = 0
        self.seconds = 0.0
        self._announce = announce
        self._announced = False
        self._depth = 0
        self._t0 = 0.0
        self._listener = None
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def notice(self) -> None:
        """Print the notice once: kernels are being compiled, once per install."""
        if not self._announced:
            self._announced = True
            self.stream.write("neurocontrol: compiling numba kernels (first run after install or upgrade; "
                              "later runs load them from the on-disk cache)\n")
            self.stream.flush()

    def _start(self, name: str) -> None:
        self.notice()
        if self._depth == 0:
            self._t0 = time.perf_counter()
        self._depth += 1

    def _end(self, name: str) -> None:
        self._depth = max(self._depth - 1, 0)
        self.count += 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._t0
        elapsed = self.seconds + (time.perf_counter() - self._t0 if self._depth else 0.0)
        line = f"  compiled {self.count:2d} kernels, {elapsed:5.1f} s  ({name})"
        self.stream.write(("\r" + line.ljust(78)) if self._tty else line + "\n")
        self.stream.flush()

    def __enter__(self) -> "CompileProgress":
        from numba.core import event

        progress = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                progress._start(_kernel_name(ev))

            def on_end(self, ev):
                progress._end(_kernel_name(ev))

        if self._announce:
            self.notice()
        self._listener = _Listener()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc) -> None:
        from numba.core import event

        event.unregister("numba:compile", self._listener)
        if self.count:
            end = "\n" if self._tty else ""
            self.stream.write(f"{end}neurocontrol: {self.count} kernels compiled in {self.seconds:.1f} s "
                              "and cached for later runs\n")
            self.stream.flush()


def _kernel_name(ev) -> str:
    dispatcher = ev.data.get("dispatcher")
    func = getattr(dispatcher, "py_func", None)
    return getattr(func, "__qualname__", "kernel")
