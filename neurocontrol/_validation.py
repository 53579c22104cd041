"""Small argument checks shared by every public function (not public API)."""

from __future__ import annotations

import numpy as np

from neurocontrol.exceptions import NonFiniteError, ShapeError

__all__ = ["as_float_array"]


def as_float_array(value, name: str, shape: tuple[int | None, ...] | None = None, *,
                   finite: bool = True) -> np.ndarray:
    """Coerce ``value`` to a float64 array and check its shape and finiteness.

    Parameters
    ----------
    value : array_like
        The argument to check.
    name : str
        The argument's name, used in the error message.
    shape : tuple of int or None, optional
        Required shape; ``None`` entries accept any length along that axis.
    finite : bool, default True
        Reject NaN and infinity.

    Returns
    -------
    numpy.ndarray
        A float64 array (a copy only when coercion needs one).

    Raises
    ------
    ShapeError
        If the shape does not match.
    NonFiniteError
        If ``finite`` and the array holds NaN or infinity.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"`{name}` must be a numeric array, got {type(value).__name__}: {exc}") from None
    if shape is not None:
        ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
        if not ok:
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise ShapeError(f"`{name}` must have shape {want}, got {arr.shape}.")
    if finite and not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"`{name}` must be finite, got NaN or inf in {np.array2string(arr, threshold=10)}.")
    return arr
