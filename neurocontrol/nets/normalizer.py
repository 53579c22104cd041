"""The affine map between a signal's physical range and the activation's output range (:class:`Normalizer`).

Imports only the package's validators; the networks and controllers use it
to put plant signals where the activation can reach them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError, ShapeError

__all__ = ["Normalizer"]


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Normalizer:
    """Affine map from physical ranges ``[low, high]`` onto ``target`` and back.

    ``normalize(x) = scale * x + offset`` with
    ``scale = (target[1] - target[0]) / (high - low)`` and
    ``offset = target[0] - scale * low``, elementwise over the last axis.

    Parameters
    ----------
    low, high : array_like, shape (n,)
        Physical range of each signal (units of the signal), ``low < high``.
    target : tuple of float, default (-0.9, 0.9)
        Interval the range maps to; keep it strictly inside the activation's
        output range (tanh: (-1, 1)) so targets stay reachable.

    Attributes
    ----------
    scale, offset : numpy.ndarray, shape (n,)
        Read-only coefficients of the map. Instances compare by identity.

    Examples
    --------
    >>> nz = Normalizer(low=[0.0, -2.0], high=[10.0, 2.0])
    >>> nz.normalize([2.5, 0.0])
    array([-0.45,  0.  ])
    >>> nz.denormalize(nz.normalize([[1.0, 0.5]]))
    array([[1. , 0.5]])
    """

    low: np.ndarray
    high: np.ndarray
    target: tuple[float, float] = (-0.9, 0.9)

    def __post_init__(self):
        low = as_float_array(self.low, "low", (None,)).copy()
        high = as_float_array(self.high, "high", (low.shape[0],)).copy()
        if low.shape[0] == 0:
            raise ShapeError("`low` must have at least one entry, got shape (0,).")
        if np.any(high <= low):
            raise ParameterError(f"`high` must exceed `low` in every entry, got low={low.tolist()}, "
                                 f"high={high.tolist()}.")
        tgt = as_float_array(self.target, "target", (2,))
        if not tgt[0] < tgt[1]:
            raise ParameterError(f"`target` must be an interval (a, b) with a < b, got {tuple(tgt.tolist())}.")
        low.setflags(write=False)
        high.setflags(write=False)
        scale = (tgt[1] - tgt[0]) / (high - low)
        offset = tgt[0] - scale * low
        scale.setflags(write=False)
        offset.setflags(write=False)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "target", (float(tgt[0]), float(tgt[1])))
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "offset", offset)

    @property
    def size(self) -> int:
        """Number n of signals mapped."""
        return self.low.shape[0]

    def _check(self, x, name):
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self.size:
            raise ShapeError(f"`{name}` must have last axis of length {self.size}, got shape {arr.shape}.")
        return as_float_array(arr, name)

    def normalize(self, x) -> np.ndarray:
        """Map physical units to normalised ones, shape (..., n) -> (..., n).

        Parameters
        ----------
        x : array_like, shape (..., n)
            Signals in physical units.
        """
        return self._check(x, "x") * self.scale + self.offset

    def denormalize(self, v) -> np.ndarray:
        """Map normalised units back to physical ones, shape (..., n) -> (..., n).

        Parameters
        ----------
        v : array_like, shape (..., n)
            Normalised signals.
        """
        return (self._check(v, "v") - self.offset) / self.scale

    def normalize_gain(self, dx) -> np.ndarray:
        """Scale a physical difference without the offset: ``scale * dx``.

        Parameters
        ----------
        dx : array_like, shape (..., n)
            Differences in physical units.
        """
        return self._check(dx, "dx") * self.scale
