"""Reference models: the desired closed-loop response of each controlled output (first and second order)."""

from __future__ import annotations

import abc

import numpy as np
import scipy.linalg

from neurocontrol._jit import jit
from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import OutOfRangeError, ParameterError
from neurocontrol.reference import _broadcast_outputs, _per_output, _positive_scalar

__all__ = ["AbstractReferenceModel", "FirstOrderReferenceModel", "SecondOrderReferenceModel", "second_order_step"]

# The controller's compiled step calls this function, so it uses the learning kernels' flags.
_jit = jit


@_jit
def second_order_step(x, ad, bd, r):
    """Advance the second-order reference model one period in place: ``x[i] = Ad[i] x[i] + Bd[i] r[i]``.

    Parameters
    ----------
    x : numpy.ndarray, shape (p, 2)
        State ``[d, d']`` per output, overwritten with the next state.
    ad : numpy.ndarray, shape (p, 2, 2)
        Exact discrete transition matrix per output.
    bd : numpy.ndarray, shape (p, 2)
        Exact discrete input matrix per output.
    r : numpy.ndarray, shape (p,)
        Set-point held over the period.

    Notes
    -----
    The one implementation of the linear step: :class:`SecondOrderReferenceModel`,
    the adaptive controller's imitator pre-training and its compiled control
    step all call it, so they agree to the last bit.
    """
    for i in range(x.shape[0]):
        v = x[i, 0]
        x[i, 0] = ad[i, 0, 0] * v + ad[i, 0, 1] * x[i, 1] + bd[i, 0] * r[i]
        x[i, 1] = ad[i, 1, 0] * v + ad[i, 1, 1] * x[i, 1] + bd[i, 1] * r[i]


