"""Named errors raised at the public boundaries of neurocontrol.

Every error subclasses a built-in exception so that callers who do not know
this module can still catch it (``except ValueError``). Messages say what was
wrong and how to fix it, e.g. "`x0` must have shape (5,), got (3,)."
"""

from __future__ import annotations

__all__ = [
    "MainGuardError",
    "WorkerError",
    "NeurocontrolError",
    "ShapeError",
    "NonFiniteError",
    "ParameterError",
    "OutOfRangeError",
    "TrimError",
    "DivergenceError",
    "ScenarioError",
    "CheckpointError",
]


class NeurocontrolError(Exception):
    """Base class of every error raised by neurocontrol and its plants."""


class ShapeError(NeurocontrolError, ValueError):
    """An array argument has the wrong shape."""


class NonFiniteError(NeurocontrolError, ValueError):
    """An argument or measurement contains NaN or infinity."""


class ParameterError(NeurocontrolError, ValueError):
    """A configuration or parameter value is invalid."""


class OutOfRangeError(NeurocontrolError, ValueError):
    """A value lies outside its documented range."""


class TrimError(NeurocontrolError, ValueError):
    """No equilibrium exists for the requested operating point."""


class DivergenceError(NeurocontrolError, FloatingPointError):
    """Learning or simulation diverged (non-finite or exploding values)."""


class ScenarioError(NeurocontrolError, ValueError):
    """A scenario file or dictionary is malformed."""


class CheckpointError(NeurocontrolError, ValueError):
    """A checkpoint file is corrupted or of an incompatible version."""


class MainGuardError(NeurocontrolError, RuntimeError):
    """A sweep with worker processes was started from a script's top level without a main guard."""


class WorkerError(NeurocontrolError, RuntimeError):
    """A worker process of a sweep exited before it could run its jobs."""
