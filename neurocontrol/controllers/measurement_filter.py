"""Sensor-noise handling for a controller that predicts through a learned model: noise estimate and blend.

:func:`second_difference_noise_std` estimates the standard deviation of
white sensor noise from the measurements alone (no model);
:class:`MeasurementFilter` blends each measurement with a one-step
prediction by a gain from that estimate and the innovation variance (the
steady-state Kalman gain of a scalar state). Used by the neural predictive
controller (:mod:`neurocontrol.controllers.neural`, docs/neural_controller.md).
"""

from __future__ import annotations

import math

import numpy as np

from neurocontrol._validation import as_float_array, check_int
from neurocontrol.controllers import _neural_kernels as _nk
from neurocontrol.exceptions import ShapeError

__all__ = ["MeasurementFilter", "NOISE_FAST", "NOISE_RISE", "NOISE_WHITE", "NOISE_WINDOW",
           "second_difference_noise_std"]

#: Samples in the sliding window of the sensor-noise estimate; also the memory (samples) of the innovation variance.
NOISE_WINDOW = 100
#: Newest second differences in the fast estimate that tells a rise of the noise (:meth:`MeasurementFilter.scaled_r`).
NOISE_FAST = 12
#: A signal's noise has risen when its fast variance estimate exceeds the window's this many times (std tripled).
NOISE_RISE = 9.0
#: ... and the lag-one correlation of those second differences is below this (white noise: -2/3; a smooth move: ~+1).
NOISE_WHITE = -0.25
#: 1 / Phi^-1(3/4): the median absolute value of a zero-mean normal variable times this is its standard deviation.
_MAD_TO_STD = _nk._MAD_TO_STD


def second_difference_noise_std(samples) -> np.ndarray:
    r"""Robust standard deviation of white measurement noise per signal, from second differences.

    Parameters
    ----------
    samples : array_like, shape (T, n)
        Consecutive measurements, T >= 3 (one column per signal).

    Returns
    -------
    numpy.ndarray, shape (n,)

    Notes
    -----
    For ``y(t) = s(t) + v(t)`` with white ``v`` of variance sigma^2 the second
    difference ``y(t+1) - 2 y(t) + y(t-1)`` has the noise variance
    ``6 sigma^2`` plus the signal's curvature, which is small when the signal
    is smooth at the sampling rate; so ``sigma = 1.4826 median|d2| / sqrt(6)``
    (the median makes sparse steps of the signal harmless). A signal that
    moves fast at the sampling rate inflates the estimate: it is an upper
    bound, which makes the filter below trust the model less, never more.
    """
    y = as_float_array(samples, "samples", (None, None))
    if y.shape[0] < 3:
        raise ShapeError(f"`samples` must hold at least 3 consecutive measurements, got {y.shape[0]}.")
    d2 = y[2:] - 2.0 * y[1:-1] + y[:-2]
    return _MAD_TO_STD * np.median(np.abs(d2), axis=0) / math.sqrt(6.0)


