"""Baseline controllers of the helicopter on a stand: the PID gains, decoupled PID, and LQR with integral action.

Both controllers subclass :class:`neurocontrol.controllers.base.AbstractController`:
they map the measured state ``(rotor_speed, altitude, climb_rate, collective,
collective_rate)`` and the set-points of the controlled outputs ``(rotor_speed
rad/s, altitude m)`` to the plant input ``(throttle, collective_servo)`` in
rad/s^2, within the actuator limits. They are the yardsticks for the adaptive
neural controller; they know the helicopter's state layout, so they live with
the plant.

The ``from_plant`` constructors use the plant model (trim, linearisation) to
set feedforward values and gains; the controller objects themselves work from
observations only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import ParameterError
from plants.helicopter.dynamics import linearize, resolve_params, trim

__all__ = ["MAX_GAIN", "check_gain", "PIDGains", "PIDController", "LQRController"]

_ROTOR, _ALT, _CLIMB, _PITCH, _PITCH_RATE = range(5)


#: Largest accepted PID gain (any of the seven, in its own unit) and servo gain: far above any gain that flies the
#: helicopter (the defaults are 0.03 to 1000), below any that could overflow the control arithmetic.
MAX_GAIN = 1e9


def check_gain(value, name: str, *, allow_zero: bool = True) -> float:
    """Check a loop gain: a finite number in [0, :data:`MAX_GAIN`] (> 0 unless ``allow_zero``); return it as a float.

    Parameters
    ----------
    value : object
        The gain.
    name : str
        Its name, for the error message.
    allow_zero : bool, default True
        Accept 0.

    Raises
    ------
    ParameterError
        If it is not a finite number, is negative (or 0 when not allowed), or exceeds :data:`MAX_GAIN`.
    """
    v = check_positive(value, name, allow_zero=allow_zero)
    if v > MAX_GAIN:
        raise ParameterError(f"`{name}` must be at most {MAX_GAIN:g}, got {value!r}: a larger gain turns the loop "
                             "into a relay on any error the sensors resolve (check the units).")
    return v


@dataclass(frozen=True, kw_only=True)
class PIDGains:
    """The seven gains of :class:`PIDController`, each a finite number in [0, :data:`MAX_GAIN`] (1e9).

    Parameters
    ----------
    kp_rotor : float, default 10.0
        Proportional gain of the rotor-speed loop, (rad/s^2)/(rad/s).
    ki_rotor : float, default 20.0
        Integral gain of the rotor-speed loop, (rad/s^2)/rad.
    kp_alt : float, default 0.062
        Proportional gain of the altitude loop, rad/m.
    ki_alt : float, default 0.041
        Integral gain of the altitude loop, rad/(m s).
    kd_alt : float, default 0.03
        Derivative gain of the altitude loop on the measured climb rate, rad/(m/s).
    kp_pitch : float, default 1000.0
        Proportional gain of the inner collective-pitch loop, (rad/s^2)/rad.
    kd_pitch : float, default 20.0
        Derivative gain of the inner collective-pitch loop, (rad/s^2)/(rad/s).
    """

    kp_rotor: float = 10.0
    ki_rotor: float = 20.0
    kp_alt: float = 0.062
    ki_alt: float = 0.041
    kd_alt: float = 0.030
    kp_pitch: float = 1000.0
    kd_pitch: float = 20.0

    def __post_init__(self):
        for f in dataclasses.fields(PIDGains):
            object.__setattr__(self, f.name, check_gain(getattr(self, f.name), f.name))

    @property
    def gains(self) -> "PIDGains":
        """The seven gains alone, as a :class:`PIDGains` (also of a subclass such as a scenario config)."""
        return PIDGains(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PIDGains)})


def _gains(gains, name: str) -> "PIDGains":
    if not isinstance(gains, PIDGains):
        raise ParameterError(f"`{name}` must be a PIDGains (e.g. PIDGains(kp_alt=0.05)), got {type(gains).__name__}.")
    return gains.gains


def _plant(params, rotor_speed, altitude):
    """Trim and linearisation of the helicopter model at a hover point."""
    prm = resolve_params(params)
    tp = trim(rotor_speed, altitude, prm)
    return prm, tp, linearize(tp.x, tp.u, prm)


class _IntegratingBaseline(AbstractController):
    """The state the two baselines share: the integrals of the rotor-speed and altitude errors."""

    _int: np.ndarray

    @property
    def integrators(self) -> np.ndarray:
        """Integrated output errors (rotor rad, altitude m*s), a copy."""
        return self._int.copy()

    def get_state(self) -> dict:
        """Return the controller's state (the integrators) for a checkpoint."""
        return {"integrators": self._int.copy()}

    def set_state(self, state: dict) -> None:
        """Restore the state returned by :meth:`get_state`.

        Parameters
        ----------
        state : dict
            ``{"integrators": array of shape (2,)}``.
        """
        if set(state) != {"integrators"}:
            raise ParameterError(f"`state` must hold exactly 'integrators', got {sorted(state)}.")
        self._int[:] = as_float_array(state["integrators"], "state['integrators']", (2,))

    def _reset_impl(self, observation, reference, seed) -> None:
        if observation.shape != (5,):
            raise ParameterError(f"`observation` must be the full helicopter state of shape (5,), "
                                 f"got {observation.shape}.")
        self._int[:] = 0.0