class AbstractReferenceModel(abc.ABC):
    """A discrete-time model of the desired closed-loop response, one channel per output.

    The model owns its state (value and rate of each output). :meth:`step`
    validates the set-point, calls the one hook :meth:`_step_impl` and stores
    the new state.

    Parameters
    ----------
    dt : float
        Sample period in s (the control period).
    n_outputs : int
        Number of outputs p.
    """

    def __init__(self, *, dt: float, n_outputs: int):
        self._dt = _positive_scalar(dt, "dt", "s")
        self._p = int(n_outputs)
        self._value = np.zeros(self._p)
        self._rate = np.zeros(self._p)

    @property
    def dt(self) -> float:
        """Sample period in s."""
        return self._dt

    @property
    def n_outputs(self) -> int:
        """Number of outputs p."""
        return self._p

    @property
    def value(self) -> np.ndarray:
        """Desired output d(t), shape (p,), a read-only copy."""
        v = self._value.copy()
        v.setflags(write=False)
        return v

    @property
    def rate(self) -> np.ndarray:
        """Desired output rate d'(t) in unit/s, shape (p,), a read-only copy."""
        v = self._rate.copy()
        v.setflags(write=False)
        return v

    def reset(self, y0, rate0=None) -> None:
        """Set the state to ``y0`` (shape (p,)) and optionally the rate ``rate0`` (unit/s).

        Parameters
        ----------
        y0 : array_like, shape (p,)
            Initial value of each output.
        rate0 : array_like, shape (p,), optional
            Initial rate of each output, unit/s (default 0).
        """
        y0 = as_float_array(y0, "y0", (self._p,))
        rate0 = np.zeros(self._p) if rate0 is None else as_float_array(rate0, "rate0", (self._p,))
        self._value, self._rate = self._reset_impl(y0.copy(), rate0.copy())

    def step(self, r) -> tuple[np.ndarray, np.ndarray]:
        """Advance one period with the set-point ``r`` (shape (p,)) held constant.

        Parameters
        ----------
        r : array_like, shape (p,)
            Set-point of each output over the period.

        Returns
        -------
        value : numpy.ndarray, shape (p,)
            Desired output at the next sample.
        rate : numpy.ndarray, shape (p,)
            Its rate of change in unit/s.
        """
        r = as_float_array(r, "r", (self._p,))
        self._value, self._rate = self._step_impl(r)
        return self._value.copy(), self._rate.copy()

    def _reset_impl(self, y0: np.ndarray, rate0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return y0, rate0

    @abc.abstractmethod
    def _step_impl(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the next (value, rate) from the current state and a validated ``r``."""


class FirstOrderReferenceModel(AbstractReferenceModel):
    """First-order desired response ``tau d' = r - d``, exactly discretised.

    Parameters
    ----------
    time_constant : float or array_like, shape (p,)
        Time constant ``tau`` per output in s.
    dt : float
        Sample period in s.
    rate_limit : float or array_like, shape (p,), optional
        Largest ``|d'|`` in unit/s (None or inf: unlimited). The limited
        model ``d' = sat((r - d) / tau)`` is also integrated exactly: it moves
        at the limit until it is within ``rate_limit * tau`` of ``r``, then
        approaches exponentially.

    Notes
    -----
    With ``r`` held over a period (zero-order hold) the exact update is
    ``d[k+1] = a d[k] + (1 - a) r[k]``, ``a = exp(-dt / tau)``. The reported
    rate is the continuous-time derivative ``(r - d) / tau`` at the new sample.

    Examples
    --------
    >>> model = FirstOrderReferenceModel(time_constant=0.5, dt=0.1)
    >>> model.reset([0.0])
    >>> value, rate = model.step([1.0])
    >>> round(float(value[0]), 6)  # 1 - exp(-0.2)
    0.181269
    """

    def __init__(self, *, time_constant, dt: float, rate_limit=None):
        tau = _per_output(time_constant, "time_constant", "s")
        rl = _per_output(rate_limit, "rate_limit", "unit/s", allow_none=True)
        p, params = _broadcast_outputs({"time_constant": tau, "rate_limit": rl})
        super().__init__(dt=dt, n_outputs=p)
        self._tau = params["time_constant"]
        self._rate_limit = params["rate_limit"]
        self._a = np.exp(-self._dt / self._tau)

    @property
    def time_constant(self) -> np.ndarray:
        """Time constants in s, shape (p,)."""
        return self._tau

    @property
    def rate_limit(self) -> np.ndarray:
        """Rate limits in unit/s, shape (p,) (inf where unlimited)."""
        return self._rate_limit

    def _reset_impl(self, y0, rate0):
        if np.any(rate0 != 0):
            raise ParameterError("a first-order reference model has no rate state: call reset(y0) without `rate0`.")
        return y0, rate0

    def _step_impl(self, r):
        tau, rl, dt = self._tau, self._rate_limit, self._dt
        e = r - self._value
        dist = np.abs(e) - rl * tau  # distance outside the linear region |r - d| <= rl tau
        limited = dist > 0  # starts the step at the rate limit (never where rl is inf)
        rl_f = np.where(limited, rl, 1.0)  # finite stand-in keeps the unused branch free of inf * 0
        t_lin = np.where(limited, dist / rl_f, 0.0)  # time spent at the rate limit
        sign = np.sign(e)
        at_limit = t_lin >= dt
        # still rate-limited at the end of the step
        v_limited = self._value + sign * rl_f * dt
        # reaches the linear region within the step (or starts in it), then exponential
        v_start = np.where(limited, r - sign * rl_f * tau, self._value)
        remaining = dt - np.where(at_limit, 0.0, t_lin)
        v_exp = r - (r - v_start) * np.exp(-remaining / tau)
        value = np.where(at_limit, v_limited, v_exp)
        rate = np.clip((r - value) / tau, -rl, rl)
        return value, rate


class SecondOrderReferenceModel(AbstractReferenceModel):
    """Second-order desired response, exactly discretised, optionally rate/acceleration limited.

    Each output ``i`` follows ``d'' = w_i^2 (r - d) - 2 zeta_i w_i d'`` with
    its own natural frequency ``w_i`` (rad/s) and damping ``zeta_i``.

    Parameters
    ----------
    bandwidth_rad_s : float or array_like, shape (p,)
        Natural frequency ``w`` per output in rad/s.
    damping : float or array_like, shape (p,), default 1.0
        Damping ratio ``zeta`` per output (> 0; 1 is critically damped, no
        overshoot).
    dt : float
        Sample period in s.
    rate_limit : float or array_like, shape (p,), optional
        Largest ``|d'|`` in unit/s (None or inf: unlimited).
    acceleration_limit : float or array_like, shape (p,), optional
        Largest ``|d''|`` in unit/s^2, as the average over a period (None or
        inf: unlimited).

    Notes
    -----
    State ``x = [d, d']``, continuous model ``x' = A x + B r`` with
    ``A = [[0, 1], [-w^2, -2 zeta w]]``, ``B = [0, w^2]``. With ``r`` held
    over a period the exact update is ``x[k+1] = Ad x[k] + Bd r[k]`` where
    ``[[Ad, Bd], [0, 1]] = expm([[A, B], [0, 0]] dt)`` (:attr:`transition_matrix`,
    :attr:`input_matrix`).

    When limits are given, an output whose exact step would exceed them takes
    a limited step instead: acceleration ``a = sat(w^2 (r - d) - 2 zeta w d')``,
    then ``d'[k+1] = sat(d'[k] + a dt)`` and ``d[k+1] = d[k] + (d'[k] +
    d'[k+1]) dt / 2``. So ``|d'| <= rate_limit`` and ``|d'[k+1] - d'[k]| / dt
    <= acceleration_limit`` always hold and the desired response is
    dynamically feasible; away from the limits the response is the exact
    linear one. Tight acceleration limits can cause overshoot, as in any
    saturated linear system.

    Examples
    --------
    >>> model = SecondOrderReferenceModel(bandwidth_rad_s=2.0, damping=1.0, dt=0.01)
    >>> model.reset([0.0])
    >>> for _ in range(100):  # 1 s
    ...     value, rate = model.step([1.0])
    >>> round(float(value[0]), 6)  # 1 - (1 + w t) exp(-w t) at w t = 2
    0.593994
    """

    def __init__(self, *, bandwidth_rad_s, damping=1.0, dt: float, rate_limit=None, acceleration_limit=None):
        w = _per_output(bandwidth_rad_s, "bandwidth_rad_s", "rad/s")
        z = _per_output(damping, "damping", "dimensionless units")
        rl = _per_output(rate_limit, "rate_limit", "unit/s", allow_none=True)
        al = _per_output(acceleration_limit, "acceleration_limit", "unit/s^2", allow_none=True)
        p, params = _broadcast_outputs({"bandwidth_rad_s": w, "damping": z, "rate_limit": rl,
                                        "acceleration_limit": al})
        super().__init__(dt=dt, n_outputs=p)
        self._w = params["bandwidth_rad_s"]
        self._zeta = params["damping"]
        self._rate_limit = params["rate_limit"]
        self._acc_limit = params["acceleration_limit"]
        ad = np.empty((p, 2, 2))
        bd = np.empty((p, 2))
        for i in range(p):
            m = np.zeros((3, 3))
            m[0, 1] = 1.0
            m[1, 0] = -self._w[i] ** 2
            m[1, 1] = -2.0 * self._zeta[i] * self._w[i]
            m[1, 2] = self._w[i] ** 2
            e = scipy.linalg.expm(m * self._dt)
            ad[i] = e[:2, :2]
            bd[i] = e[:2, 2]
        ad.setflags(write=False)
        bd.setflags(write=False)
        self._ad, self._bd = ad, bd

    @property
    def bandwidth_rad_s(self) -> np.ndarray:
        """Natural frequencies in rad/s, shape (p,)."""
        return self._w

    @property
    def damping(self) -> np.ndarray:
        """Damping ratios, shape (p,)."""
        return self._zeta

    @property
    def rate_limit(self) -> np.ndarray:
        """Rate limits in unit/s, shape (p,) (inf where unlimited)."""
        return self._rate_limit

    @property
    def acceleration_limit(self) -> np.ndarray:
        """Acceleration limits in unit/s^2, shape (p,) (inf where unlimited)."""
        return self._acc_limit

    @property
    def transition_matrix(self) -> np.ndarray:
        """Exact discrete ``Ad`` per output, shape (p, 2, 2), state ``[d, d']``."""
        return self._ad

    @property
    def input_matrix(self) -> np.ndarray:
        """Exact discrete ``Bd`` per output, shape (p, 2)."""
        return self._bd

    def _reset_impl(self, y0, rate0):
        if np.any(np.abs(rate0) > self._rate_limit):
            raise OutOfRangeError(f"`rate0` must lie within the rate limit {self._rate_limit.tolist()}, "
                                  f"got {rate0.tolist()}.")
        return y0, rate0

    def _step_impl(self, r):
        v, rate, dt = self._value, self._rate, self._dt
        x = np.stack([v, rate], axis=1)
        second_order_step(x, self._ad, self._bd, r)
        v_lin, rate_lin = x[:, 0].copy(), x[:, 1].copy()
        limited = (np.abs(rate_lin) > self._rate_limit) | (np.abs(rate_lin - rate) > self._acc_limit * dt)
        if not np.any(limited):
            return v_lin, rate_lin
        acc = self._w ** 2 * (r - v) - 2.0 * self._zeta * self._w * rate
        acc = np.clip(acc, -self._acc_limit, self._acc_limit)
        rate_lim = np.clip(rate + acc * dt, -self._rate_limit, self._rate_limit)
        v_limd = v + 0.5 * (rate + rate_lim) * dt
        return np.where(limited, v_limd, v_lin), np.where(limited, rate_lim, rate_lin)
