"""The helicopter's Gymnasium environment (:class:`HelicopterEnv`) and its sensor ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from neurocontrol._validation import as_float_array, check_positive, check_real, check_substeps
from neurocontrol.exceptions import DivergenceError, NonFiniteError, OutOfRangeError, ParameterError, TrimError
from plants.helicopter import _kernels
from plants.helicopter.dynamics import _trim_collective, hover_range, resolve_params, trim
from plants.helicopter.iosys import to_iosys as _to_iosys
from plants.helicopter.params import INPUT_NAMES, STATE_NAMES, UNITS, HelicopterParams

if TYPE_CHECKING:   # python-control is imported only when a system is made
    import control

__all__ = ["HelicopterEnv", "observation_bounds"]

_COEFFS = tuple(f"a{i}" for i in range(1, 16))


def observation_bounds(params: HelicopterParams | None = None) -> np.ndarray:
    """Return the sensor ranges of the five measured states, shape (2, 5): ``[low, high]``.

    The nominal state envelope of ``params`` widened by margins that the
    nominal plant does not reach within an episode: rotor speed ``[0, 2*max]``;
    altitude a quarter of the stand's span beyond each stop; collective half
    its span beyond each stop; climb rate and collective rate ``+-4x`` the
    largest nominal bound. Measurements are clipped to these ranges (sensor
    saturation), so observations always lie in the observation space.

    Parameters
    ----------
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set).
    """
    prm = resolve_params(params)
    (w_lo, w_hi), (z_lo, z_hi), (v_lo, v_hi), (t_lo, t_hi), (r_lo, r_hi) = prm.state_ranges
    v = 4.0 * max(abs(v_lo), abs(v_hi))
    r = 4.0 * max(abs(r_lo), abs(r_hi))
    zs = 0.25 * (z_hi - z_lo)
    ts = 0.5 * (t_hi - t_lo)
    return np.array([[0.0, z_lo - zs, -v, t_lo - ts, -r],
                     [2.0 * w_hi, z_hi + zs, v, t_hi + ts, r]], dtype=np.float64)


class HelicopterEnv(gym.Env[np.ndarray, np.ndarray]):
    r"""A small helicopter on a vertical test stand: hold rotor speed and altitude.

    ## Description

    A radio-controlled helicopter is mounted on a stand on which it can only
    move up and down between hard end stops at 0 and 2 m. The throttle drives
    the main-rotor speed; the collective servo sets the blade pitch, which with
    the rotor speed makes the thrust. The model (Esteban, Gordillo & Aracil,
    2013, after Pallett & Ahmad, 1991) has three time scales: collective servo
    (~20 ms), rotor (~0.66 s) and vertical motion (~10 s, plus a free altitude
    integrator). Altitude has relative degree 4 from the collective servo.
    See :class:`HelicopterParams` for the equations and constants.

    Each step integrates the plant over ``dt`` (default 10 ms) with fixed-step
    RK4 sub-steps (default 5, i.e. 2 ms) holding the action constant; the end
    stops act as contacts (the stand stops the helicopter; it stays on the stop
    until the net force pulls it away), the collective likewise at its stops.

    ## Action Space

    ``ndarray`` of shape (2,), float64, physical units. Actions outside the box
    are clipped; ``info["saturated"]`` tells which were. NaN, infinity or a
    wrong shape raise an error and never reach the plant.

    | Num | Action           | Unit    | Min  | Max |
    |-----|------------------|---------|------|-----|
    | 0   | throttle u0      | rad/s^2 | 0    | 400 |
    | 1   | collective servo u1 | rad/s^2 | -600 | 600 |

    Hover needs about u0 = 173.5, u1 = -96.0 at 140 rad/s (``env.unwrapped.trim_action``).

    ## Observation Space

    ``ndarray`` of shape (5,), float64: the measured state in physical units
    (true state plus optional sensor noise, clipped to the sensor ranges of
    :func:`observation_bounds`). Defaults:

    | Num | Observation     | Unit  | Min    | Max   | nominal envelope |
    |-----|-----------------|-------|--------|-------|------------------|
    | 0   | rotor_speed     | rad/s | 0      | 360   | 74.25 .. 180     |
    | 1   | altitude        | m     | -0.5   | 2.5   | 0 .. 2 (stops)   |
    | 2   | climb_rate      | m/s   | -22.8  | 22.8  | -2.85 .. 5.70    |
    | 3   | collective      | rad   | -0.0963| 0.3588| 0.0175 .. 0.245 (stops) |
    | 4   | collective_rate | rad/s | -38.08 | 38.08 | -9.52 .. 9.52    |

    ## Rewards

    ``r = -(w0*(e_omega/105.75)**2 + w1*(e_z/2)**2) / (w0 + w1)`` with the
    tracking errors ``e_omega`` (rad/s) and ``e_z`` (m) of the true state from
    the set-point, normalised by the spans of the rotor range and the stand;
    weights ``reward_weights=(w0, w1)``, default (1, 1). So ``r`` lies in
    about [-1, 0] and is 0 at the set-point.

    ## Starting State

    Rotor speed uniform in [120, 160] rad/s, altitude uniform in [0.2, 1.5] m,
    at rest (climb rate and collective rate 0), collective at the hover trim of
    the (possibly perturbed) plant for that rotor speed. ``reset(options=...)``
    accepts ``"initial_state"`` (5,) within the nominal envelope and
    ``"setpoint"`` (rotor_speed, altitude); the default set-point is
    (140 rad/s, 1.0 m).

    ## Episode End

    Terminated when the rotor speed leaves ``params.rotor_speed_range``
    ([74.25, 180] rad/s). Truncated by the registered time limit
    (``neurocontrol/Helicopter-v0``: 3000 steps = 30 s).

    ## Arguments

    The constructor's keyword arguments are listed under Parameters.

    Parameters
    ----------
    params : HelicopterParams or dict
        Nominal plant, default the published set.
    dt : float, s
        Control period, default 0.01 (exposed as ``env.unwrapped.dt``).
    substeps : int
        RK4 sub-steps per period, default 5 (2 ms).
    setpoint : (float, float)
        Default set-point (rad/s, m), default (140, 1).
    reward_weights : (float, float)
        Weights of rotor and altitude error.
    gust_rate : float, 1/s
        Mean rate of random vertical gusts (Poisson), default 0.
    gust_amplitude : float, m/s^2
        Standard deviation of a random gust's acceleration.
    gust_duration : float, s
        Duration of each random gust, default 0.5.
    gust_schedule : sequence of (t_start s, duration s, accel m/s^2)
        Deterministic gusts.
    sensor_noise_std : (5,) array
        Standard deviation of the noise on each measured state. With noise, ``info["noiseless_observation"]``
        is the observation without it (the loop's metrics on the true outputs).
    param_perturbation : float
        Relative standard deviation (at most 0.25) of a random factor applied to each of a1..a15 at
        every reset (a fresh plant per episode; factors truncated to [0.25, 1.75], so no sign
        flips), default 0.
    render_mode : None or "rgb_array"
        Headless rendering via matplotlib (Agg).

    All random draws use ``self.np_random``. Gusts are held constant over a
    control period and added to the vertical acceleration.

    ## Declared signals

    ``observation_names`` (the five states, in observation order),
    ``input_names`` (``throttle``, ``collective_servo``, in action order) and
    ``units`` (signal name -> unit string) describe the signals to generic
    code (closed loop, results, python-control bridge), which never guesses
    the plant from array sizes.

    Examples
    --------
    >>> import gymnasium as gym
    >>> import plants
    >>> env = gym.make("neurocontrol/Helicopter-v0")
    >>> obs, info = env.reset(seed=0, options={"initial_state": [140.0, 1.0, 0.0, 0.12301, 0.0]})
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.trim_action)
    >>> env.unwrapped.dt, bool(abs(obs[0] - 140.0) < 1e-3), terminated, info["saturated"].tolist()
    (0.01, True, False, [False, False])
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}
    #: Names of the observation entries, in order.
    observation_names: tuple[str, ...] = STATE_NAMES
    #: Per observation, the index of the observation that is its time derivative, or -1 (altitude: the climb
    #: rate; collective: the collective rate; rotor speed has no rate sensor).
    observation_rates: tuple[int, ...] = (-1, 2, -1, 4, -1)
    #: Names of the action entries, in order.
    input_names: tuple[str, ...] = INPUT_NAMES
    #: How the env integrates its state (recorded in every run's manifest).
    integrator: str = "rk4 (fixed step, end-stop contacts)"

    def __init__(self, params: HelicopterParams | None = None, *, dt: float = 0.01, substeps: int = 5,
                 setpoint: Sequence[float] = (140.0, 1.0), reward_weights: Sequence[float] = (1.0, 1.0),
                 gust_rate: float = 0.0, gust_amplitude: float = 0.0, gust_duration: float = 0.5,
                 gust_schedule: Sequence[Sequence[float]] = (), sensor_noise_std=None,
                 param_perturbation: float = 0.0, render_mode: str | None = None):
        self._nominal = resolve_params(params)
        #: Unit of every observation and input, by name.
        self.units: dict[str, str] = dict(UNITS)
        self.dt = check_positive(dt, "dt", unit="s")
        self.substeps = check_substeps(substeps)
        self._default_setpoint = self._check_setpoint(setpoint)
        w = as_float_array(reward_weights, "reward_weights", (2,))
        if np.any(w < 0) or w.sum() <= 0:
            raise ParameterError(f"`reward_weights` must be non-negative and not both zero, got {w.tolist()}.")
        span_w = np.diff(self._nominal.rotor_speed_range)[0]
        span_z = np.diff(self._nominal.altitude_range)[0]
        self._reward_coef = (float(w[0] / w.sum() / span_w ** 2), float(w[1] / w.sum() / span_z ** 2))
        self.reward_weights = tuple(w.tolist())
        self._gust_rate = check_positive(gust_rate, "gust_rate", unit="1/s", allow_zero=True)
        self._gust_amplitude = check_positive(gust_amplitude, "gust_amplitude", unit="m/s^2", allow_zero=True)
        self._gust_duration = check_positive(gust_duration, "gust_duration", unit="s")
        self._gust_schedule = self._check_schedule(gust_schedule)
        if sensor_noise_std is None:
            self._noise_std = np.zeros(5)
        else:
            self._noise_std = as_float_array(sensor_noise_std, "sensor_noise_std", (5,)).copy()
            if np.any(self._noise_std < 0):
                raise ParameterError(f"`sensor_noise_std` must be non-negative, got {self._noise_std.tolist()}.")
        self._noise_std.setflags(write=False)
        self._noisy = bool(np.any(self._noise_std > 0))
        self._param_rel_std = check_real(param_perturbation, "param_perturbation", low=0.0, high=0.25)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ParameterError(f"`render_mode` must be None or one of {self.metadata['render_modes']}, "
                                 f"got {render_mode!r}.")
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": max(1, round(1.0 / self.dt))}

        limits = self._nominal.input_limits
        self.action_space = spaces.Box(low=limits[:, 0], high=limits[:, 1], dtype=np.float64)
        self._obs_bounds = observation_bounds(self._nominal)
        self._obs_bounds.setflags(write=False)
        self.observation_space = spaces.Box(low=self._obs_bounds[0], high=self._obs_bounds[1], dtype=np.float64)
        self._limits = np.ascontiguousarray(limits)
        self._effectiveness = np.ones(2)
        self._limits_eff = self._limits.copy()
        self._degraded = False
        self._rotor_lo, self._rotor_hi = self._nominal.rotor_speed_range

        # Episode state, owned here; the kernels only see buffers.
        self._params = self._nominal
        self._p = self._params.to_vector()
        self._x = np.array(self._nominal_trim_state(140.0))
        self._u = np.zeros(2)
        self._sat = np.zeros(2, dtype=bool)
        self._setpoint = self._default_setpoint.copy()
        self._ref0, self._ref1 = float(self._setpoint[0]), float(self._setpoint[1])
        self._trim_cache: tuple[float, np.ndarray] = (math.nan, np.zeros(2))   # (rotor set-point, trim input)
        self._time = 0.0
        self._steps = 0
        self._random_gusts: list[tuple[float, float]] = []
        self._has_gusts = bool(self._gust_schedule) or (self._gust_rate > 0 and self._gust_amplitude > 0)
        self._p_gust = -math.expm1(-self._gust_rate * self.dt)
        self._figure = None

    # ------------------------------------------------------------------ checks
    def _check_setpoint(self, setpoint) -> np.ndarray:
        sp = as_float_array(setpoint, "setpoint", (2,)).copy()
        lo, hi = hover_range(self._nominal)
        if not lo <= sp[0] <= hi:
            raise OutOfRangeError(f"`setpoint` rotor speed must be in [{lo:.4f}, {hi:.4f}] rad/s (where the "
                                  f"helicopter can hover), got {sp[0]}.")
        z_lo, z_hi = self._nominal.altitude_range
        if not z_lo <= sp[1] <= z_hi:
            raise OutOfRangeError(f"`setpoint` altitude must be in [{z_lo}, {z_hi}] m (the stand), got {sp[1]}.")
        return sp

    def _check_initial_state(self, x0) -> np.ndarray:
        x = as_float_array(x0, "initial_state", (5,)).copy()
        ranges = self._nominal.state_ranges
        for i, name in enumerate(STATE_NAMES):
            if not ranges[i, 0] <= x[i] <= ranges[i, 1]:
                raise OutOfRangeError(f"`initial_state[{i}]` ({name}) must be in [{ranges[i, 0]}, {ranges[i, 1]}], "
                                      f"got {x[i]}.")
        return x

    @staticmethod
    def _check_schedule(schedule) -> tuple[tuple[float, float, float], ...]:
        rows = [] if schedule is None else list(schedule)
        if not rows:
            return ()
        arr = as_float_array(rows, "gust_schedule", (None, 3))
        if np.any(arr[:, 0] < 0) or np.any(arr[:, 1] <= 0):
            raise ParameterError("`gust_schedule` rows must be (t_start >= 0 s, duration > 0 s, accel m/s^2), "
                                 f"got {arr.tolist()}.")
        return tuple((float(a), float(b), float(c)) for a, b, c in arr)

    def _nominal_trim_state(self, rotor_speed: float) -> np.ndarray:
        th = _trim_collective(self._nominal.to_vector(), rotor_speed)
        th_lo, th_hi = self._nominal.collective_range
        th = th_lo if not math.isfinite(th) else min(max(th, th_lo), th_hi)
        return np.array([rotor_speed, 1.0, 0.0, th, 0.0])

    # ------------------------------------------------------------- public API
    @property
    def state(self) -> np.ndarray:
        """True plant state (5,), a copy (rotor_speed, altitude, climb_rate, collective, collective_rate)."""
        return self._x.copy()

    @property
    def time(self) -> float:
        """Simulated time since the last reset, s."""
        return self._time

    @property
    def setpoint(self) -> np.ndarray:
        """Current set-point (rotor_speed rad/s, altitude m), a copy."""
        return self._setpoint.copy()

    @property
    def params(self) -> HelicopterParams:
        """Parameters of the plant being simulated now (perturbed / changed by :meth:`set_params`)."""
        return self._params

    @property
    def nominal_params(self) -> HelicopterParams:
        """Parameters given to the constructor."""
        return self._nominal

    @property
    def trim_action(self) -> np.ndarray:
        """Hover input (throttle, collective_servo) of the *nominal* plant at the set-point rotor speed, a copy.

        With ``param_perturbation`` or after :meth:`set_params` it is no longer
        an exact equilibrium of the simulated plant.
        """
        key, u = self._trim_cache
        if key != self._ref0:
            u = trim(self._ref0, self._ref1, self._nominal).u
            self._trim_cache = (self._ref0, u)
        return u.copy()

    @property
    def operating_point(self) -> tuple[np.ndarray, np.ndarray]:
        """Hover trim ``(x, u)`` at the set-point, copies: where generic trim searches start (see :meth:`to_iosys`).

        The trim of the plant being simulated (:attr:`params`); the nominal
        plant's when the simulated one cannot hover at the set-point.
        """
        try:
            tp = trim(self._ref0, self._ref1, self._params)
        except TrimError:
            tp = trim(self._ref0, self._ref1, self._nominal)
        return tp.x.copy(), tp.u.copy()

    def to_iosys(self, *, name: str = "helicopter") -> control.NonlinearIOSystem:
        """Return the plant being simulated as a continuous-time python-control system (free flight).

        :func:`plants.helicopter.iosys.to_iosys` of :attr:`params` (the
        nominal parameters before the first reset; the perturbed or changed
        ones afterwards): states ``rotor_speed, altitude, climb_rate,
        collective, collective_rate``, outputs ``y = x`` named like the
        states, so :attr:`observation_names` are its outputs in observation
        order; inputs ``throttle, collective_servo`` in action order. Generic
        model-based controllers (``[controller] kind = "lqr_i"``,
        ``"pid_auto"``) design at its trim for the set-point, starting the
        search from :attr:`operating_point`.

        Parameters
        ----------
        name : str, default "helicopter"
            System name.

        Returns
        -------
        control.NonlinearIOSystem

        Notes
        -----
        Free flight: the end stops (altitude 0 and 2 m, collective 0.0175 and
        0.245 rad), gusts, sensor noise and actuator faults are not modelled,
        so the model holds only away from the stops; the env's steps are RK4
        integrations of the same right-hand side between contacts.

        Examples
        --------
        >>> env = HelicopterEnv()
        >>> sys = env.to_iosys()
        >>> sys.output_labels == list(env.observation_names), sys.input_labels == list(env.input_names)
        (True, True)
        """
        return _to_iosys(self._params, name=name)

    def set_params(self, params) -> None:
        """Change the simulated plant from now until the next reset (e.g. a fault).

        The action limits and the observation space stay those of the
        constructor's parameters; the next :meth:`reset` restores the nominal
        parameters (perturbed if ``param_perturbation > 0``).

        Parameters
        ----------
        params : HelicopterParams or dict
            The new plant parameters.

        Examples
        --------
        >>> env = HelicopterEnv()
        >>> _ = env.reset(seed=1)
        >>> p = env.params
        >>> env.set_params(p.replace(a8=1.3 * p.a8, a9=1.3 * p.a9))
        >>> round(env.params.a8, 6)
        -0.91
        """
        self._params = resolve_params(params)
        self._p = self._params.to_vector()

    @property
    def actuator_effectiveness(self) -> np.ndarray:
        """Fraction of each commanded input the actuators deliver (1 = healthy), a copy."""
        return self._effectiveness.copy()

    def set_actuator_effectiveness(self, effectiveness) -> None:
        """Degrade the actuators from now until the next reset (loss-of-effectiveness fault).

        The plant receives ``effectiveness * clip(action, limits)``; the
        saturation flags in ``info`` still refer to the commanded action.

        Parameters
        ----------
        effectiveness : array_like, shape (2,)
            Per input (throttle, collective servo), in [0, 1].

        Examples
        --------
        >>> env = HelicopterEnv()
        >>> _ = env.reset(seed=0)
        >>> env.set_actuator_effectiveness([1.0, 0.7])
        >>> env.actuator_effectiveness.tolist()
        [1.0, 0.7]
        """
        eff = as_float_array(effectiveness, "effectiveness", (2,))
        if np.any(eff < 0) or np.any(eff > 1):
            raise ParameterError(f"`effectiveness` must lie in [0, 1] per input, got {eff.tolist()}.")
        self._effectiveness = eff.copy()
        self._limits_eff = np.ascontiguousarray(self._limits * eff[:, None])
        self._degraded = bool(np.any(eff != 1.0))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; see the class docstring for ``options``.

        Parameters
        ----------
        seed : int, optional
            Seeds ``self.np_random`` (Gymnasium semantics).
        options : dict, optional
            ``"initial_state"`` and ``"setpoint"`` (see the class docstring).
        """
        super().reset(seed=seed)
        self.set_actuator_effectiveness((1.0, 1.0))
        options = {} if options is None else options
        unknown = set(options) - {"initial_state", "setpoint"}
        if unknown:
            raise ParameterError(f"unknown reset options {sorted(unknown)}; valid: 'initial_state', 'setpoint'.")
        rng = self.np_random
        sp = self._check_setpoint(options["setpoint"]) if options.get("setpoint") is not None \
            else self._default_setpoint.copy()
        x0 = options.get("initial_state")
        x0 = self._check_initial_state(x0) if x0 is not None else None
        if self._param_rel_std > 0:
            factors = np.clip(1.0 + self._param_rel_std * rng.standard_normal(15), 0.25, 1.75)
            self._params = self._nominal.replace(**{n: getattr(self._nominal, n) * f
                                                    for n, f in zip(_COEFFS, factors)})
        else:
            self._params = self._nominal
        self._p = self._params.to_vector()
        if x0 is None:
            omega = rng.uniform(120.0, 160.0)
            z = rng.uniform(0.2, 1.5)
            th = _trim_collective(self._p, omega)
            th_lo, th_hi = self._params.collective_range
            th = th_lo if not math.isfinite(th) else min(max(th, th_lo), th_hi)   # no hover: rest on a stop
            x0 = np.array([omega, z, 0.0, th, 0.0])
        self._x[:] = x0
        self._setpoint = sp
        self._ref0, self._ref1 = float(sp[0]), float(sp[1])
        self._time = 0.0
        self._steps = 0
        self._random_gusts = []
        self._sat[:] = False
        clean = np.clip(self._x, self._obs_bounds[0], self._obs_bounds[1])
        return self._measure(clean), self._info(clean)

    def step(self, action):
        """Apply ``action`` (throttle, collective_servo) for ``dt`` s; return the Gymnasium 5-tuple.

        Parameters
        ----------
        action : array_like, shape (2,)
            Throttle and collective servo, rad/s^2; clipped to the action space.
        """
        if not (type(action) is np.ndarray and action.dtype == np.float64 and action.shape == (2,)):
            action = as_float_array(action, "action", (2,), finite=False)
        d = self._gust_accel() if self._has_gusts else 0.0
        obs = np.empty(5)
        limits = self._limits
        if self._degraded:
            action = action * self._effectiveness
            limits = self._limits_eff
        status = _kernels.env_step_kernel(self._x, action, limits, self._obs_bounds, self._p, d, self.dt,
                                          self.substeps, self._rotor_lo, self._rotor_hi, self._u, self._sat, obs)
        if status == _kernels.STATUS_BAD_ACTION:
            raise NonFiniteError(f"`action` must be finite, got {action.tolist()}; the plant was not stepped.")
        if status == _kernels.STATUS_NONFINITE:
            raise DivergenceError(f"the plant state became non-finite at t={self._time + self.dt:.4g} s "
                                  f"({self._x.tolist()}); check the plant parameters.")
        self._steps += 1
        self._time = self._steps * self.dt
        clean = obs
        if self._noisy:
            obs = self._measure(obs)
        x = self._x
        ew = x[0] - self._ref0
        ez = x[1] - self._ref1
        reward = -float(self._reward_coef[0] * ew * ew + self._reward_coef[1] * ez * ez)
        return obs, reward, status == _kernels.STATUS_ROTOR_OUT_OF_RANGE, False, self._info(clean)

    def render(self):
        """Return an RGB image (H, W, 3) of the stand, or None when ``render_mode`` is None."""
        if self.render_mode is None:
            return None
        # matplotlib is imported only when an image is asked for
        from plants.helicopter._render import make_figure, render_rgb

        if self._figure is None:
            self._figure = make_figure()
        return render_rgb(self._figure, self._x, self._setpoint, self._u, self._time, self._nominal)

    def close(self):
        """Release the rendering figure."""
        self._figure = None

    # ---------------------------------------------------------------- helpers
    def _info(self, clean: np.ndarray) -> dict:
        info = {"saturated": self._sat.copy(), "time": self._time, "setpoint": self._setpoint.copy(),
                "state": self._x.copy(), "action": self._u.copy()}
        if self._noisy:       # what the sensors would read without their noise (metrics on the true outputs)
            info["noiseless_observation"] = clean.copy()
        return info

    def _measure(self, obs: np.ndarray) -> np.ndarray:
        if self._noisy:
            obs = obs + self._noise_std * self.np_random.standard_normal(5)
            np.clip(obs, self._obs_bounds[0], self._obs_bounds[1], out=obs)
        return obs

    def _gust_accel(self) -> float:
        t = self._time
        d = 0.0
        for t0, dur, acc in self._gust_schedule:
            if t0 <= t < t0 + dur:
                d += acc
        if self._gust_rate > 0 and self._gust_amplitude > 0:
            gusts = [g for g in self._random_gusts if g[0] > t]
            if self.np_random.random() < self._p_gust:
                gusts.append((t + self._gust_duration, self._gust_amplitude * self.np_random.standard_normal()))
            self._random_gusts = gusts
            for _, acc in gusts:
                d += acc
        return d
