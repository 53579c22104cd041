"""Controllers: the abstract interface shared by the adaptive controller and the baselines.

A controller maps the latest measurement and the reference to the next plant
input. The public :meth:`AbstractController.step` validates its arguments,
calls the one private hook :meth:`AbstractController._step_impl` and checks
that the action it returns is finite and within the actuator limits, so no
NaN ever reaches a plant.
"""

from __future__ import annotations

import abc

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import DivergenceError, ParameterError

__all__ = ["AbstractController"]


class AbstractController(abc.ABC):
    """Base class of every controller.

    Parameters
    ----------
    input_limits : array_like, shape (m, 2)
        Lower and upper actuator limit of each input, physical units.
    output_indices : sequence of int
        Which entries of the observation are the controlled outputs (p of them).
    dt : float
        Control period in s.

    Notes
    -----
    Subclasses implement :meth:`_reset_impl` and :meth:`_step_impl`. The
    ``reference`` passed to :meth:`step` holds the set-points of the
    controlled outputs, shape (p,), in physical units.
    """

    def __init__(self, *, input_limits, output_indices, dt: float):
        lim = as_float_array(input_limits, "input_limits", (None, 2))
        if np.any(lim[:, 0] >= lim[:, 1]):
            raise ParameterError(f"`input_limits` must have lower < upper in every row, got {lim.tolist()}.")
        if not (np.isfinite(dt) and dt > 0):
            raise ParameterError(f"`dt` must be a positive control period in s, got {dt!r}.")
        self._input_limits = lim
        self._input_limits.setflags(write=False)
        self._output_indices = tuple(int(i) for i in output_indices)
        if len(self._output_indices) == 0:
            raise ParameterError("`output_indices` must name at least one observation entry.")
        self.dt = float(dt)

    @property
    def input_limits(self) -> np.ndarray:
        """Actuator limits, shape (m, 2), read-only."""
        return self._input_limits

    @property
    def output_indices(self) -> tuple[int, ...]:
        """Indices of the controlled outputs within the observation."""
        return self._output_indices

    @property
    def n_inputs(self) -> int:
        return self._input_limits.shape[0]

    def reset(self, observation, reference, *, seed=None) -> None:
        """Start a new episode from the first measurement."""
        obs = as_float_array(observation, "observation", (None,))
        ref = as_float_array(reference, "reference", (len(self._output_indices),))
        self._reset_impl(obs, ref, seed)

    def step(self, observation, reference) -> np.ndarray:
        """Return the next plant input, shape (m,), finite and within the limits."""
        obs = as_float_array(observation, "observation", (None,), finite=False)
        ref = as_float_array(reference, "reference", (len(self._output_indices),))
        u = np.asarray(self._step_impl(obs, ref), dtype=np.float64)
        if u.shape != (self.n_inputs,) or not np.all(np.isfinite(u)):
            raise DivergenceError(f"controller produced a non-finite or mis-shaped action {u!r}; "
                                  "enable a guard with a fallback controller to keep flying.")
        return np.clip(u, self._input_limits[:, 0], self._input_limits[:, 1])

    def diagnostics(self) -> dict:
        """What the controller learned at its last step, for the runner to record.

        Returns a dict with ``prediction_error`` (float, the identifier's
        one-step prediction error norm in normalised units; NaN for
        controllers without an identifier), ``inner_iterations`` (int, inner
        learning iterations of the last step; 0 without learning) and
        ``mode`` (str, e.g. ``"warmup"``, ``"adaptive"``, ``"baseline"``).
        """
        return {"prediction_error": float("nan"), "inner_iterations": 0, "mode": "baseline"}

    @abc.abstractmethod
    def _reset_impl(self, observation: np.ndarray, reference: np.ndarray, seed) -> None:
        """Reset internal state at the start of an episode."""

    @abc.abstractmethod
    def _step_impl(self, observation: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Compute the next input from a validated observation and reference."""
