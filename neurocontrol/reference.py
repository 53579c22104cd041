"""Reference signals and identification excitation: set-point signals r(t) and input sequences for a plant.

Two kinds of objects live here, each usable on its own (the reference
models that smooth a set-point into a desired response live in
:mod:`neurocontrol.reference_model`):

* **Signals** map time in s to a set-point in the output's physical unit,
  vectorised over a time array: :class:`Constant`, :class:`Step`,
  :class:`Staircase`, :class:`Ramp`, :class:`Sine`, and :class:`MultiSignal`,
  which stacks one scalar signal per controlled output into shape (T, p).
* **Excitation generators** for plant identification return arrays of shape
  (n_steps, channels): :func:`aprbs`, :func:`multisine`, :func:`chirp`.
  Every random draw comes from an explicit ``numpy.random.Generator`` or int
  seed.

Examples
--------
>>> import numpy as np
>>> from neurocontrol.reference import MultiSignal, Step, Sine
>>> from neurocontrol.reference_model import SecondOrderReferenceModel
>>> r = MultiSignal(signals=(Step(t0=1.0, before=0.0, after=0.3),
...                          Sine(amplitude=0.1, frequency_hz=0.2)))
>>> r(np.array([0.0, 2.0])).shape
(2, 2)
>>> model = SecondOrderReferenceModel(bandwidth_rad_s=[2.0, 4.0], damping=1.0, dt=0.01)
>>> model.reset([0.0, 0.0])
>>> value, rate = model.step(r(1.0))
>>> value.shape
(2,)
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive, check_real
from neurocontrol.exceptions import ParameterError, ShapeError

__all__ = [
    "AbstractSignal",
    "Constant",
    "Step",
    "Staircase",
    "Ramp",
    "Sine",
    "MultiSignal",
    "aprbs",
    "multisine",
    "chirp",
]


# --------------------------------------------------------------------------- helpers


def _scalar(value, name: str):
    """Return ``value`` unwrapped from a 0-d array; raise :class:`ShapeError` for arrays with dimensions."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if np.ndim(value) != 0:
        raise ShapeError(f"`{name}` must be a scalar, got shape {np.shape(value)}.")
    return value


def _finite_scalar(value, name: str, **bounds) -> float:
    """Return a finite real scalar as float (:func:`~neurocontrol._validation.check_real` with ``bounds``)."""
    return check_real(_scalar(value, name), name, **bounds)


def _positive_scalar(value, name: str, unit: str) -> float:
    """Return a finite scalar > 0 in ``unit`` as float (:func:`~neurocontrol._validation.check_positive`)."""
    return check_positive(_scalar(value, name), name, unit=unit)


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ParameterError(
        f"`rng` must be a numpy.random.Generator or an int seed, got {rng!r}; "
        "pass e.g. rng=np.random.default_rng(0) so the signal is reproducible.")


def _n_steps(n_steps) -> int:
    return check_int(n_steps, "n_steps", low=1)


def _channels(n_channels, **arrays) -> tuple[int, dict[str, np.ndarray]]:
    """Broadcast scalar-or-(c,) arguments to a common channel count."""
    coerced = {}
    sizes = set()
    for name, value in arrays.items():
        arr = as_float_array(value, name)
        if arr.ndim > 1:
            raise ShapeError(f"`{name}` must be a scalar or have shape (channels,), got {arr.shape}.")
        coerced[name] = arr
        if arr.ndim == 1:
            sizes.add(arr.shape[0])
    if n_channels is not None:
        sizes.add(check_int(n_channels, "n_channels", low=1))
    if len(sizes) > 1:
        detail = ", ".join(f"{k}: {v.shape}" for k, v in coerced.items())
        raise ShapeError(f"per-channel arguments must agree on the channel count, got {detail}"
                         + (f" and n_channels={n_channels}" if n_channels is not None else "")
                         + "; give scalars or arrays of one length.")
    c = sizes.pop() if sizes else 1
    return c, {k: np.broadcast_to(v, (c,)).astype(np.float64) for k, v in coerced.items()}


