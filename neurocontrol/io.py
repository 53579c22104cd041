"""Controller weights to and from files, in the package's one checkpoint format.

:func:`save_weights` writes everything a controller learned
(``controller.get_state()``: for :class:`~neurocontrol.controllers.adaptive.AdaptiveController`
the identifier and imitator weights, the learning rules' covariances, the
reference model and the warm-up controller's integrators) to one ``.npz``
file; :func:`load_weights` restores it into a controller built with the same
settings, which then continues bit-identically. Both are
:func:`neurocontrol.checkpoint.save_checkpoint` / :func:`~neurocontrol.checkpoint.load_checkpoint`
(versioned, checksummed, atomic) without ``meta``, plus path conveniences;
files of the earlier weights layout still load.

Examples
--------
>>> import tempfile, os
>>> from neurocontrol import PIDController
>>> y = [140.0, 1.0, 0.0, 0.12, 0.0]
>>> a = PIDController.from_plant(); a.reset(y, [140.0, 1.0])
>>> _ = a.step([140.1, 1.1, 0.0, 0.12, 0.0], [140.0, 1.0])
>>> path = os.path.join(tempfile.mkdtemp(), "pid.npz")
>>> _ = save_weights(path, a)
>>> b = PIDController.from_plant(); b.reset(y, [140.0, 1.0])
>>> load_weights(path, b)
>>> bool((a.get_state()["integrators"] == b.get_state()["integrators"]).all())
True
"""

from __future__ import annotations

from pathlib import Path

from neurocontrol.checkpoint import FORMAT, load_checkpoint, save_checkpoint

__all__ = ["save_weights", "load_weights", "WEIGHTS_FORMAT"]

#: Format tag stored in every weights file (the checkpoint format).
WEIGHTS_FORMAT = FORMAT


def save_weights(path, controller) -> Path:
    """Write ``controller.get_state()`` to an NPZ checkpoint file, atomically, creating its folder.

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
    CheckpointError
        If the controller has no state yet (reset it first) or the state cannot be stored.
    """
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    p.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(p, controller)


def load_weights(path, controller) -> None:
    """Restore a file written by :func:`save_weights` or ``save_checkpoint`` into ``controller``.

    Parameters
    ----------
    path : str or os.PathLike
        The weights (checkpoint) file.
    controller : AbstractController
        Built with the same settings as the saved one and reset once
        (``controller.reset(observation, reference)``) so that its buffers exist.

    Raises
    ------
    CheckpointError
        If the file is missing, not a weights file, corrupted, from another
        controller class, or does not fit the controller's settings.
    """
    load_checkpoint(path, controller)
