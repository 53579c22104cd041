"""Controller weights to and from NPZ files.

:func:`save_weights` writes everything a controller learned
(``controller.get_state()``: for :class:`~neurocontrol.controllers.adaptive.AdaptiveController`
the identifier and imitator weights, the learning rules' covariances, the
reference model and the warm-up controller's integrators) to one ``.npz``
file; :func:`load_weights` restores it into a controller built with the same
settings, which then continues bit-identically.

Examples
--------
>>> import tempfile, os
>>> from neurocontrol.controllers.baselines import PIDController
>>> from plants.helicopter import trim
>>> a = PIDController.from_plant(); a.reset(trim(140.0).x, [140.0, 1.0])
>>> _ = a.step(trim(140.0).x + 0.1, [140.0, 1.0])
>>> path = os.path.join(tempfile.mkdtemp(), "pid.npz")
>>> save_weights(path, a)
>>> b = PIDController.from_plant(); b.reset(trim(140.0).x, [140.0, 1.0])
>>> load_weights(path, b)
>>> bool((a.get_state()["integrators"] == b.get_state()["integrators"]).all())
True
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from neurocontrol.exceptions import CheckpointError, ParameterError

__all__ = ["save_weights", "load_weights", "WEIGHTS_FORMAT"]

#: Format tag stored in every weights file.
WEIGHTS_FORMAT = "neurocontrol-weights-1"
_META = ("__format__", "__controller__")


def save_weights(path, controller) -> Path:
    """Write ``controller.get_state()`` to an NPZ file (atomically: a temporary file, then a rename).

    Parameters
    ----------
    path : str or os.PathLike
        Target file; ``.npz`` is appended when missing (as ``numpy.savez`` does).
    controller : AbstractController
        A controller that has been reset (and has learned something).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ParameterError
        If the controller has no state yet (reset it first).
    """
    state = controller.get_state()
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    p.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in state.items()}
    arrays["__format__"] = np.array(WEIGHTS_FORMAT)
    arrays["__controller__"] = np.array(type(controller).__name__)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, p)
    return p


def load_weights(path, controller) -> None:
    """Restore a file written by :func:`save_weights` into ``controller`` (same class and settings, already reset).

    Parameters
    ----------
    path : str or os.PathLike
    controller : AbstractController
        Built with the same settings as the saved one and reset once
        (``controller.reset(observation, reference)``) so that its buffers exist.

    Raises
    ------
    CheckpointError
        If the file is missing, not a weights file, from another controller
        class, or does not fit the controller's settings.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such weights file; write one with save_weights(path, controller).") from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{p}: not a weights file written by save_weights ({exc}).") from None
    fmt = str(files.get("__format__", ""))
    if fmt != WEIGHTS_FORMAT:
        raise CheckpointError(f"{p}: not a neurocontrol weights file (format {fmt or 'missing'!r}, expected "
                              f"{WEIGHTS_FORMAT!r}); write it with save_weights.")
    saved_cls = str(files["__controller__"])
    if saved_cls != type(controller).__name__:
        raise CheckpointError(f"{p}: holds the weights of a {saved_cls}, cannot load them into a "
                              f"{type(controller).__name__}.")
    state = {}
    for k, v in files.items():
        if k in _META:
            continue
        state[k] = v if v.ndim else v.item()
    try:
        controller.set_state(state)
    except ParameterError as exc:
        raise CheckpointError(f"{p}: does not fit this controller: {exc}") from None