def _per_output(value, name: str, unit: str, *, allow_none: bool = False) -> np.ndarray | None:
    """Return a positive scalar or (p,) parameter as (1,) or (p,); for limits, ``None`` or inf mean 'no limit'."""
    if value is None and allow_none:
        return None
    arr = as_float_array(value, name, finite=not allow_none)
    if np.any(np.isnan(arr)):
        raise ParameterError(f"`{name}` must not be NaN; use None or inf for 'no limit', got {arr.tolist()}.")
    if arr.ndim > 1:
        raise ShapeError(f"`{name}` must be a scalar or have shape (p,), got {arr.shape}.")
    if arr.size == 0:
        raise ShapeError(f"`{name}` must be a scalar or have shape (p,) with p >= 1, got {arr.shape}.")
    if np.any(arr <= 0):
        raise ParameterError(f"`{name}` must be positive (in {unit}) for every output, got {arr.tolist()}.")
    return np.atleast_1d(arr)


def _broadcast_outputs(params: dict[str, np.ndarray | None]) -> tuple[int, dict[str, np.ndarray]]:
    """Broadcast (1,) or (p,) per-output parameters to a common p (``None`` becomes inf: no limit)."""
    sizes = {v.shape[0] for v in params.values() if v is not None and v.shape[0] != 1}
    if len(sizes) > 1:
        detail = ", ".join(f"{k}: {v.shape}" for k, v in params.items() if v is not None)
        raise ShapeError(f"per-output parameters must have one entry per output or be scalars, got {detail}.")
    p = sizes.pop() if sizes else 1
    out = {}
    for k, v in params.items():
        out[k] = np.full(p, np.inf) if v is None else np.broadcast_to(v, (p,)).astype(np.float64)
        out[k].setflags(write=False)
    return p, out


# --------------------------------------------------------------------------- signals


class AbstractSignal(abc.ABC):
    """A scalar set-point signal ``r(t)``: time in s to a value in the output's unit.

    Calling the signal evaluates it: a scalar time gives a float, an array of
    times gives an array of the same shape. Subclasses implement the one hook
    :meth:`_evaluate`, which receives a validated float64 array.
    """

    def __call__(self, t):
        """Evaluate the signal at time(s) ``t``.

        Parameters
        ----------
        t : float or array_like
            Time(s) in s, any shape.

        Returns
        -------
        float or numpy.ndarray
            A float for a scalar ``t``, else an array of the shape of ``t``.
        """
        arr = as_float_array(t, "t")
        out = np.asarray(self._evaluate(arr), dtype=np.float64)
        return float(out) if arr.ndim == 0 else out

    @abc.abstractmethod
    def _evaluate(self, t: np.ndarray) -> np.ndarray:
        """Return the signal at the validated times ``t`` (same shape)."""


@dataclass(frozen=True, kw_only=True)
class Constant(AbstractSignal):
    """A constant set-point.

    Parameters
    ----------
    value : float
        The set-point, in the output's unit.

    Examples
    --------
    >>> Constant(value=0.5)(3.0)
    0.5
    """

    value: float

    def __post_init__(self):
        object.__setattr__(self, "value", _finite_scalar(self.value, "value"))

    def _evaluate(self, t):
        return np.full_like(t, self.value)


