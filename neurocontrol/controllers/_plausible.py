"""Measurements no sensor gives: the neural controller's gate for glitches (docs/neural_controller.md, step 5).

A measured entry more than :data:`GLITCH_RANGES` half ranges from the middle
of its declared range is no measurement: the sample counts as lost, as a NaN
does (the input is held, nothing is learned from it, the warm-up controller
does not see it). Where there is no input to hold (at reset, at the first
step, at a trial's start) it is an :class:`~neurocontrol.exceptions.OutOfRangeError`
naming the entry.
"""

from __future__ import annotations

import numpy as np

from neurocontrol.exceptions import OutOfRangeError

__all__ = ["GLITCH_RANGES", "plausible_bounds", "lost_sample"]

#: How far from the middle of its declared range, in half ranges, a measured value is still a measurement.
GLITCH_RANGES = 1000.0


def plausible_bounds(low, high) -> tuple[np.ndarray, np.ndarray]:
    """Return the lowest and highest plausible value of each entry, from the declared ranges ``[low, high]``."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    mid, half = 0.5 * (low + high), 0.5 * (high - low)
    return mid - GLITCH_RANGES * half, mid + GLITCH_RANGES * half


def lost_sample(observation: np.ndarray, bounds, config, when) -> np.ndarray:
    """Return ``observation`` with every entry outside ``bounds`` (NaN, inf, a glitch) set to NaN.

    Parameters
    ----------
    observation : numpy.ndarray, shape (n,)
        The measurement, float64.
    bounds : tuple of numpy.ndarray
        From :func:`plausible_bounds`.
    config : NeuralControllerConfig
        Its ``observation_low`` and ``observation_high`` name the declared range in the error.
    when : str or False
        Where there is no input to hold (e.g. ``"at reset"``): a finite entry outside ``bounds`` raises.

    Raises
    ------
    OutOfRangeError
        When ``when`` is given and a finite entry lies outside ``bounds``.
    """
    lo, hi = bounds
    inside = (observation >= lo) & (observation <= hi)
    if when:
        bad = np.flatnonzero(np.isfinite(observation) & ~inside)
        if bad.size:
            i = int(bad[0])
            raise OutOfRangeError(
                f"`observation` entry {i} is {float(observation[i])!r} {when}, more than {GLITCH_RANGES:g} half "
                f"ranges from the middle of its declared range [{config.observation_low[i]!r}, "
                f"{config.observation_high[i]!r}]: a sensor glitch, or a range declared wrongly "
                "(`observation_low`/`observation_high`, or the env's observation space).")
    return np.where(inside, observation, np.nan)