class PIDController(_IntegratingBaseline):
    r"""Decoupled PID: rotor speed by throttle, altitude by a collective cascade.

    Rotor loop (PI around the trim throttle)::

        u0 = u0* + kp_rotor * e_w + ki_rotor * int(e_w dt)

    Altitude cascade: a PID on altitude, with the derivative taken from the
    measured climb rate (no derivative kick), gives a collective-pitch demand
    around trim; an inner proportional-derivative pitch loop around the
    servo's static input drives the collective to it::

        theta_ref = theta* + kp_alt * e_z + ki_alt * int(e_z dt) - kd_alt * zdot
        u1 = u1* + servo_gain * (theta_ref - theta*) + kp_pitch * (theta_ref - theta) - kd_pitch * thetadot

    ``e = reference - measurement``; ``theta_ref`` is limited to ``pitch_limits``.

    Parameters
    ----------
    trim_input : array_like, shape (2,)
        Feedforward (u0*, u1*), rad/s^2, within ``input_limits``.
    trim_collective : float
        theta* in rad, the collective at the trim.
    servo_gain : float
        Static gain of the collective servo, d u1 / d theta, rad/s^2 per rad
        (2745 at 140 rad/s): the input change that holds a pitch change; in
        (0, :data:`MAX_GAIN`].
    gains : PIDGains, optional
        The seven loop gains; default ``PIDGains()`` (each at most :data:`MAX_GAIN`).
    start_gains : PIDGains, optional
        Gains of the first ``start_duration`` seconds after each :meth:`reset` (e.g. stiffer loops that pull
        the plant in from its initial offset); then ``gains``. At the switch each integrator is rescaled by the
        ratio of its two integral gains, so the integral actions, and the input, carry on without a jump.
    start_duration : float, default 0.0
        Seconds flown with ``start_gains`` (rounded to whole control steps); 0: none.
    pitch_limits : (float, float)
        Range of the collective demand, rad (inside the mechanical stops).
    input_limits : array_like, shape (2, 2)
        Actuator limits, rad/s^2.
    dt : float
        Control period, s.

    Notes
    -----
    Anti-windup by conditional integration: an integrator is frozen while its
    loop's actuator (throttle; pitch demand or collective servo) is saturated
    in the direction the error would push it. Integrators also start from
    zero at :meth:`reset`. Use :meth:`from_plant` for gains that work on the
    helicopter's hover task.

    Examples
    --------
    >>> import gymnasium as gym, plants
    >>> from plants.helicopter.baselines import PIDController
    >>> env = gym.make("neurocontrol/Helicopter-v0")
    >>> ctrl = PIDController.from_plant()
    >>> obs, info = env.reset(seed=0)
    >>> ctrl.reset(obs, info["setpoint"])
    >>> for _ in range(3000):
    ...     obs, r, term, trunc, info = env.step(ctrl.step(obs, info["setpoint"]))
    >>> bool(abs(obs[0] - 140) < 1.4 and abs(obs[1] - 1.0) < 0.02)
    True
    """

    def __init__(self, *, trim_input, trim_collective: float, servo_gain: float, gains: PIDGains | None = None,
                 start_gains: PIDGains | None = None, start_duration: float = 0.0,
                 pitch_limits=(0.0175, 0.245), input_limits=((0.0, 400.0), (-600.0, 600.0)), dt: float = 0.01):
        super().__init__(input_limits=input_limits, output_indices=(_ROTOR, _ALT), dt=dt)
        self._n_obs = 5
        if self.n_inputs != 2:
            raise ParameterError(f"`input_limits` must have 2 rows (throttle, collective_servo), got {self.n_inputs}.")
        self.trim_input = as_float_array(trim_input, "trim_input", (2,)).copy()
        lim_u = self.input_limits
        if np.any(self.trim_input < lim_u[:, 0]) or np.any(self.trim_input > lim_u[:, 1]):
            raise ParameterError(f"`trim_input` must lie within the input limits {lim_u.tolist()} (it is a hover "
                                 f"input), got {self.trim_input.tolist()}.")
        self.trim_collective = float(as_float_array(trim_collective, "trim_collective", ()))
        self.servo_gain = check_gain(servo_gain, "servo_gain", allow_zero=False)
        self.gains = _gains(PIDGains() if gains is None else gains, "gains")
        self.start_gains = None if start_gains is None else _gains(start_gains, "start_gains")
        duration = check_positive(start_duration, "start_duration", unit="s", allow_zero=True)
        if duration > 0 and self.start_gains is None:
            raise ParameterError(f"`start_duration` ({duration:g} s) needs `start_gains`, the gains of that start "
                                 f"(e.g. PIDGains(kp_rotor=20.0)); or set start_duration = 0.")
        self.start_steps = int(round(duration / self.dt)) if self.start_gains is not None else 0
        self._k = 0
        self._use(self.gains)
        lim = as_float_array(pitch_limits, "pitch_limits", (2,))
        if not lim[0] < lim[1]:
            raise ParameterError(f"`pitch_limits` must have lower < upper, got {lim.tolist()}.")
        self.pitch_limits = (float(lim[0]), float(lim[1]))
        self._int = np.zeros(2)

    @classmethod
    def from_plant(cls, params=None, rotor_speed: float = 140.0, altitude: float = 1.0, dt: float = 0.01,
                   gains: PIDGains | None = None) -> "PIDController":
        """Make a PID around the hover trim of the helicopter model at ``rotor_speed`` (rad/s).

        Feedforward, servo gain, pitch limits (the stops, 1 mrad inside) and
        actuator limits come from the model.

        Parameters
        ----------
        params : HelicopterParams or dict or None
            Model parameters (default: the published set).
        rotor_speed : float, default 140.0
            Design rotor speed, rad/s.
        altitude : float, default 1.0
            Design altitude, m.
        dt : float, default 0.01
            Control period, s.
        gains : PIDGains, optional
            The loop gains; default ``PIDGains()``.

        Returns
        -------
        PIDController
        """
        prm, tp, lin = _plant(params, rotor_speed, altitude)
        th_lo, th_hi = prm.collective_range
        return cls(trim_input=tp.u, trim_collective=tp.collective, servo_gain=-lin.A[4, 3], gains=gains,
                   pitch_limits=(th_lo + 1e-3, th_hi - 1e-3), input_limits=prm.input_limits, dt=dt)

    def _use(self, g: PIDGains) -> None:
        self.kp_rotor, self.ki_rotor, self.kp_alt, self.ki_alt = g.kp_rotor, g.ki_rotor, g.kp_alt, g.ki_alt
        self.kd_alt, self.kp_pitch, self.kd_pitch = g.kd_alt, g.kp_pitch, g.kd_pitch

    def _reset_impl(self, observation, reference, seed) -> None:
        super()._reset_impl(observation, reference, seed)
        self._k = 0
        self._use(self.start_gains if self.start_steps > 0 else self.gains)

    def get_state(self) -> dict:
        """Return the controller's state for a checkpoint: the integrators (and the steps since reset, with a start)."""
        return {"integrators": self._int.copy(), "steps": self._k} if self.start_steps else super().get_state()

    def set_state(self, state: dict) -> None:
        """Restore the state returned by :meth:`get_state` (a state without ``"steps"``: after the start).

        Parameters
        ----------
        state : dict
            ``{"integrators": array of shape (2,)}``, and ``"steps"`` (int, steps since reset) with a start.
        """
        state = dict(state)
        steps = state.pop("steps", self.start_steps + 1)      # without "steps": after the start's switch
        super().set_state(state)
        self._k = check_int(steps, "state['steps']", low=0)
        self._use(self.start_gains if self._k <= self.start_steps else self.gains)   # switched in step start_steps + 1

    def _step_impl(self, observation, reference) -> np.ndarray:
        if self._k == self.start_steps and self.start_steps > 0:      # the start is over: carry the integral actions
            for i, (now, then) in enumerate(((self.ki_rotor, self.gains.ki_rotor), (self.ki_alt, self.gains.ki_alt))):
                self._int[i] *= now / then if then > 0 else 1.0
            self._use(self.gains)
        self._k += 1
        y = observation
        lim = self.input_limits
        e_w = reference[0] - y[_ROTOR]
        e_z = reference[1] - y[_ALT]
        # rotor: PI around trim throttle
        u0_lin = self.trim_input[0] + self.kp_rotor * e_w
        u0 = u0_lin + self.ki_rotor * self._int[0]
        if not ((u0 >= lim[0, 1] and e_w > 0) or (u0 <= lim[0, 0] and e_w < 0)):
            self._int[0] += e_w * self.dt
        # altitude: PID -> pitch demand, derivative on the measured climb rate
        th_ref = self.trim_collective + self.kp_alt * e_z + self.ki_alt * self._int[1] - self.kd_alt * y[_CLIMB]
        th_sat = min(max(th_ref, self.pitch_limits[0]), self.pitch_limits[1])
        u1 = (self.trim_input[1] + self.servo_gain * (th_sat - self.trim_collective)
              + self.kp_pitch * (th_sat - y[_PITCH]) - self.kd_pitch * y[_PITCH_RATE])
        pushing_up = e_z > 0
        saturated = ((th_ref >= self.pitch_limits[1] or u1 >= lim[1, 1]) and pushing_up) or \
                    ((th_ref <= self.pitch_limits[0] or u1 <= lim[1, 0]) and not pushing_up)
        if not saturated:
            self._int[1] += e_z * self.dt
        return np.array([u0, u1])