@dataclass(frozen=True, kw_only=True)
class Step(AbstractSignal):
    """A single set-point step: ``before`` for ``t < t0``, ``after`` from ``t0`` on.

    Parameters
    ----------
    t0 : float
        Step time in s.
    before, after : float
        Set-point before and after the step, in the output's unit.

    Examples
    --------
    >>> Step(t0=1.0, before=0.0, after=2.0)([0.5, 1.0, 1.5]).tolist()
    [0.0, 2.0, 2.0]
    """

    t0: float
    before: float = 0.0
    after: float

    def __post_init__(self):
        for name in ("t0", "before", "after"):
            object.__setattr__(self, name, _finite_scalar(getattr(self, name), name))

    def _evaluate(self, t):
        return np.where(t < self.t0, self.before, self.after)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """Quintic smoothstep 6x^5 - 15x^4 + 10x^3 on [0, 1], clipped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


@dataclass(frozen=True, kw_only=True)
class Staircase(AbstractSignal):
    """A piecewise-constant set-point, optionally with smooth transitions.

    Parameters
    ----------
    times : array_like, shape (k,)
        Strictly increasing switching times in s. Level ``i`` holds from
        ``times[i]`` until ``times[i+1]``; before ``times[0]`` the signal is
        ``levels[0]``.
    levels : array_like, shape (k,)
        Set-points, in the output's unit.
    smoothing_time : float, default 0.0
        Duration in s of each transition. ``0`` gives jumps; a positive value
        replaces each jump at ``times[i]`` by a quintic smoothstep that starts
        at ``times[i]`` and ends ``smoothing_time`` later, so the reference has
        continuous rate and acceleration (peak rate ``15/8 * jump /
        smoothing_time``).

    Examples
    --------
    >>> s = Staircase(times=[0.0, 2.0, 4.0], levels=[0.0, 1.0, 0.5])
    >>> s([1.0, 3.0, 5.0]).tolist()
    [0.0, 1.0, 0.5]
    >>> smooth = Staircase(times=[0.0, 2.0], levels=[0.0, 1.0], smoothing_time=1.0)
    >>> round(smooth(2.5), 6)
    0.5
    """

    times: tuple[float, ...]
    levels: tuple[float, ...]
    smoothing_time: float = 0.0

    def __post_init__(self):
        times = as_float_array(self.times, "times", (None,))
        levels = as_float_array(self.levels, "levels", (None,))
        if times.size == 0:
            raise ShapeError("`times` must hold at least one switching time, got an empty array.")
        if levels.shape != times.shape:
            raise ShapeError(f"`levels` must have shape {times.shape} like `times` (one level per switching time), "
                             f"got {levels.shape}.")
        if np.any(np.diff(times) <= 0):
            raise ParameterError(f"`times` must be strictly increasing, got {times.tolist()}.")
        smoothing = _finite_scalar(self.smoothing_time, "smoothing_time", low=0.0, unit="s")
        object.__setattr__(self, "times", tuple(times.tolist()))
        object.__setattr__(self, "levels", tuple(levels.tolist()))
        object.__setattr__(self, "smoothing_time", smoothing)

    def _evaluate(self, t):
        times = np.asarray(self.times[1:])
        jumps = np.diff(np.asarray(self.levels))
        if jumps.size == 0:
            return np.full_like(t, self.levels[0])
        since = t[..., None] - times
        if self.smoothing_time > 0:
            shape = _smoothstep(since / self.smoothing_time)
        else:
            shape = (since >= 0).astype(np.float64)
        return self.levels[0] + shape @ jumps


@dataclass(frozen=True, kw_only=True)
class Ramp(AbstractSignal):
    """A ramp: ``initial`` until ``t0``, then rising at ``slope`` until ``t1``, then held.

    Parameters
    ----------
    slope : float
        Rate of change in output unit per s.
    t0 : float, default 0.0
        Start of the ramp in s.
    initial : float, default 0.0
        Value before ``t0``, in the output's unit.
    t1 : float, default inf
        End of the ramp in s (``t1 > t0``); the value is held afterwards.

    Examples
    --------
    >>> Ramp(slope=0.5, t0=1.0, t1=3.0)([0.0, 2.0, 10.0]).tolist()
    [0.0, 0.5, 1.0]
    """

    slope: float
    t0: float = 0.0
    initial: float = 0.0
    t1: float = math.inf

    def __post_init__(self):
        for name in ("slope", "t0", "initial"):
            object.__setattr__(self, name, _finite_scalar(getattr(self, name), name))
        t1 = _finite_scalar(self.t1, "t1", allow_inf=True)
        if not t1 > self.t0:
            raise ParameterError(f"`t1` must be later than `t0` = {self.t0} s (or inf for an endless ramp), "
                                 f"got {t1!r}.")
        object.__setattr__(self, "t1", t1)

    def _evaluate(self, t):
        return self.initial + self.slope * (np.clip(t, self.t0, self.t1) - self.t0)


@dataclass(frozen=True, kw_only=True)
class Sine(AbstractSignal):
    """A sinusoid ``offset + amplitude * sin(2 pi frequency_hz t + phase)``.

    Parameters
    ----------
    amplitude : float
        Amplitude in the output's unit.
    frequency_hz : float
        Frequency in Hz (>= 0).
    phase : float, default 0.0
        Phase in rad.
    offset : float, default 0.0
        Mean value in the output's unit.

    Examples
    --------
    >>> round(Sine(amplitude=2.0, frequency_hz=0.25, offset=1.0)(1.0), 12)
    3.0
    """

    amplitude: float
    frequency_hz: float
    phase: float = 0.0
    offset: float = 0.0

    def __post_init__(self):
        for name in ("amplitude", "phase", "offset"):
            object.__setattr__(self, name, _finite_scalar(getattr(self, name), name))
        object.__setattr__(self, "frequency_hz", _finite_scalar(self.frequency_hz, "frequency_hz", low=0.0, unit="Hz"))

    def _evaluate(self, t):
        return self.offset + self.amplitude * np.sin(2.0 * np.pi * self.frequency_hz * t + self.phase)


@dataclass(frozen=True, kw_only=True)
class MultiSignal:
    """One scalar signal per controlled output, evaluated together.

    Parameters
    ----------
    signals : sequence of AbstractSignal, length p
        ``signals[i]`` is the set-point of output ``i``.

    Examples
    --------
    >>> r = MultiSignal(signals=(Constant(value=1.0), Ramp(slope=2.0)))
    >>> r(0.5).tolist()
    [1.0, 1.0]
    >>> r([0.0, 1.0]).tolist()
    [[1.0, 0.0], [1.0, 2.0]]
    """

    signals: tuple[AbstractSignal, ...]

    def __post_init__(self):
        try:
            signals = tuple(self.signals)
        except TypeError:
            raise ParameterError(f"`signals` must be a sequence of signals (one per output), "
                                 f"got {self.signals!r}.") from None
        if not signals:
            raise ParameterError("`signals` must hold one signal per controlled output, got none.")
        for i, s in enumerate(signals):
            if not isinstance(s, AbstractSignal):
                raise ParameterError(f"`signals[{i}]` must be a signal such as Step or Sine, got {type(s).__name__}.")
        object.__setattr__(self, "signals", signals)

    @property
    def n_outputs(self) -> int:
        """Number of outputs p."""
        return len(self.signals)

    def __call__(self, t) -> np.ndarray:
        """Evaluate every output's set-point.

        Parameters
        ----------
        t : float or array_like, shape (T,)
            Time(s) in s.

        Returns
        -------
        numpy.ndarray
            Shape (p,) for a scalar ``t``, (T, p) for an array.
        """
        arr = as_float_array(t, "t")
        if arr.ndim > 1:
            raise ShapeError(f"`t` must be a scalar or have shape (T,), got {arr.shape}.")
        return np.stack([np.asarray(s(arr), dtype=np.float64) for s in self.signals], axis=-1)


# --------------------------------------------------------------------------- excitation


def aprbs(n_steps: int, *, low, high, min_hold: int, max_hold: int, rng, n_channels: int | None = None) -> np.ndarray:
    """Amplitude-modulated pseudo-random binary sequence (APRBS).

    Each channel holds a level drawn uniformly from ``[low, high]`` for a
    number of steps drawn uniformly from ``{min_hold, ..., max_hold}``, then
    draws a new level and hold time, independently of the other channels.

    Parameters
    ----------
    n_steps : int
        Number of samples.
    low, high : float or array_like, shape (channels,)
        Amplitude range per channel, in the input's unit (``low < high``).
    min_hold, max_hold : int
        Hold-time range in samples (``1 <= min_hold <= max_hold``). Choose
        ``min_hold * dt`` near the plant's fastest time constant of interest
        and ``max_hold * dt`` near its settling time.
    rng : numpy.random.Generator or int
        Source of randomness (an int is used as a seed).
    n_channels : int, optional
        Number of channels when ``low`` and ``high`` are scalars.

    Returns
    -------
    numpy.ndarray, shape (n_steps, channels)

    Notes
    -----
    Nelles, *Nonlinear System Identification*, Springer 2001, sec. 19.7: an
    APRBS excites a nonlinear plant over its whole amplitude range, unlike a
    binary PRBS.

    Examples
    --------
    >>> u = aprbs(500, low=[-1.0, 0.0], high=[1.0, 5.0], min_hold=5, max_hold=20, rng=0)
    >>> u.shape
    (500, 2)
    >>> bool(u[:, 1].min() >= 0.0 and u[:, 1].max() <= 5.0)
    True
    """
    n = _n_steps(n_steps)
    c, a = _channels(n_channels, low=low, high=high)
    if np.any(a["low"] >= a["high"]):
        raise ParameterError(f"`low` must be below `high` in every channel, got low={a['low'].tolist()}, "
                             f"high={a['high'].tolist()}.")
    min_hold = check_int(min_hold, "min_hold", low=1)
    max_hold = check_int(max_hold, "max_hold", low=1)
    if max_hold < min_hold:
        raise ParameterError(f"`max_hold` must be >= `min_hold` = {min_hold}, got {max_hold}.")
    gen = _as_generator(rng)
    n_seg = -(-n // int(min_hold))
    holds = gen.integers(int(min_hold), int(max_hold) + 1, size=(n_seg, c))
    levels = gen.uniform(a["low"], a["high"], size=(n_seg, c))
    out = np.empty((n, c))
    for j in range(c):
        seg = np.repeat(np.arange(n_seg), holds[:, j])[:n]
        out[:, j] = levels[seg, j]
    return out


def multisine(n_steps: int, *, dt: float, amplitude, f_min: float, f_max: float, n_freqs: int,
              rng=None, schroeder: bool = False, offset=0.0) -> np.ndarray:
    """Return a sum of ``n_freqs`` equal-amplitude cosines, scaled to a given peak.

    Parameters
    ----------
    n_steps : int
        Number of samples.
    dt : float
        Sample period in s.
    amplitude : float or array_like, shape (channels,)
        Peak deviation from ``offset`` per channel, in the input's unit: each
        channel is scaled so that ``max |u - offset| == amplitude``.
    f_min, f_max : float
        Lowest and highest frequency in Hz, ``0 < f_min <= f_max < 1 / (2 dt)``.
    n_freqs : int
        Number of frequencies, spaced linearly from ``f_min`` to ``f_max``.
    rng : numpy.random.Generator or int, optional
        Source of the random phases (independent per channel and frequency).
        Required unless ``schroeder`` is true.
    schroeder : bool, default False
        Use Schroeder phases ``phi_k = -pi k (k - 1) / n_freqs`` instead of
        random ones: a low crest factor, deterministic, and the same in every
        channel (use random phases to decorrelate MIMO channels).
    offset : float or array_like, shape (channels,), default 0.0
        Mean value per channel.

    Returns
    -------
    numpy.ndarray, shape (n_steps, channels)

    Notes
    -----
    Schroeder, "Synthesis of low-peak-factor signals and binary sequences
    with low autocorrelation", IEEE Trans. Inf. Theory 16(1), 1970.

    Examples
    --------
    >>> u = multisine(1000, dt=0.01, amplitude=0.5, f_min=0.1, f_max=5.0, n_freqs=20, rng=1)
    >>> u.shape, round(float(abs(u).max()), 12)
    ((1000, 1), 0.5)
    """
    n = _n_steps(n_steps)
    dt = _positive_scalar(dt, "dt", "s")
    c, a = _channels(None, amplitude=amplitude, offset=offset)
    if np.any(a["amplitude"] <= 0):
        raise ParameterError(f"`amplitude` must be positive in every channel, got {a['amplitude'].tolist()}.")
    f_min = _positive_scalar(f_min, "f_min", "Hz")
    f_max = _finite_scalar(f_max, "f_max")
    nyquist = 0.5 / dt
    if not f_min <= f_max < nyquist:
        raise ParameterError(f"need 0 < f_min <= f_max < Nyquist = {nyquist:g} Hz for dt = {dt:g} s, "
                             f"got f_min={f_min:g}, f_max={f_max:g}; lower f_max or shorten dt.")
    n_freqs = check_int(n_freqs, "n_freqs", low=1)
    freqs = np.linspace(f_min, f_max, int(n_freqs))
    if schroeder:
        k = np.arange(1, n_freqs + 1)
        phases = np.broadcast_to((-np.pi * k * (k - 1) / n_freqs)[:, None], (n_freqs, c))
    else:
        if rng is None:
            raise ParameterError("`rng` is required for random phases: pass rng=np.random.default_rng(seed) "
                                 "or schroeder=True for deterministic phases.")
        phases = _as_generator(rng).uniform(0.0, 2.0 * np.pi, size=(n_freqs, c))
    t = np.arange(n) * dt
    u = np.zeros((n, c))
    for k in range(n_freqs):  # loop over frequencies keeps memory at O(n * c)
        u += np.cos(2.0 * np.pi * freqs[k] * t[:, None] + phases[k])
    peak = np.max(np.abs(u), axis=0)
    return a["offset"] + u * (a["amplitude"] / peak)


def chirp(n_steps: int, *, dt: float, f0: float, f1: float, amplitude, offset=0.0,
          logarithmic: bool = False) -> np.ndarray:
    """Return a swept sine from ``f0`` Hz at the first sample to ``f1`` Hz at the last.

    Parameters
    ----------
    n_steps : int
        Number of samples (>= 2).
    dt : float
        Sample period in s.
    f0, f1 : float
        Start and end frequency in Hz, both ``< 1 / (2 dt)``.
    amplitude : float or array_like, shape (channels,)
        Amplitude per channel, in the input's unit.
    offset : float or array_like, shape (channels,), default 0.0
        Mean value per channel.
    logarithmic : bool, default False
        Sweep the frequency exponentially (needs ``f0, f1 > 0``) instead of
        linearly.

    Returns
    -------
    numpy.ndarray, shape (n_steps, channels)
        ``offset + amplitude * sin(phi(t))`` with instantaneous frequency
        ``phi'(t) / (2 pi)`` going from ``f0`` to ``f1`` over ``(n_steps-1) dt``.

    Examples
    --------
    >>> u = chirp(1001, dt=0.01, f0=0.1, f1=2.0, amplitude=[1.0, 0.5])
    >>> u.shape, float(u[0, 0])
    ((1001, 2), 0.0)
    """
    n = _n_steps(n_steps)
    if n < 2:
        raise ParameterError(f"`n_steps` must be >= 2 for a sweep, got {n}.")
    dt = _positive_scalar(dt, "dt", "s")
    f0 = _finite_scalar(f0, "f0")
    f1 = _finite_scalar(f1, "f1")
    nyquist = 0.5 / dt
    low = 0.0 if not logarithmic else np.nextafter(0.0, 1.0)
    for name, f in (("f0", f0), ("f1", f1)):
        if not low <= f < nyquist:
            kind = "0 <" if logarithmic else "0 <="
            raise ParameterError(f"`{name}` must satisfy {kind} {name} < Nyquist = {nyquist:g} Hz for dt = {dt:g} s, "
                                 f"got {f:g}.")
    c, a = _channels(None, amplitude=amplitude, offset=offset)
    t = np.arange(n) * dt
    duration = t[-1]
    if logarithmic and f0 != f1:
        k = f1 / f0
        phase = 2.0 * np.pi * f0 * duration / np.log(k) * (k ** (t / duration) - 1.0)
    else:
        phase = 2.0 * np.pi * (f0 * t + 0.5 * (f1 - f0) / duration * t * t)
    return a["offset"] + np.sin(phase)[:, None] * a["amplitude"]
