"""The package's one file format for a controller's state: versioned, checksummed NPZ, written atomically.

:func:`save_checkpoint` stores ``controller.get_state()`` (weights, learning
rule states, reference model, integrators, step counter, the warm-up
excitation sequence: everything that changes during an episode, so no RNG
state is needed) with a header: format name and version, package version,
controller class, user ``meta`` (JSON) and a SHA-256 over every stored array.
The file is written through :func:`neurocontrol._files.atomic_write`, so a
crash never leaves a half-written checkpoint under the final name.
:func:`neurocontrol.io.save_weights` / :func:`~neurocontrol.io.load_weights`
write and read this same format (without ``meta``).

:func:`load_checkpoint` checks all of that and restores the state into a
controller built with the same settings and ``reset`` once; the run then
continues bit-identically. It also reads the weights files of the earlier
``save_weights`` layout (format tag ``"neurocontrol-weights-1"``, no checksum:
save them again to get one).

The plant is not in the checkpoint. To continue a run, restore the env too:
``env.reset(options={"initial_state": state})`` with the true state saved in
``meta``; with sensor noise or random gusts also restore the env's generator
*after* that reset (``env.unwrapped.np_random.bit_generator.state = saved``),
because reset draws the first measurement's noise. The env's clock restarts
at 0 (time-scheduled gusts and fault windows count from the restore).

Examples
--------
>>> import os, tempfile
>>> from neurocontrol import LQRController
>>> ctrl = LQRController.from_plant()
>>> ctrl.reset([140.0, 1.0, 0.0, 0.123, 0.0], [140.0, 1.0])
>>> path = os.path.join(tempfile.mkdtemp(), "lqr.npz")
>>> _ = save_checkpoint(path, ctrl, meta={"step": 0})
>>> load_checkpoint(path, ctrl)["step"]
0
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neurocontrol._files import atomic_write
from neurocontrol.exceptions import CheckpointError, NeurocontrolError

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "CheckpointContents", "FORMAT", "FORMAT_VERSION",
           "LEGACY_WEIGHTS_FORMAT"]

#: Format name stored in every checkpoint.
FORMAT = "neurocontrol.checkpoint"
#: Version of the layout; a file of another version is refused.
FORMAT_VERSION = 1
_STATE = "state/"
_HEADER = ("__format__", "__format_version__", "__package_version__", "__controller__", "__meta__", "__checksum__",
           "__kinds__")
#: Format tag of the weights files of the earlier ``save_weights`` layout (read, never written).
LEGACY_WEIGHTS_FORMAT = "neurocontrol-weights-1"
_LEGACY_HEADER = ("__format__", "__controller__")
_WRITERS = "save_checkpoint(path, controller) or neurocontrol.io.save_weights(path, controller)"


def _package_version() -> str:
    try:
        return _dist_version("neurocontrol")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype.str).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _encode_state(state: dict) -> tuple[dict, dict]:
    """State values -> arrays, and the Python type of each scalar (restored on load)."""
    arrays, kinds = {}, {}
    for key, value in state.items():
        if isinstance(value, (bool, np.bool_)):
            kinds[key] = "bool"
        elif isinstance(value, (int, np.integer)):
            kinds[key] = "int"
        elif isinstance(value, (float, np.floating)):
            kinds[key] = "float"
        elif isinstance(value, str):
            kinds[key] = "str"
        elif isinstance(value, np.ndarray):
            kinds[key] = "array"
        else:
            raise CheckpointError(f"state entry {key!r} is a {type(value).__name__}, which a checkpoint cannot hold; "
                                  "get_state() must return arrays, numbers and strings only.")
        arr = np.asarray(value)
        if arr.dtype == object:
            raise CheckpointError(f"state entry {key!r} holds Python objects; a checkpoint stores numbers only.")
        arrays[_STATE + key] = arr
    return arrays, kinds


def _decode_value(arr: np.ndarray, kind: str):
    if kind == "array":
        return arr.copy()
    if kind == "bool":
        return bool(arr)
    if kind == "int":
        return int(arr)
    if kind == "float":
        return float(arr)
    if kind == "str":
        return str(arr)
    raise CheckpointError(f"unknown value kind {kind!r} in the checkpoint.")


def save_checkpoint(path, controller, *, meta: dict | None = None) -> Path:
    """Write ``controller.get_state()`` to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist. An existing file is replaced.
    controller : AbstractController
        Any controller with ``get_state()`` (reset at least once).
    meta : dict, optional
        JSON-serialisable extras returned by :func:`load_checkpoint` (e.g. the
        step, the plant state, the env's generator state).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CheckpointError
        If the state or ``meta`` cannot be stored, or the folder is missing.
    """
    path = Path(path)
    if not hasattr(controller, "get_state"):
        raise CheckpointError(f"`controller` must have get_state() (an AbstractController), "
                              f"got {type(controller).__name__}.")
    try:
        state = controller.get_state()
    except NeurocontrolError as exc:
        raise CheckpointError(f"cannot checkpoint {type(controller).__name__}: {exc}") from None
    arrays, kinds = _encode_state(state)
    try:
        meta_text = json.dumps(meta or {}, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"`meta` must be JSON-serialisable (numbers, strings, lists, dicts): {exc}.") from None
    header = {"__format__": np.array(FORMAT), "__format_version__": np.array(FORMAT_VERSION),
              "__package_version__": np.array(_package_version()),
              "__controller__": np.array(type(controller).__name__), "__meta__": np.array(meta_text),
              "__kinds__": np.array(json.dumps(kinds))}
    header["__checksum__"] = np.array(_checksum({**arrays, **header}))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"{path}: the folder {folder} does not exist; create it first.")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **header)
    atomic_write(path, buffer.getvalue())
    return path


def load_checkpoint(path, controller) -> dict:
    """Restore a checkpoint into ``controller``; return its ``meta``.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_checkpoint` or
        :func:`neurocontrol.io.save_weights` (also of the earlier weights layout).
    controller : AbstractController
        Built with the same settings as the saved one, and ``reset`` once
        (that builds its buffers; the checkpoint then overwrites them).

    Returns
    -------
    dict
        The ``meta`` given to :func:`save_checkpoint`, plus
        ``"package_version"`` of the writer (``"unknown"`` for a file of the
        earlier weights layout).

    Raises
    ------
    CheckpointError
        If the file is missing, not a checkpoint, truncated or corrupted
        (checksum), of another format version, saved from another controller
        class, or does not fit the controller's settings.
    """
    path = Path(path)
    contents = read_checkpoint(path)
    if contents.controller != type(controller).__name__:
        raise CheckpointError(f"{path}: the checkpoint holds a {contents.controller}, not a "
                              f"{type(controller).__name__}; build the same controller class to load it.")
    try:
        controller.set_state(contents.state)
    except NeurocontrolError as exc:
        raise CheckpointError(f"{path}: the checkpoint does not fit this controller: {exc}; build the controller "
                              "with the settings it was saved with (a file from another version of the "
                              "controller cannot be restored: save it again with that version's code).") from None
    return contents.meta


class CheckpointContents(NamedTuple):
    """What a checkpoint file holds (see :func:`read_checkpoint`)."""

    #: Class name of the controller that was saved.
    controller: str
    #: Its ``get_state()`` dict, scalars restored to Python types.
    state: dict
    #: The ``meta`` given to :func:`save_checkpoint`, plus ``"package_version"`` of the writer.
    meta: dict


def read_checkpoint(path) -> CheckpointContents:
    """Read and check a checkpoint (or weights) file without restoring it into a controller.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_checkpoint` or
        :func:`neurocontrol.io.save_weights` (also of the earlier weights layout).

    Returns
    -------
    CheckpointContents
        The controller class name, its state and the meta.

    Raises
    ------
    CheckpointError
        If the file is missing, not a checkpoint, truncated or corrupted
        (checksum) or of another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; write one with {_WRITERS}.")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zipfile.LargeZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupted file: "
                              f"{type(exc).__name__}: {exc}); write it again with {_WRITERS}.") from None
    fmt = str(data["__format__"]) if "__format__" in data else ""
    if fmt == LEGACY_WEIGHTS_FORMAT:
        state, meta = _decode_legacy_weights(path, data)
    elif fmt == FORMAT:
        state, meta = _decode(path, data)
    else:
        raise CheckpointError(f"{path}: not a neurocontrol checkpoint (format {fmt or 'missing'!r}, expected "
                              f"{FORMAT!r}); write it with {_WRITERS}.")
    return CheckpointContents(str(data["__controller__"]), state, meta)


