"""Every argument check of the package, once: arrays, real numbers, integers (not public API).

Public functions and config classes call these at their boundary; kernels
check nothing. Each check raises a named error (:mod:`neurocontrol.exceptions`)
whose message names the argument, says what was expected and shows what came.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError

__all__ = ["as_float_array", "as_seed_sequence", "check_real", "check_positive", "check_int", "check_indices",
           "env_input_limits", "env_dt", "env_setpoint", "check_memory", "MEMORY_SHARE", "check_substeps",
           "MAX_SUBSTEPS"]

#: Share of the machine's physical memory the arrays of one object may take; settings that size them beyond it are
#: refused with a named error rather than left to fail in an allocation (or to the system's out-of-memory killer).
MEMORY_SHARE = 0.5

#: Most integration sub-steps a plant takes per control period: a sub-step of dt / 10,000 resolves whatever the
#: control period can; a larger number is a typo that would make every control step take minutes.
MAX_SUBSTEPS = 10_000


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


def as_seed_sequence(seed) -> np.random.SeedSequence:
    """Return ``seed`` if it is a :class:`numpy.random.SeedSequence`, else ``SeedSequence(seed)`` (its children spawn).

    Examples
    --------
    >>> as_seed_sequence(3).entropy, as_seed_sequence(np.random.SeedSequence(3)).entropy
    (3, 3)
    """
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_real(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
               high_open: bool = False, unit: str = "", allow_inf: bool = False) -> float:
    """Check a real scalar in an interval and return it as a float.

    Parameters
    ----------
    value : object
        The argument (``bool`` and non-numbers are rejected).
    name : str
        The argument's name, used in the error message.
    low, high : float, optional
        Bounds of the allowed interval (None: unbounded on that side).
    low_open, high_open : bool, default False
        Exclude the bound itself.
    unit : str, default ""
        Unit shown in the message, e.g. ``"s"``.
    allow_inf : bool, default False
        Accept ``inf`` (never NaN).

    Returns
    -------
    float

    Raises
    ------
    ParameterError
        With a message like "`dt` must be a finite number > 0 s, got -1."
    """
    ok = _is_real(value)
    v = float(value) if ok else math.nan
    if ok and (math.isnan(v) or (math.isinf(v) and not allow_inf)):
        ok = False
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {high:g}")
        what = "a number" if allow_inf else "a finite number"
        rng = (" " + " and ".join(bounds)) if bounds else ""
        raise ParameterError(f"`{name}` must be {what}{rng}{' ' + unit if unit else ''}, got {value!r}.")
    return v


def check_positive(value, name: str, *, unit: str = "", allow_zero: bool = False) -> float:
    """Check a finite number > 0 (>= 0 with ``allow_zero``); see :func:`check_real`.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        The argument's name.
    unit : str, default ""
        Unit shown in the message.
    allow_zero : bool, default False
        Accept 0.

    Returns
    -------
    float
    """
    return check_real(value, name, low=0.0, low_open=not allow_zero, unit=unit)


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Check an integer (not a bool) in ``[low, high]`` and return it as an int.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        The argument's name.
    low, high : int, optional
        Inclusive bounds (None: unbounded).

    Returns
    -------
    int

    Raises
    ------
    ParameterError
        With a message like "`trials` must be an integer >= 1, got 0."
    """
    ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)
    if ok and low is not None and value < low:
        ok = False
    if ok and high is not None and value > high:
        ok = False
    if not ok:
        bounds = [b for b in (f">= {low}" if low is not None else "", f"<= {high}" if high is not None else "") if b]
        raise ParameterError(f"`{name}` must be an integer{' ' + ' and '.join(bounds) if bounds else ''}, "
                             f"got {value!r}.")
    return int(value)


def check_indices(value, name: str, n: int, low: int, high: int) -> tuple[int, ...]:
    """Check ``n`` integers in ``[low, high)`` and return them as a tuple of ints.

    Raises
    ------
    ParameterError
        With a message like "`rate_indices` must give 2 integers in [-1, 5), got (0, 7)."
    """
    arr = np.asarray(value)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < low) or np.any(arr >= high):
        raise ParameterError(f"`{name}` must give {n} integers in [{low}, {high}), got {value!r}.")
    return tuple(int(i) for i in arr)


# ---------------------------------------------------------------- env facts shared by controller builders


def env_input_limits(env) -> np.ndarray:
    """Return the actuator limits of an env's action space as an ``(m, 2)`` array of (low, high).

    Parameters
    ----------
    env : gymnasium.Env
        An env with a Box action space.

    Returns
    -------
    numpy.ndarray
    """
    space = env.action_space
    return np.column_stack([np.asarray(space.low, dtype=float), np.asarray(space.high, dtype=float)])


def env_dt(env, who: str) -> float:
    """Return the control period ``env.unwrapped.dt`` in s.

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
    who : str
        What needs it, named in the error message.

    Returns
    -------
    float

    Raises
    ------
    ParameterError
        If the env has no positive ``dt``.
    """
    dt = float(getattr(env.unwrapped, "dt", 0.0) or 0.0)
    if dt <= 0:
        raise ParameterError(f"{who} needs the env's control period `env.unwrapped.dt` in s; "
                             f"{type(env.unwrapped).__name__} has none.")
    return dt


def env_setpoint(env, output_indices) -> np.ndarray | None:
    """Return the set-point the env declares for the controlled outputs, or None when it declares none.

    An env declares ``env.unwrapped.setpoint`` either with one value per controlled output (the shipped plants) or
    with one value per observation (:class:`plants.iosys_env.IOSystemEnv`'s ``setpoint``, which also sets its
    reward); the controlled entries are taken from the latter.

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
    output_indices : sequence of int
        The controlled outputs within the observation.

    Returns
    -------
    numpy.ndarray or None
        One value per controlled output; None when the env declares no set-point or one of another length.
    """
    base = env.unwrapped
    sp = getattr(base, "setpoint", None)
    if sp is None:
        return None
    sp = np.asarray(sp, dtype=np.float64).ravel()
    idx = [int(i) for i in output_indices]
    if sp.shape == (len(idx),):
        return sp
    n_obs = len(getattr(base, "observation_names", ()) or ()) or int(np.prod(base.observation_space.shape))
    if sp.shape == (n_obs,) and all(0 <= i < n_obs for i in idx):
        return sp[idx]
    return None


def _physical_memory() -> float:
    """Return the machine's physical memory in bytes (8 GiB where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8.0 * 2 ** 30


def check_memory(n_floats: float, what: str, fix: str) -> None:
    """Raise ParameterError when ``n_floats`` float64 numbers exceed :data:`MEMORY_SHARE` of the physical memory.

    Parameters
    ----------
    n_floats : float
        How many float64 numbers the object's arrays hold (an estimate of the largest ones).
    what : str
        What needs them, as the message's subject (e.g. "the identifier network (5 outputs, 2 inputs, 8 hidden units)").
    fix : str
        Which settings size them, and what to do.
    """
    need, have = 8.0 * float(n_floats), _physical_memory()
    if not need <= MEMORY_SHARE * have:      # also refuses a size that overflowed to inf or nan
        raise ParameterError(f"{what} would need about {need / 2 ** 30:.3g} GiB of memory, more than "
                             f"{MEMORY_SHARE:.0%} of this machine's {have / 2 ** 30:.3g} GiB; {fix}")


def check_substeps(value) -> int:
    """Check a plant's integration sub-steps per control period: an integer in ``[1, MAX_SUBSTEPS]``."""
    return check_int(value, "substeps", low=1, high=MAX_SUBSTEPS)
