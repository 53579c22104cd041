"""A steady-state Kalman filter of the env's python-control model in front of any controller.

:func:`design_prefilter` linearises the env's model at the trim of the
controlled outputs' set-point (as ``lqr_i`` does), samples it at the control
period and augments it with one integrating input disturbance per input, so
the estimate has no steady offset where the model is off by a constant force
(friction, a trim error): ``x+ = A x + B (u + d)``, ``d+ = d``, every
observation measured. :class:`KalmanPrefilter` runs that filter on the
measurements and gives the inner controller the filtered observation
``y_trim + C x_post`` in their place; the inner controller's inputs drive the
filter's prediction. A non-finite measurement is not used (the prediction
stands in for it).

The filter needs the sensors' noise level (``measurement_noise``, relative to
each observation's declared range; ``[controller] kind = "filtered"`` in a
scenario, :mod:`neurocontrol.scenario.kinds`): told the noise, it lets a controller whose
own law passes the noise to the inputs fly noisy sensors; where there is no
noise it only lags the measurements. docs/plants.md, "A Kalman filter in front
of any controller".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive, env_input_limits
from neurocontrol.controllers.base import AbstractController
from neurocontrol.controllers.generic import trim_linearisation
from neurocontrol.controllers.measurement_filter import second_difference_noise_std
from neurocontrol.controllers.observer import kalman_gain, noise_covariances
from neurocontrol.exceptions import ParameterError

__all__ = ["PrefilterDesign", "design_prefilter", "KalmanPrefilter"]


@dataclass(frozen=True)
class PrefilterDesign:
    """A designed prefilter: the augmented model ``[x; d]``, its filter gain and the trim (deviation variables).

    Parameters
    ----------
    A : numpy.ndarray, shape (n + m, n + m)
        ``[[Ad, Bd], [0, I]]``: the sampled model and the integrating input disturbances.
    B : numpy.ndarray, shape (n + m, m)
        ``[Bd; 0]``.
    C : numpy.ndarray, shape (q, n + m)
        ``[C, 0]``, one row per observation.
    M : numpy.ndarray, shape (n + m, q)
        The steady-state filter gain: ``x_post = x_prior + M (y - y_trim - C x_prior)``.
    u_trim : numpy.ndarray, shape (m,)
        The trim's inputs.
    y_trim : numpy.ndarray, shape (q,)
        The trim's observations.
    W : numpy.ndarray, shape (n + m, n + m)
        The process-noise covariance the gain was designed with.
    span_y : numpy.ndarray, shape (q,)
        Each observation's declared range (the unit of the relative noise levels).
    """

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    M: np.ndarray
    u_trim: np.ndarray
    y_trim: np.ndarray
    W: np.ndarray
    span_y: np.ndarray

    def with_noise(self, std) -> "PrefilterDesign":
        """Return the same filter with its gain designed for the measurement noise ``std`` (physical units).

        Parameters
        ----------
        std : array_like, shape (q,)
            Each observation's noise standard deviation; positive.
        """
        std = as_float_array(std, "std", (self.C.shape[0],))
        if np.any(std <= 0.0):
            raise ParameterError(f"`std` must be positive for every observation, got {std.tolist()}.")
        return replace(self, M=kalman_gain(self.A, self.C, self.W, np.diag(std ** 2)))

    def initial(self, observation: np.ndarray) -> np.ndarray:
        """Return the least-squares state of one measurement (disturbances 0), the filter's start.

        Parameters
        ----------
        observation : numpy.ndarray, shape (q,)
            The measurement, physical units.
        """
        return np.linalg.lstsq(self.C, observation - self.y_trim, rcond=None)[0]


def design_prefilter(env, output_indices, *, measurement_noise: float = 0.01, process_noise: float = 0.01,
                     disturbance_noise: float = 1e-4, design_setpoint=None) -> PrefilterDesign:
    """Design the steady-state Kalman filter of ``env``'s linearised model, augmented with input disturbances.

    Parameters
    ----------
    env : gymnasium.Env
        A plant with a python-control model (as for ``lqr_i``: ``to_iosys()``
        or ``sys`` on the unwrapped env) and finite observation and action ranges.
    output_indices : sequence of int
        The controlled outputs within the observation; the model is linearised
        at the trim that holds their set-point.
    measurement_noise : float, default 0.01
        The sensors' noise standard deviation, relative to each observation's range.
    process_noise : float, default 0.01
        White input noise standard deviation, relative to each input's range.
    disturbance_noise : float, default 1e-4
        Standard deviation of each step of the input disturbances' random walk,
        relative to each input's range (how fast the estimate follows a
        changing unmodelled force).
    design_setpoint : sequence of float, optional
        The controlled outputs at the trim; default ``env.unwrapped.setpoint``.

    Returns
    -------
    PrefilterDesign

    Raises
    ------
    ParameterError
        If the env has no python-control model, a range is not finite or a
        noise level is not positive.
    TrimError
        If no trim holds the set-point.
    """
    for name, v in (("measurement_noise", measurement_noise), ("process_noise", process_noise),
                    ("disturbance_noise", disturbance_noise)):
        check_positive(v, name)
    tr = trim_linearisation(env, output_indices, design_setpoint, who="filtered")
    lim = env_input_limits(env)
    span_u = lim[:, 1] - lim[:, 0]
    span_y = np.asarray(env.observation_space.high, float) - np.asarray(env.observation_space.low, float)
    if not np.all(np.isfinite(span_y)):
        raise ParameterError(f"the filter's noise is relative to each observation's range, and the env's are not all "
                             f"finite ({span_y.tolist()}); give the env finite observation bounds.")
    Ad, Bd = tr.sampled(float(env.unwrapped.dt))
    C, y_trim = tr.measured()
    n, m, q = Ad.shape[0], Bd.shape[1], C.shape[0]
    A = np.block([[Ad, Bd], [np.zeros((m, n)), np.eye(m)]])
    B = np.vstack([Bd, np.zeros((m, m))])
    Ca = np.hstack([C, np.zeros((q, m))])
    Wx, V = noise_covariances(Bd, span_u, span_y, process_noise, measurement_noise)     # as lqr_i's filter
    W = np.zeros((n + m, n + m))
    W[:n, :n] = Wx
    W[n:, n:] = np.diag((disturbance_noise * span_u) ** 2)
    M = kalman_gain(A, Ca, W, V)
    return PrefilterDesign(A, B, Ca, M, np.asarray(tr.inputs, float).copy(), y_trim, W, span_y)


class KalmanPrefilter(AbstractController):
    """Any controller, fed the measurements through a :class:`PrefilterDesign`'s Kalman filter.

    Everything the wrapper does not define (``set_preview``, ``loop_shapes``,
    ``learned_step_response``, ``in_warmup``, ...) is the inner controller's.

    Parameters
    ----------
    controller : AbstractController
        The inner controller; it sees the filtered observations.
    design : PrefilterDesign
        From :func:`design_prefilter`; its rows are the observation entries.
    noise_window : int, optional
        Estimate the sensors' noise instead of taking the design's: over the
        first ``noise_window`` measurements of an episode the filter runs with
        the design's gain (a provisional noise level); then each observation's
        noise standard deviation is estimated from those measurements' second
        differences
        (:func:`~neurocontrol.controllers.measurement_filter.second_difference_noise_std`,
        at least ``NOISE_FLOOR`` of its range) and the gain is designed for it
        (:meth:`PrefilterDesign.with_noise`), the estimate going on from where it is.

    Examples
    --------
    >>> import gymnasium as gym, plants
    >>> from neurocontrol.controllers.generic import LQRIConfig, build_lqr_i
    >>> env = gym.make("neurocontrol/QuadTank-v0")
    >>> inner = build_lqr_i(LQRIConfig(), env)
    >>> ctrl = KalmanPrefilter(inner, design_prefilter(env, inner.output_indices))
    >>> obs, _ = env.reset(seed=0)
    >>> ctrl.reset(obs, env.unwrapped.setpoint)
    >>> ctrl.step(obs, env.unwrapped.setpoint).shape
    (2,)
    """

    _handles_nonfinite = True
    #: The least noise standard deviation an estimate gives, relative to each observation's range.
    NOISE_FLOOR = 1e-4

    def __init__(self, controller: AbstractController, design: PrefilterDesign, *, noise_window: int | None = None):
        if not isinstance(controller, AbstractController):
            raise ParameterError(f"`controller` must be a neurocontrol controller, got {type(controller).__name__}.")
        if not isinstance(design, PrefilterDesign):
            raise ParameterError(f"`design` must be a PrefilterDesign from design_prefilter, got "
                                 f"{type(design).__name__}.")
        if design.B.shape[1] != controller.n_inputs:
            raise ParameterError(f"the filter's model has {design.B.shape[1]} inputs and the controller "
                                 f"{controller.n_inputs}.")
        super().__init__(input_limits=controller.input_limits, output_indices=controller.output_indices,
                         dt=controller.dt)
        self.controller = controller
        self.design = design
        self.noise_window = None if noise_window is None else check_int(noise_window, "noise_window", low=10)
        self._n_obs = design.C.shape[0]
        self._prior = np.zeros(design.A.shape[0])
        self._post = self._prior.copy()
        self._active = design           # the design in use: with noise_window, the provisional one until estimated
        self._window: list = []
        self._noise = np.full(self._n_obs, np.nan)                    # the estimated noise (physical units)
        self._inner_feedforward = None                                # the feedforward of the step in progress

    def __getattr__(self, name):
        # only reached for attributes the wrapper lacks; "controller" guards against recursion before __init__ ends
        if name == "controller" or name.startswith("__"):
            raise AttributeError(name)
        if name == "start_trial" and callable(getattr(self.controller, "start_trial", None)):
            return self._start_trial
        return getattr(self.controller, name)

    @property
    def estimated_noise(self) -> np.ndarray:
        """The noise standard deviation per observation the gain was designed for after the window (NaN before)."""
        return self._noise.copy()

    def filtered(self) -> np.ndarray:
        """Return the filtered observation of the last step (physical units)."""
        return self.design.y_trim + self.design.C @ self._post

    def _measure(self, obs: np.ndarray) -> np.ndarray:
        finite = bool(np.all(np.isfinite(obs)))
        if self.noise_window is not None and not np.all(np.isfinite(self._noise)):      # still estimating the noise
            if finite:
                self._window.append(obs.copy())
            if len(self._window) == self.noise_window:
                self._noise = np.maximum(second_difference_noise_std(np.asarray(self._window)),
                                         self.NOISE_FLOOR * self.design.span_y)
                self._active = self.design.with_noise(self._noise)
                self._window = []
        d = self._active
        if finite:
            self._post = self._prior + d.M @ (obs - d.y_trim - d.C @ self._prior)
        else:                   # a lost sample: the prediction stands in for it
            self._post = self._prior.copy()
        return self.filtered()

    def _start(self, observation) -> np.ndarray:
        obs = as_float_array(observation, "observation", (self._n_obs,))
        self._prior = self.design.initial(obs)
        self._post = self._prior.copy()
        if self.noise_window is not None:       # a new episode estimates its noise again
            self._active, self._window, self._noise = self.design, [obs.copy()], np.full(self._n_obs, np.nan)
        return self.filtered()

    def _reset_impl(self, observation, reference, seed) -> None:
        # the filter starts at the first measurement's least-squares state; the inner controller is reset on it
        self.controller.reset(self._start(observation), reference, seed=seed)

    def _start_trial(self, observation, reference) -> None:
        self.controller.start_trial(self._start(observation), reference)

    def step(self, observation, reference, feedforward=None) -> np.ndarray:
        """Filter the measurement, step the inner controller on it, and predict the next state from its input.

        Parameters
        ----------
        observation : array_like, shape (q,)
            The latest measurement (a non-finite entry: the prediction is used).
        reference : array_like, shape (p,)
            Set-points of the controlled outputs.
        feedforward : array_like, shape (m,), optional
            Passed to the inner controller, which limits the input with it (the wrapper adds none of its own).
        """
        self._inner_feedforward = feedforward
        return super().step(observation, reference)

    def _step_impl(self, observation, reference) -> np.ndarray:
        return self.controller.step(self._measure(observation), reference, self._inner_feedforward)

    def _applied(self, u: np.ndarray) -> None:
        self._prior = self.design.A @ self._post + self.design.B @ (u - self.design.u_trim)

    def diagnostics(self) -> dict:
        """Return the inner controller's diagnostics."""
        return self.controller.diagnostics()

    def derived_settings(self) -> dict:
        """Return the inner controller's derived settings and the filter's size (and noise estimate)."""
        text = (f"steady-state Kalman filter, {self.design.A.shape[0] - self.n_inputs} model states and "
                f"{self.n_inputs} input disturbances")
        if self.noise_window is not None:
            text += f"; the sensors' noise estimated from the first {self.noise_window} measurements of the episode"
            if np.all(np.isfinite(self._noise)):
                text += f": {np.round(self._noise / self.design.span_y, 5).tolist()} of the ranges"
        return {**self.controller.derived_settings(), "prefilter": text}

    def get_state(self) -> dict:
        """Return the inner controller's state (keys ``inner.*``) and the filter's (keys ``filter.*``)."""
        state = {**{f"inner.{k}": v for k, v in self.controller.get_state().items()},
                 "filter.prior": self._prior.copy(), "filter.post": self._post.copy()}
        if self.noise_window is not None:
            state["filter.noise"] = self._noise.copy()
            state["filter.window"] = np.asarray(self._window, dtype=float).reshape(-1, self._n_obs)
        return state

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict.

        Parameters
        ----------
        state : dict
            Keys ``inner.*`` and ``filter.*``.
        """
        self._check_state_keys(state)
        self.controller.set_state({k[len("inner."):]: v for k, v in state.items() if k.startswith("inner.")})
        self._prior = as_float_array(state["filter.prior"], "filter.prior", self._prior.shape).copy()
        self._post = as_float_array(state["filter.post"], "filter.post", self._post.shape).copy()
        if self.noise_window is not None:
            self._noise = as_float_array(state["filter.noise"], "filter.noise", (self._n_obs,), finite=False).copy()
            self._window = [row.copy() for row in as_float_array(state["filter.window"], "filter.window",
                                                                  (None, self._n_obs))]
            self._active = self.design.with_noise(self._noise) if np.all(np.isfinite(self._noise)) else self.design