def _decode(path: Path, data: dict) -> tuple[dict, dict]:
    """Check the header and checksum of a current-format file; return its state and meta."""
    try:
        version = int(data["__format_version__"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: the checkpoint has no valid format version; write it again with "
                              f"{_WRITERS}.") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version} is not supported (this neurocontrol "
                              f"{_package_version()} reads version {FORMAT_VERSION}); re-create the checkpoint "
                              f"with this version.")
    missing = [k for k in _HEADER if k not in data]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint header is incomplete (missing {missing}); write it again "
                              f"with {_WRITERS}.")
    data = dict(data)
    stored = str(data.pop("__checksum__"))
    if _checksum(data) != stored:
        raise CheckpointError(f"{path}: checksum mismatch: the checkpoint is corrupted; do not use it.")
    kinds = json.loads(str(data["__kinds__"]))
    state = {}
    for key, arr in data.items():
        if key.startswith(_STATE):
            name = key[len(_STATE):]
            state[name] = _decode_value(arr, kinds.get(name, "array"))
    meta = json.loads(str(data["__meta__"]))
    meta["package_version"] = str(data["__package_version__"])
    return state, meta


def _decode_legacy_weights(path: Path, data: dict) -> tuple[dict, dict]:
    """Return the state of a file of the earlier weights layout (entries under their own names, 0-d = scalar)."""
    if "__controller__" not in data:
        raise CheckpointError(f"{path}: the weights file names no controller class (missing `__controller__`); "
                              f"write it again with {_WRITERS}.")
    state = {k: (v if v.ndim else v.item()) for k, v in data.items() if k not in _LEGACY_HEADER}
    return state, {"package_version": "unknown"}
