"""The env of any python-control nonlinear I/O system (:class:`IOSystemEnv`), its RK4 step and its Gymnasium id.

:class:`IOSystemEnv` turns a ``control.NonlinearIOSystem`` into a Gymnasium
env: a continuous-time system is integrated with fixed-step classical RK4
(``substeps`` sub-steps per control period, input held), a discrete-time
system is stepped with its own update function. The signal names come from
the system; the action and observation spaces are float64 Boxes in the
system's physical units. :func:`rk4_step` is the one integrator, shared with
:func:`neurocontrol.control_bridge.sample_iosys`, so a sampled system and
the env agree bit for bit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from neurocontrol._validation import as_float_array, check_positive, check_real, check_substeps
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError

__all__ = ["IOSystemEnv", "rk4_step", "IOSYSTEM_ID", "register_env"]


def rk4_step(f: Callable, t: float, x: np.ndarray, u: np.ndarray, params: Mapping, dt: float,
             substeps: int) -> np.ndarray:
    """Advance ``dx/dt = f(t, x, u, params)`` over ``dt`` with ``substeps`` classical RK4 steps, ``u`` held.

    Parameters
    ----------
    f : callable
        ``f(t, x, u, params) -> dx/dt`` (python-control ``updfcn`` order).
    t : float
        Time at the start of the period, s.
    x : numpy.ndarray, shape (n,)
        State at ``t``.
    u : numpy.ndarray, shape (m,)
        Input held over the period (zero-order hold).
    params : dict
        Passed to ``f``.
    dt : float
        Period, s.
    substeps : int
        Number of RK4 sub-steps (sub-step ``dt / substeps``).

    Returns
    -------
    numpy.ndarray, shape (n,)
        State at ``t + dt``.

    Examples
    --------
    >>> import numpy as np
    >>> x = rk4_step(lambda t, x, u, p: -x, 0.0, np.array([1.0]), np.zeros(0), {}, 1.0, 10)
    >>> bool(abs(x[0] - np.exp(-1.0)) < 1e-6)
    True
    """
    h = dt / substeps
    x = np.array(x, dtype=np.float64)
    for i in range(substeps):
        ti = t + i * h
        k1 = np.asarray(f(ti, x, u, params), dtype=np.float64).reshape(-1)
        k2 = np.asarray(f(ti + 0.5 * h, x + 0.5 * h * k1, u, params), dtype=np.float64).reshape(-1)
        k3 = np.asarray(f(ti + 0.5 * h, x + 0.5 * h * k2, u, params), dtype=np.float64).reshape(-1)
        k4 = np.asarray(f(ti + h, x + h * k3, u, params), dtype=np.float64).reshape(-1)
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def _select(names: Sequence[str], which, what: str) -> tuple[int, ...]:
    """Return the indices of ``which`` (names or ints) among ``names``."""
    out = []
    for w in which:
        if isinstance(w, str):
            if w not in names:
                raise ParameterError(f"`{what}` names unknown signal {w!r}; the system has {list(names)}.")
            out.append(list(names).index(w))
        elif isinstance(w, numbers.Integral) and not isinstance(w, bool) and 0 <= w < len(names):
            out.append(int(w))
        else:
            raise ParameterError(f"`{what}` entries must be signal names or indices in [0, {len(names)}), got {w!r}.")
    if len(set(out)) != len(out) or not out:
        raise ParameterError(f"`{what}` must name distinct signals (at least one), got {list(which)!r}.")
    return tuple(out)


def _check_units(units, names: Sequence[str]) -> dict[str, str]:
    """Return ``units`` as a plain dict after checking every key is a signal of the system and every value a str."""
    if units is None:
        return {}
    if not isinstance(units, Mapping):
        raise ParameterError(f"`units` must be a mapping signal name -> unit string, got {type(units).__name__}.")
    out = {}
    for key, unit in units.items():
        if key not in names:
            raise ParameterError(f"`units` names unknown signal {key!r}; the system has {sorted(set(names))}.")
        if not isinstance(unit, str):
            raise ParameterError(f"`units[{key!r}]` must be a unit string such as 'm/s', got {unit!r}.")
        out[key] = unit
    return out


class IOSystemEnv(gym.Env[np.ndarray, np.ndarray]):
    r"""A python-control nonlinear I/O system as a Gymnasium environment.

    ## Description

    Wraps ``sys`` (a ``control.NonlinearIOSystem``, e.g. from
    ``control.nlsys``). Each :meth:`step` holds the action for ``dt`` s:
    a continuous-time system (``sys.dt == 0``) is integrated with
    ``substeps`` fixed RK4 sub-steps of its update function (the right-hand
    side), a discrete-time system (``sys.dt > 0``) is advanced by one call
    of its update function (then ``dt`` must equal ``sys.dt`` and
    ``substeps`` must be 1). The observation is the selected outputs of the
    output function, plus optional Gaussian sensor noise, clipped to the
    observation bounds. With noise, ``info["noiseless_observation"]`` is the
    observation without it (the loop's metrics on the true outputs).

    ## Action Space

    ``Box(input_limits[:, 0], input_limits[:, 1], (m,), float64)``, in the
    units of the system's inputs (named ``env.input_names``). Actions outside
    the box are clipped; ``info["saturated"]`` flags which were.

    ## Observation Space

    ``Box(observation_low, observation_high, (p,), float64)``: the outputs
    named ``env.observation_names`` (default: all outputs). Bounds default to
    ``-inf .. inf``; give finite ones for RL pipelines and normalisation.

    ## Rewards

    ``-sum((y - setpoint)**2)`` over the observed outputs when a ``setpoint``
    is given, else 0.

    ## Starting State

    ``x0`` (array, or a sampler ``x0(rng) -> array`` called with
    ``self.np_random``), default zeros; ``reset(options={"initial_state":
    x})`` overrides it for one episode. A reset restores the parameters of
    the constructor (see :meth:`set_params`).

    ## Episode End

    Terminated when the state leaves ``state_bounds`` (if given). No time
    limit of its own: wrap it in ``gymnasium.wrappers.TimeLimit``. A
    non-finite state raises :class:`~neurocontrol.exceptions.DivergenceError`.

    ## Arguments

    The constructor's keyword arguments are listed under Parameters.

    Parameters
    ----------
    sys : control.NonlinearIOSystem or control.StateSpace
        The system; its ``params`` are used (``params`` overrides them).
    dt : float, optional
        Control period; default ``sys.dt`` for a discrete system, required otherwise.
    substeps : int
        RK4 sub-steps per period (continuous systems), default 1.
    x0 : array_like or callable, optional
        Initial state (n,) or sampler ``x0(rng) -> (n,)``.
    input_limits : (m, 2)
        Finite actuator limits, required.
    observation : sequence of output names or indices
        Observed outputs, default all.
    observation_low, observation_high : (p,)
        Observation bounds (sensor ranges).
    output_noise_std : float or (p,)
        Standard deviation of the sensor noise.
    state_bounds : (n, 2)
        Terminate when the state leaves them.
    setpoint : (p,)
        Set-point of the observed outputs: the reward's, and (as ``env.setpoint``) the default design set-point of
        the generic baselines and the default reference.
    params : dict, optional
        Overrides of the system's ``params``, passed to its update and output functions.
    units : dict name -> unit string
        Unit of any state, input or output, by name (declared as ``env.units`` and recorded in
        results; signals left out have no unit).

    Attributes ``dt`` (s), ``substeps``, ``state`` (a copy), ``time`` (s),
    ``state_names``, ``input_names``, ``observation_names``, ``units`` and
    ``integrator`` make the plant self-describing.

    Examples
    --------
    >>> import control, numpy as np
    >>> sys = control.nlsys(lambda t, x, u, p: -x + u, None, states=["v"], inputs=["force"],
    ...                     outputs=["v"], name="lag")
    >>> env = IOSystemEnv(sys, dt=0.1, substeps=4, input_limits=[[-1.0, 1.0]])
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(np.array([1.0]))
    >>> env.dt, round(float(obs[0]), 6), env.observation_names
    (0.1, 0.095163, ('v',))
    """

    metadata = {"render_modes": []}

    def __init__(self, sys, *, dt: float | None = None, substeps: int = 1, x0=None, input_limits,
                 observation: Sequence | None = None, observation_low=None, observation_high=None,
                 output_noise_std=0.0, state_bounds=None, setpoint=None, params: Mapping | None = None,
                 units: Mapping | None = None):
        import control

        if not isinstance(sys, control.NonlinearIOSystem):
            if isinstance(sys, control.StateSpace):
                sys = control.nlsys(sys)
            else:
                raise ParameterError(f"`sys` must be a control.NonlinearIOSystem (e.g. from control.nlsys) or a "
                                     f"control.StateSpace, got {type(sys).__name__}.")
        self.sys = sys
        n, m, q = sys.nstates, sys.ninputs, sys.noutputs
        if m < 1 or q < 1:
            raise ParameterError(f"`sys` must have at least one input and one output, got {m} inputs and "
                                 f"{q} outputs.")
        self.discrete = bool(sys.isdtime(strict=True))
        substeps = check_substeps(substeps)
        if self.discrete:
            sys_dt = None if sys.dt is True else float(sys.dt)
            if dt is None:
                dt = sys_dt
            if dt is None:
                raise ParameterError("`dt` is required: the system is discrete with an unspecified period "
                                     "(dt=True); pass dt=... in s.")
            if sys_dt is not None and not math.isclose(check_positive(dt, "dt", unit="s"), sys_dt, rel_tol=1e-12):
                raise ParameterError(f"`dt` = {dt} s differs from the discrete system's period {sys_dt} s; "
                                     "leave dt out or resample the system.")
            if substeps != 1:
                raise ParameterError(f"`substeps` must be 1 for a discrete-time system, got {substeps}.")
        elif dt is None:
            raise ParameterError("`dt` is required for a continuous-time system: the control period in s, "
                                 "e.g. IOSystemEnv(sys, dt=0.01, substeps=5, ...).")
        self.dt = check_positive(dt, "dt", unit="s")
        self.substeps = substeps
        self.integrator = "discrete update" if self.discrete else "rk4 (fixed step)"
        self._params = {**sys.params, **dict(params or {})}
        self._params0 = dict(self._params)     # what reset restores after set_params

        self.state_names = tuple(sys.state_labels)
        self.input_names = tuple(sys.input_labels)
        output_names = tuple(sys.output_labels)
        self._out_idx = np.array(_select(output_names, range(q) if observation is None else observation,
                                         "observation"))
        self.observation_names = tuple(output_names[i] for i in self._out_idx)
        p = len(self._out_idx)
        self.units = _check_units(units, (*self.state_names, *self.input_names, *output_names))

        lim = as_float_array(input_limits, "input_limits", (m, 2))
        if np.any(lim[:, 0] >= lim[:, 1]):
            raise ParameterError(f"`input_limits` must have lower < upper in every row, got {lim.tolist()}.")
        self.action_space = spaces.Box(low=lim[:, 0].copy(), high=lim[:, 1].copy(), dtype=np.float64)
        self._lim = np.ascontiguousarray(lim)
        lo = np.full(p, -np.inf) if observation_low is None else \
            as_float_array(observation_low, "observation_low", (p,), finite=False)
        hi = np.full(p, np.inf) if observation_high is None else \
            as_float_array(observation_high, "observation_high", (p,), finite=False)
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo >= hi):
            raise ParameterError(f"`observation_low` must be below `observation_high` in every entry, "
                                 f"got {lo.tolist()} and {hi.tolist()}.")
        self.observation_space = spaces.Box(low=lo, high=hi, dtype=np.float64)
        self._obs_lo, self._obs_hi = lo, hi
        noise = as_float_array(output_noise_std, "output_noise_std")
        noise = np.full(p, float(noise)) if noise.ndim == 0 else as_float_array(noise, "output_noise_std", (p,))
        if np.any(noise < 0):
            raise ParameterError(f"`output_noise_std` must be non-negative, got {noise.tolist()}.")
        self._noise = noise
        self._noisy = bool(np.any(noise > 0))
        self._state_bounds = None if state_bounds is None else as_float_array(state_bounds, "state_bounds", (n, 2),
                                                                             finite=False)
        self._setpoint = None if setpoint is None else as_float_array(setpoint, "setpoint", (p,))
        #: Declared set-point of the observed outputs (or None): the reward's, and the default design set-point of the
        #: generic baselines and the default reference (a subclass may narrow it to its controlled outputs).
        self.setpoint = None if self._setpoint is None else self._setpoint.copy()
        if callable(x0):
            self._x0 = x0
        else:
            self._x0 = np.zeros(n) if x0 is None else as_float_array(x0, "x0", (n,)).copy()
        self._x = np.zeros(n) if not callable(x0) else np.zeros(n)
        self._u = np.zeros(m)
        self._sat = np.zeros(m, dtype=bool)
        self._clean = None     # the noiseless observation of the last step, when the env adds noise
        self._time = 0.0
        self._steps = 0
        self.render_mode = None

    # ------------------------------------------------------------------ helpers
    @property
    def state(self) -> np.ndarray:
        """The system's state (n,), a copy."""
        return self._x.copy()

    @property
    def time(self) -> float:
        """Simulated time since the last reset, s."""
        return self._time

    @property
    def params(self) -> dict:
        """Parameters passed to the system's update and output functions now (a copy; see :meth:`set_params`)."""
        return dict(self._params)

    def set_params(self, params: Mapping) -> None:
        """Change numeric parameters of the simulated system from the next step until the next reset.

        The names given take their new values; the others keep theirs (so a
        :class:`~neurocontrol.simulation.events.ParameterChange` event can
        scale a few of them). The next :meth:`reset` restores the parameters
        of the constructor. The action and observation spaces stay those of
        the constructor.

        Parameters
        ----------
        params : Mapping of str to float
            ``{name: value}``: names of numeric entries of :attr:`params`,
            finite real values.

        Raises
        ------
        ParameterError
            If ``params`` is not a mapping, names a parameter the system does
            not have or one whose value is not a number, or gives a value
            that is not a finite real number (nothing is changed then).

        Examples
        --------
        >>> import control
        >>> sys = control.nlsys(lambda t, x, u, p: -p["a"] * x + u, None, states=["v"], inputs=["f"],
        ...                     outputs=["v"], params={"a": 1.0})
        >>> env = IOSystemEnv(sys, dt=0.1, input_limits=[[-1.0, 1.0]])
        >>> _ = env.reset(seed=0)
        >>> env.set_params({"a": 2.0})
        >>> env.params["a"]
        2.0
        >>> _ = env.reset(seed=0)
        >>> env.params["a"]
        1.0
        """
        if not isinstance(params, Mapping):
            raise ParameterError(f"`params` must be a mapping {{name: value}} of parameters to change, "
                                 f"got {type(params).__name__}.")
        numeric = sorted(k for k, v in self._params.items() if isinstance(v, numbers.Real) and not isinstance(v, bool))
        clean = {}
        for name, value in params.items():
            if name not in self._params:
                raise ParameterError(f"`params` names unknown parameter {name!r}; the system's parameters are "
                                     f"{sorted(self._params)}.")
            if name not in numeric:
                raise ParameterError(f"parameter {name!r} is not a number ({self._params[name]!r}), so set_params "
                                     f"cannot change it; numeric parameters: {', '.join(numeric)}.")
            clean[name] = check_real(value, f"params[{name!r}]")
        self._params = {**self._params, **clean}

    def _initial_state(self, options) -> np.ndarray:
        n = self.sys.nstates
        x0 = options.get("initial_state")
        if x0 is not None:
            return as_float_array(x0, "initial_state", (n,)).copy()
        if callable(self._x0):
            x = self._x0(self.np_random)
            try:
                return as_float_array(x, "x0(rng)", (n,)).copy()
            except (ShapeError, NonFiniteError) as exc:
                raise ParameterError(f"the `x0` sampler must return a finite state of shape ({n},): {exc}") from None
        return self._x0.copy()

    def _output(self, u: np.ndarray) -> np.ndarray:
        sys = self.sys
        if sys.outfcn is None:
            y = self._x[: sys.noutputs].copy()
        else:
            y = np.asarray(sys.outfcn(self._time, self._x, u, self._params), dtype=np.float64).reshape(-1)
        y = y[self._out_idx]
        self._clean = None
        if self._noisy:
            self._clean = np.clip(y, self._obs_lo, self._obs_hi)
            y = y + self._noise * self.np_random.standard_normal(y.size)
        return np.clip(y, self._obs_lo, self._obs_hi)

    def _info(self) -> dict:
        info = {"state": self._x.copy(), "action": self._u.copy(), "saturated": self._sat.copy(),
                "time": self._time}
        if self._clean is not None:   # what the sensors would read without their noise (metrics on the true outputs)
            info["noiseless_observation"] = self._clean.copy()
        return info

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode. ``options={"initial_state": x}`` sets the state for this episode.

        Parameters
        ----------
        seed : int, optional
            Seeds ``self.np_random`` (Gymnasium semantics).
        options : dict, optional
            ``"initial_state"`` only.
        """
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        unknown = set(options) - {"initial_state"}
        if unknown:
            raise ParameterError(f"unknown reset options {sorted(unknown)}; valid: 'initial_state'.")
        self._params = dict(self._params0)
        self._x = self._initial_state(options)
        self._u = np.zeros(self.sys.ninputs)
        self._sat[:] = False
        self._time = 0.0
        self._steps = 0
        return self._output(self._u), self._info()

    def step(self, action):
        """Hold ``action`` for ``dt`` s; return ``(observation, reward, terminated, truncated, info)``.

        Parameters
        ----------
        action : array_like, shape (m,)
            The system's inputs; clipped to the action space.
        """
        a = as_float_array(action, "action", (self.sys.ninputs,), finite=False).reshape(-1)
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"`action` must be finite, got {a.tolist()}; the system was not stepped.")
        u = np.minimum(np.maximum(a, self._lim[:, 0]), self._lim[:, 1])
        self._sat = u != a
        self._u = u
        f = self.sys.updfcn
        if self.discrete:
            x = np.asarray(f(self._time, self._x, u, self._params), dtype=np.float64).reshape(-1)
        else:
            x = rk4_step(f, self._time, self._x, u, self._params, self.dt, self.substeps)
        if x.shape != self._x.shape:
            raise ShapeError(f"the system's update function returned shape {x.shape}, expected {self._x.shape}.")
        if not np.all(np.isfinite(x)):
            raise DivergenceError(f"the state became non-finite at t={self._time + self.dt:.4g} s ({x.tolist()}); "
                                  "check the system, its parameters and dt / substeps.")
        self._x = x
        self._steps += 1
        self._time = self._steps * self.dt
        obs = self._output(u)
        reward = 0.0 if self._setpoint is None else -float(np.sum((obs - self._setpoint) ** 2))
        terminated = False
        if self._state_bounds is not None:
            terminated = bool(np.any(x < self._state_bounds[:, 0]) or np.any(x > self._state_bounds[:, 1]))
        return obs, reward, terminated, False, self._info()


#: Gymnasium id of :class:`IOSystemEnv`: ``gymnasium.make(IOSYSTEM_ID, sys=..., dt=..., input_limits=...)``.
IOSYSTEM_ID = "neurocontrol/IOSystem-v0"


def register_env() -> None:
    """Register :data:`IOSYSTEM_ID` with Gymnasium (idempotent; done when this module is imported).

    No time limit is registered: pass ``max_episode_steps=...`` to ``gymnasium.make``.
    """
    if IOSYSTEM_ID not in gym.registry:
        gym.register(id=IOSYSTEM_ID, entry_point="plants.iosys_env:IOSystemEnv")


register_env()