class MeasurementFilter:
    r"""Blend of each measured signal with a one-step prediction, by a gain from the estimated sensor noise.

    Per signal i, with the prediction ``p`` and the measurement ``y`` at step t:

    .. math::

        \nu = y - p,\quad S \leftarrow (1 - 1/W) S + \nu^2 / W,\quad
        K = \mathrm{clip}(1 - \hat\sigma^2 / S,\ 0,\ 1),\quad x = p + K \nu,

    where ``sigma^2`` is :func:`second_difference_noise_std` squared over the
    last W measurements (0, hence K = 1, until W second differences are in)
    and S starts at the first ``nu^2``. This is the steady-state Kalman gain
    ``K = P^- / (P^- + sigma^2)`` of a scalar state with innovation variance
    ``S = P^- + sigma^2``: where the prediction error is all sensor noise the
    blend follows the prediction, where the model is wrong (S large) or the
    noise negligible it follows the measurement.

    Parameters
    ----------
    n_signals : int
        Number of measured signals.
    window : int, default :data:`NOISE_WINDOW`
        W, samples of the noise estimate and memory of S.

    Examples
    --------
    >>> f = MeasurementFilter(1, window=10)
    >>> for y in (0.0, 0.1, 0.2):
    ...     f.measure([y])
    >>> f.blend([0.2], [0.2]).tolist(), f.gain.tolist()
    ([0.2], [1.0])
    """

    def __init__(self, n_signals: int, *, window: int = NOISE_WINDOW):
        self.n_signals = check_int(n_signals, "n_signals", low=1)
        self.window = check_int(window, "window", low=3)
        self.reset()

    def reset(self) -> None:
        """Forget every measurement, the noise estimate and the innovation variance."""
        n, w = self.n_signals, self.window
        self._raw = np.full((3, n), np.nan)
        self._d2 = np.zeros((w, n))
        self._sorted = np.zeros((w, n))         # the columns of _d2, sorted (the median is read off)
        self._count = 0
        self._S = np.full(n, np.nan)
        self._a = 1.0 / w
        self.noise_var = np.zeros(n)
        self.fast_var = np.zeros(n)            # over the newest NOISE_FAST second differences (scaled_r)
        self._up = np.zeros(n, dtype=np.bool_)
        self._rise = np.zeros(1)                # 1 while a rise lasts (scaled_r)
        self._col = np.empty(min(NOISE_FAST, w))
        self.gain = np.ones(n)

    @property
    def noise_std(self) -> np.ndarray:
        """The sensor-noise standard deviation estimate per signal (0 until the window is full), a copy."""
        return np.sqrt(self.noise_var)

    @property
    def rising(self) -> bool:
        """Whether a rise of the sensor noise is on (found by :meth:`scaled_r`; over once the window has caught up)."""
        return self._rise[0] == 1.0

    @property
    def innovation_var(self) -> np.ndarray:
        """S per signal (NaN before the first blend), a copy."""
        return self._S.copy()

    def measure(self, y) -> None:
        """Take one raw measurement into the noise estimate (a non-finite one restarts the differences).

        Parameters
        ----------
        y : array_like, shape (n_signals,)
            The measurement, in the units the filter works in.
        """
        y = np.ascontiguousarray(as_float_array(y, "y", (self.n_signals,), finite=False))
        self._count = _nk.filter_measure_kernel(self._raw, self._d2, self._sorted, self._count, y, self.noise_var)

    def scaled_r(self, floor, scale: float, out) -> bool:
        r"""Write into ``out`` a noise variance R per signal for an EKF: ``scale`` times the noise, at least ``floor``.

        The window's estimate lags a rise of the noise by half a window. So the
        median of the newest :data:`NOISE_FAST` second differences gives a fast
        estimate ``fast_var`` too; where it exceeds :data:`NOISE_RISE` times the
        window's, ``scale * fast_var > floor`` and those second differences look white (their lag-one
        correlation below :data:`NOISE_WHITE`) a signal's noise has risen.
        When that holds for more than half of the signals (a single signal's
        roughness also rises with a fast input move), ``out = scale * fast_var``
        on every signal that passes the first two tests; elsewhere, and otherwise,
        ``out = max(floor, scale * noise_var)``. A rise, once started, lasts while the first two tests
        hold for most signals. Returns True while the noise has risen so: the one-step
        errors of a model then grow from the sensors, not from a change of the plant. No rise is
        signalled before the window is full.

        Parameters
        ----------
        floor : numpy.ndarray, shape (n_signals,)
            The smallest R per signal.
        scale : float
            R per unit of estimated noise variance.
        out : numpy.ndarray, shape (n_signals,)
            Receives R (float64, contiguous).

        Returns
        -------
        bool

        Examples
        --------
        >>> f = MeasurementFilter(1)
        >>> rng = np.random.default_rng(0)
        >>> for y in 0.001 * rng.standard_normal(120):
        ...     f.measure([y])
        >>> R = np.zeros(1)
        >>> f.scaled_r(np.array([1e-9]), 5.0, R), bool(R[0] == 5.0 * f.noise_var[0])
        (False, True)
        >>> for y in 0.01 * rng.standard_normal(12):            # ten times the noise, 12 samples
        ...     f.measure([y])
        >>> f.scaled_r(np.array([1e-9]), 5.0, R), bool(R[0] > 10 * 5.0 * f.noise_var[0])
        (True, True)
        """
        n = self.n_signals
        for name, a in (("floor", floor), ("out", out)):
            if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (n,) and a.flags.c_contiguous):
                raise ShapeError(f"`{name}` must be a contiguous float64 array of shape ({n},), got "
                                 f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}.")
        return self._scaled_r(floor, float(scale), out)

    def _scaled_r(self, floor: np.ndarray, scale: float, out: np.ndarray) -> bool:
        """:meth:`scaled_r` without the argument checks (the controller's step, on its own buffers)."""
        return bool(_nk.noise_rise_kernel(self._d2, self._count, self.noise_var, floor, scale, NOISE_RISE,
                                          NOISE_WHITE, self._col, self.fast_var, out, self._up, self._rise))

    def blend(self, y, prediction, *, active: bool = True) -> np.ndarray:
        """Update S with the innovation and return the blended state ``p + K (y - p)``.

        Parameters
        ----------
        y : array_like, shape (n_signals,)
            The measurement.
        prediction : array_like, shape (n_signals,)
            The one-step prediction of that measurement.
        active : bool, default True
            False: S is updated but K = 1 (the measurement is returned).

        Returns
        -------
        numpy.ndarray, shape (n_signals,)
        """
        y = np.ascontiguousarray(as_float_array(y, "y", (self.n_signals,)))
        p = np.ascontiguousarray(as_float_array(prediction, "prediction", (self.n_signals,)))
        out = np.empty(self.n_signals)
        _nk.filter_blend_kernel(y, p, self._S, self.noise_var, self.gain, self._a, bool(active), out)
        return out
