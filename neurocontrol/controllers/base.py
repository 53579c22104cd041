"""The controller interface: :class:`AbstractController` (validated public step, one private hook, the input limits).

:class:`FunctionController` makes a controller of plain functions (or of any
object's public ``step`` and ``reset`` methods), for users who do not want to
subclass: e.g. the adaptive controller's warm-up controller.
"""

from __future__ import annotations

import abc

import numpy as np

from neurocontrol._validation import as_float_array, check_positive
from neurocontrol.controllers._kernels import all_finite_kernel, limit_input_kernel
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError

__all__ = ["AbstractController", "FunctionController"]

_F64 = np.dtype(np.float64)


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
    Subclasses implement :meth:`_reset_impl` and :meth:`_step_impl`; the
    latter returns a *proposal*, and :meth:`step` alone adds the feedforward
    and applies the rate limit (``_rate_limit``, per input, inf: none;
    subclasses may set it) and the range limits. The ``reference`` passed to
    :meth:`step` holds the set-points of the controlled outputs, shape (p,),
    in physical units.
    """

    def __init__(self, *, input_limits, output_indices, dt: float):
        lim = as_float_array(input_limits, "input_limits", (None, 2))
        if np.any(lim[:, 0] >= lim[:, 1]):
            raise ParameterError(f"`input_limits` must have lower < upper in every row, got {lim.tolist()}.")
        check_positive(dt, "dt", unit="s")
        self._input_limits = lim
        self._input_limits.setflags(write=False)
        self._lower = np.ascontiguousarray(lim[:, 0])
        self._upper = np.ascontiguousarray(lim[:, 1])
        self._output_indices = tuple(int(i) for i in output_indices)
        if len(self._output_indices) == 0:
            raise ParameterError("`output_indices` must name at least one observation entry.")
        self.dt = float(dt)
        self._no_rate_limit = np.full(lim.shape[0], np.inf)
        self._rate_limit = self._no_rate_limit

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
        """Number of plant inputs m."""
        return self._input_limits.shape[0]

    #: Number of observation entries the controller expects (None: any); checked by :meth:`step`.
    _n_obs: int | None = None
    #: True if ``_step_impl`` copes with NaN/inf measurements itself; otherwise :meth:`step`
    #: holds the last applied input on a non-finite measurement.
    _handles_nonfinite: bool = False
    #: The last applied input (after feedforward and limits), None before the first step unless
    #: ``_reset_impl`` sets the input the plant holds (the rate limit's reference).
    _last_u: np.ndarray | None = None
    #: The feedforward of the step in progress (None: none), for the :meth:`_applied` hook.
    _feedforward: np.ndarray | None = None

    def reset(self, observation, reference, *, seed=None) -> None:
        """Start a new episode from the first measurement.

        Parameters
        ----------
        observation : array_like, shape (n,)
            The first measurement.
        reference : array_like, shape (p,)
            The first set-points of the controlled outputs.
        seed : int or numpy.random.SeedSequence, optional
            Seed of everything random in the controller.
        """
        self._last_u = None
        obs = as_float_array(observation, "observation", (None,))
        ref = as_float_array(reference, "reference", (len(self._output_indices),))
        self._reset_impl(obs, ref, seed)

    def step(self, observation, reference, feedforward=None) -> np.ndarray:
        """Return the next plant input, shape (m,), finite and within the limits.

        Parameters
        ----------
        observation : array_like, shape (n,)
            The latest measurement (may hold NaN for a dropped sample; the
            controller decides how to cope).
        reference : array_like, shape (p,)
            Set-points of the controlled outputs, physical units.
        feedforward : array_like, shape (m,), optional
            Added to the controller's proposal before the rate and range
            limits, so the rate limit bounds it too (e.g. iterative learning
            control); the controller is told the input actually applied.
        """
        # fast path for what a control loop passes every step: float64 vectors of the right shape
        if type(observation) is np.ndarray and observation.dtype == _F64 and observation.ndim == 1:
            obs = observation
        else:
            obs = as_float_array(observation, "observation", (None,), finite=False)
        if self._n_obs is not None and obs.shape[0] != self._n_obs:
            raise ShapeError(f"`observation` must have shape ({self._n_obs},), got {obs.shape}.")
        if not self._handles_nonfinite and not all_finite_kernel(obs):
            # a lost or corrupted sample: hold the last applied input rather than act on garbage
            if self._last_u is None:
                raise NonFiniteError(f"`observation` must be finite at the first step, got {obs.tolist()}.")
            return self._last_u.copy()
        p = len(self._output_indices)
        if not (type(reference) is np.ndarray and reference.dtype == _F64 and reference.shape == (p,)
                and all_finite_kernel(reference)):
            reference = as_float_array(reference, "reference", (p,))
        ff = None if feedforward is None else as_float_array(feedforward, "feedforward", (self.n_inputs,))
        proposal = self._step_impl(obs, reference)
        if type(proposal) is not np.ndarray or proposal.dtype != _F64:
            proposal = np.asarray(proposal, dtype=np.float64)
        if proposal.shape != (self.n_inputs,) or not all_finite_kernel(proposal):
            raise DivergenceError(f"controller produced a non-finite or mis-shaped action {proposal!r}; "
                                  "enable a guard with a fallback controller to keep flying.")
        # the one place inputs are limited: u = limit(proposal + feedforward), rate first, then range
        u = np.empty(self.n_inputs)
        prev = proposal if self._last_u is None else self._last_u
        rate = self._no_rate_limit if self._last_u is None else self._rate_limit
        limit_input_kernel(proposal, proposal if ff is None else ff, ff is not None, prev, rate, self._lower,
                           self._upper, u)
        self._last_u = u
        self._feedforward = ff
        self._applied(u)
        return u

    def _trial_start_observation(self, observation, reference) -> np.ndarray:
        """Check the arguments of a ``start_trial`` (after a reset, shapes, finite); return the observation.

        Parameters
        ----------
        observation : array_like, shape (n,)
            The trial's first measurement.
        reference : array_like, shape (p,)
            Its first set-points.
        """
        if not getattr(self, "_ready", False):
            raise ParameterError("call reset(observation, reference) once before start_trial().")
        as_float_array(reference, "reference", (len(self._output_indices),))
        return as_float_array(observation, "observation", (self._n_obs,))

    def _applied(self, u: np.ndarray) -> None:
        """Receive the input actually applied this step (after feedforward and limits); a hook.

        Parameters
        ----------
        u : numpy.ndarray, shape (m,)
            The applied input; ``self._feedforward`` holds this step's
            feedforward (None if none).
        """

    def get_state(self) -> dict:
        """Everything that changes during an episode, as a flat dict of arrays and numbers (copies).

        Restoring it with :meth:`set_state` into a controller built with the
        same settings continues the run bit-identically. Keys are dotted names;
        values are numpy arrays or Python scalars, ready for ``numpy.savez``.
        """
        return {}

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned (see there).

        Parameters
        ----------
        state : dict
            A :meth:`get_state` dict of a controller with the same settings.
        """
        if state:
            raise ParameterError(f"{type(self).__name__} has no episode state, got keys {sorted(state)}.")

    def derived_settings(self) -> dict:
        """Return the settings the controller chose itself (not given in its configuration), for the run's record.

        Returns a dict of plain values (str, numbers, lists); ``{}`` by default.
        The scenario runner stores it in the run's ``meta["controller_settings"]``
        and ``neurocontrol run`` prints it.
        """
        return {}

    def _check_state_keys(self, state: dict) -> None:
        """Raise a named error unless ``state`` has exactly the keys :meth:`get_state` gives now."""
        expected, got = set(self.get_state()), set(state)
        if got != expected:
            raise ParameterError(f"`state` does not fit this controller: missing {sorted(expected - got)}, "
                                 f"unexpected {sorted(got - expected)}; was it saved from a controller with "
                                 "other settings?")

    def _with_warmup_state(self, state: dict) -> dict:
        """Add the warm-up controller's state (keys ``warmup.*``) to ``state`` when there is one; return it."""
        warm = getattr(self, "warmup_controller", None)
        if warm is not None:
            state.update({f"warmup.{k}": v for k, v in warm.get_state().items()})
        return state

    def _restore_warmup_state(self, state: dict) -> None:
        """Give the warm-up controller, if any, its ``warmup.*`` entries of ``state``."""
        warm = getattr(self, "warmup_controller", None)
        if warm is not None:
            warm.set_state({k[len("warmup."):]: v for k, v in state.items() if k.startswith("warmup.")})

    def diagnostics(self) -> dict:
        """Return what the controller learned at its last step, for the runner to record.

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




class FunctionController(AbstractController):
    """A controller made of functions: ``step(observation, reference) -> input``, an optional ``reset``.

    The public way to use any controller object or function where an
    :class:`AbstractController` is expected (e.g. as the adaptive
    controller's ``warmup_controller``) without subclassing or private
    hooks. :meth:`step` calls ``step`` and then, like every controller,
    validates the proposal and applies the input limits (no rate limit).

    Parameters
    ----------
    step : callable
        ``step(observation, reference) -> u``: the observation (n,) and the
        set-points of the controlled outputs (p,), float64 arrays in
        physical units; returns the input (m,), array_like. A non-finite
        or mis-shaped input raises :class:`~neurocontrol.exceptions.DivergenceError`.
    reset : callable, optional
        ``reset(observation, reference)``, called by :meth:`reset` at the
        start of every episode (None: nothing to reset).
    input_limits : array_like, shape (m, 2)
        Actuator limits, physical units; the input is clipped to them.
    output_indices : sequence of int
        The controlled outputs within the observation.
    dt : float
        Control period, s.
    get_state, set_state : callable, optional
        ``get_state() -> dict`` and ``set_state(dict)`` of the functions'
        episode state, for checkpoints (:meth:`AbstractController.get_state`);
        without them the state is empty, and a checkpoint continues
        bit-identically only if ``step`` keeps no state of its own.

    Examples
    --------
    A proportional law as a function:

    >>> import numpy as np
    >>> ctrl = FunctionController(lambda obs, ref: 2.0 * (ref - obs[:1]), input_limits=[[-1.0, 1.0]],
    ...                           output_indices=[0], dt=0.1)
    >>> ctrl.reset(np.array([0.0]), np.array([1.0]))
    >>> ctrl.step(np.array([0.8]), np.array([1.0])), ctrl.step(np.array([0.0]), np.array([1.0]))
    (array([0.4]), array([1.]))

    Any object with public ``step`` and ``reset`` methods, e.g. as a warm-up
    controller: ``FunctionController(obj.step, reset=obj.reset,
    input_limits=..., output_indices=..., dt=...)``.
    """

    def __init__(self, step, reset=None, *, input_limits, output_indices, dt: float, get_state=None,
                 set_state=None):  # noqa: D107  (documented on the class)
        super().__init__(input_limits=input_limits, output_indices=output_indices, dt=dt)
        for name, fn, required in (("step", step, True), ("reset", reset, False), ("get_state", get_state, False),
                                   ("set_state", set_state, False)):
            if (fn is not None or required) and not callable(fn):
                raise ParameterError(f"`{name}` must be callable{'' if required else ' or None'}, got "
                                     f"{type(fn).__name__}; pass a function such as "
                                     f"`{name}=my_controller.{name}`.")
        if (get_state is None) != (set_state is None):
            raise ParameterError("`get_state` and `set_state` go together: pass both or neither.")
        self._step_fn, self._reset_fn = step, reset
        self._get_state_fn, self._set_state_fn = get_state, set_state

    def _reset_impl(self, observation, reference, seed) -> None:
        if self._reset_fn is not None:
            self._reset_fn(observation, reference)

    def _step_impl(self, observation, reference) -> np.ndarray:
        return self._step_fn(observation, reference)

    def get_state(self) -> dict:
        """Return the functions' episode state (``get_state()``), or {} without one (see the class)."""
        return {} if self._get_state_fn is None else dict(self._get_state_fn())

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned.

        Parameters
        ----------
        state : dict
            A :meth:`get_state` dict.
        """
        if self._set_state_fn is None:
            super().set_state(state)
        else:
            self._set_state_fn(state)