class LQRController(_IntegratingBaseline):
    r"""Discrete LQR with integral action on the rotor-speed and altitude errors.

    Designed on the zero-order-hold discretisation of the linearisation at a
    hover trim, augmented with two integrators ``xi[k+1] = xi[k] + dt * (y[k] - r[k])``
    of the output errors; the control acts around the trim input::

        u = u* - Kx (x - x_ref) - Ki xi,   x_ref = (r_w, r_z, 0, theta*, 0)

    where ``(Kx, Ki) = K`` minimises ``sum(z' Q z + du' R du)`` over the augmented
    state ``z = (x - x_ref, xi)`` (``control.dlqr``).

    Parameters
    ----------
    K : array_like, shape (2, 7)
        Gain on ``(x - x_ref, xi)``.
    trim_state : array_like, shape (5,)
        Design trim state; its collective (index 3) is used in ``x_ref``.
    trim_input : array_like, shape (2,)
        Design trim input u*, rad/s^2.
    input_limits : array_like, shape (2, 2)
        Actuator limits, rad/s^2.
    dt : float
        Control period, s (the one the gain was designed for).
    integrator_limit : array_like, shape (2,), default (20, 2)
        Clamp on ``|xi|`` (rad and m*s).

    Notes
    -----
    Anti-windup: conditional integration: the integrators are frozen in a
    step where the unsaturated control leaves the actuator limits and the
    integrator update would push it further out; plus the clamp above. With a
    set-point rotor speed away from the design point, the integrators remove
    the trim mismatch.

    Examples
    --------
    >>> from plants.helicopter.baselines import LQRController
    >>> ctrl = LQRController.from_plant()
    >>> ctrl.K.shape
    (2, 7)
    """

    def __init__(self, *, K, trim_state, trim_input, input_limits=((0.0, 400.0), (-600.0, 600.0)),
                 dt: float = 0.01, integrator_limit=(20.0, 2.0)):
        super().__init__(input_limits=input_limits, output_indices=(_ROTOR, _ALT), dt=dt)
        self._n_obs = 5
        if self.n_inputs != 2:
            raise ParameterError(f"`input_limits` must have 2 rows (throttle, collective_servo), got {self.n_inputs}.")
        self.K = as_float_array(K, "K", (2, 7)).copy()
        self.K.setflags(write=False)
        self._Kx = np.ascontiguousarray(self.K[:, :5])
        self._Ki = np.ascontiguousarray(self.K[:, 5:])
        self.trim_state = as_float_array(trim_state, "trim_state", (5,)).copy()
        self.trim_input = as_float_array(trim_input, "trim_input", (2,)).copy()
        lim = as_float_array(integrator_limit, "integrator_limit", (2,))
        if np.any(lim <= 0):
            raise ParameterError(f"`integrator_limit` must be positive, got {lim.tolist()}.")
        self.integrator_limit = lim.copy()
        self._int = np.zeros(2)
        self._dx = np.zeros(5)

    @staticmethod
    def design(A, B, dt: float, Q, R):
        """Return ``(K, Ad, Bd, Aa, Ba)``: the dlqr gain on the ZOH-discretised, integrator-augmented model.

        ``A`` (5, 5), ``B`` (5, 2) continuous time; outputs are states 0 and 1;
        ``Q`` (7, 7) weighs ``(dx, xi)``; ``R`` (2, 2) weighs ``du``.
        """
        A = as_float_array(A, "A", (5, 5))
        B = as_float_array(B, "B", (5, 2))
        Q = as_float_array(Q, "Q", (7, 7))
        R = as_float_array(R, "R", (2, 2))
        dt = check_positive(dt, "dt", unit="s")
        if not np.allclose(Q, Q.T) or np.any(np.linalg.eigvalsh(0.5 * (Q + Q.T)) < -1e-12):
            raise ParameterError("`Q` must be symmetric positive semi-definite.")
        if not np.allclose(R, R.T) or np.any(np.linalg.eigvalsh(0.5 * (R + R.T)) <= 0):
            raise ParameterError("`R` must be symmetric positive definite.")
        import control  # here, not at the top: python-control takes about a second to import

        sysd = control.c2d(control.ss(A, B, np.eye(5), np.zeros((5, 2))), dt, method="zoh")
        Ad, Bd = np.asarray(sysd.A), np.asarray(sysd.B)
        Cy = np.zeros((2, 5))
        Cy[0, _ROTOR] = Cy[1, _ALT] = 1.0
        Aa = np.block([[Ad, np.zeros((5, 2))], [dt * Cy, np.eye(2)]])
        Ba = np.vstack([Bd, np.zeros((2, 2))])
        K, _, _ = control.dlqr(Aa, Ba, Q, R)
        return np.asarray(K), Ad, Bd, Aa, Ba

    @classmethod
    def from_plant(cls, params=None, rotor_speed: float = 140.0, dt: float = 0.01, Q=None, R=None,
                   **kwargs) -> "LQRController":
        """Make an LQR designed at the hover trim of the helicopter model at ``rotor_speed`` (rad/s).

        Parameters
        ----------
        params : HelicopterParams or dict or None
            Model parameters (default: the published set); also gives the actuator limits.
        rotor_speed : float, default 140.0
            Design rotor speed, rad/s.
        dt : float, default 0.01
            Control period, s.
        Q : array_like, shape (7,) or (7, 7), optional
            State weight on ``(rotor, altitude, climb rate, collective, collective rate,
            int rotor error, int altitude error)``; a vector means a diagonal.
            Default (Bryson): ``1 / max_dev**2`` with max_dev = (5 rad/s, 0.1 m, 0.2 m/s,
            0.02 rad, 2 rad/s, 2 rad, 0.05 m*s).
        R : array_like, shape (2,) or (2, 2), optional
            Input weight; default ``diag(1/50**2, 1/150**2)`` (rad/s^2)^-2.
        **kwargs
            Passed to the constructor (e.g. ``integrator_limit``).

        Returns
        -------
        LQRController
        """
        prm, tp, lin = _plant(params, rotor_speed, 1.0)
        if Q is None:
            Q = 1.0 / np.array([5.0, 0.1, 0.2, 0.02, 2.0, 2.0, 0.05]) ** 2
        if R is None:
            R = 1.0 / np.array([50.0, 150.0]) ** 2
        Q = np.diag(as_float_array(Q, "Q", (7,))) if np.ndim(Q) == 1 else Q
        R = np.diag(as_float_array(R, "R", (2,))) if np.ndim(R) == 1 else R
        K = cls.design(lin.A, lin.B, dt, Q, R)[0]
        return cls(K=K, trim_state=tp.x, trim_input=tp.u, input_limits=prm.input_limits, dt=dt, **kwargs)

    def _step_impl(self, observation, reference) -> np.ndarray:
        dx = self._dx
        np.subtract(observation, self.trim_state, out=dx)
        e_w = dx[_ROTOR] = observation[_ROTOR] - reference[0]
        e_z = dx[_ALT] = observation[_ALT] - reference[1]
        xi = self._int
        u = self.trim_input - self._Kx @ dx - self._Ki @ xi
        # conditional integration: skip the update if it would drive a saturated input further out
        lw, lz = self.integrator_limit
        xw = min(max(xi[0] + self.dt * e_w, -lw), lw)
        xz = min(max(xi[1] + self.dt * e_z, -lz), lz)
        Ki = self._Ki
        lim = self.input_limits
        for j in range(2):
            du = -(Ki[j, 0] * (xw - xi[0]) + Ki[j, 1] * (xz - xi[1]))
            if (u[j] > lim[j, 1] and du > 0) or (u[j] < lim[j, 0] and du < 0):
                return u
        xi[0] = xw
        xi[1] = xz
        return u
