r"""Pure dynamics of the helicopter on a stand: rhs, output, stepping, Jacobian, trim.

The one physics source of the plant. :func:`rhs` and :func:`output` follow
python-control's argument order ``(t, x, u, params)``; the Gymnasium env and
:func:`step` integrate the same equations with fixed-step RK4 in numba
kernels; :func:`plants.helicopter.to_iosys` wraps :func:`rhs` and
:func:`output` as a ``control.NonlinearIOSystem``.

States ``x = (omega, z, zdot, theta, thetadot)``: rotor speed (rad/s),
altitude (m), climb rate (m/s), collective pitch (rad), collective pitch rate
(rad/s). Inputs ``u = (u0, u1)``: throttle and collective-servo command, both
rad/s^2. Outputs: the full measured state (``C = I``, ``D = 0``).

Notes
-----
:func:`rhs` is the *free-flight* model: it knows nothing of the end stops,
so it is valid away from them. The stepping functions (:func:`step`,
:func:`step_batch` and the env) treat the stops (altitude 0..2 m, collective
0.0175..0.245 rad) as contacts: at a stop, a velocity into the stop becomes
zero and stays zero until the net force pulls the body away.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import NamedTuple

import numpy as np

from neurocontrol._validation import as_float_array, check_positive, check_real, check_substeps
from neurocontrol.exceptions import OutOfRangeError, ParameterError, TrimError
from plants._params import ParamsResolver
from plants.helicopter import _kernels
from plants.helicopter.params import HelicopterParams

__all__ = ["rhs", "output", "step", "step_batch", "jacobian", "linearize", "Linearization",
           "trim", "TrimPoint", "hover_range", "resolve_params"]




#: ``resolve_params(params=None)``: None, a :class:`HelicopterParams` or a dict of field overrides -> HelicopterParams.
resolve_params = ParamsResolver(HelicopterParams)

def rhs(t, x, u, params=None) -> np.ndarray:
    """Free-flight state derivative ``dx/dt = f(x, u)`` (python-control ``updfcn``).

    Parameters
    ----------
    t : float
        Time in s (unused: the plant is time invariant).
    x : array_like, shape (5,)
        State (rotor_speed rad/s, altitude m, climb_rate m/s, collective rad,
        collective_rate rad/s).
    u : array_like, shape (2,)
        Input (throttle, collective_servo), rad/s^2.
    params : HelicopterParams or dict or None, optional
        Plant parameters; a dict holds field overrides of the defaults (this is
        what python-control passes).

    Returns
    -------
    numpy.ndarray, shape (5,)
        ``(d omega/dt, dz/dt, d2z/dt2, dtheta/dt, d2theta/dt2)``.

    Notes
    -----
    No end stops: use :func:`step` to integrate with contacts.
    """
    p = resolve_params(params).to_vector()
    x = as_float_array(x, "x", (5,))
    u = as_float_array(u, "u", (2,))
    out = np.empty(5)
    _kernels.rhs_kernel(x, u, p, out)
    return out


def output(t, x, u, params=None) -> np.ndarray:
    """Return the measured output ``y = x`` (python-control ``outfcn``); shape (5,).

    Parameters
    ----------
    t : float
        Time, s (unused: the model is time-invariant).
    x : array_like, shape (5,)
        State.
    u : array_like, shape (2,)
        Input (unused: no feedthrough).
    params : HelicopterParams or dict or None, optional
        Plant parameters (unused).
    """
    return as_float_array(x, "x", (5,)).copy()


def step(x, u, params=None, dt: float = 0.01, substeps: int = 5, *, accel: float = 0.0) -> np.ndarray:
    """Advance one control period with fixed-step RK4 and end-stop contacts.

    Parameters
    ----------
    x : array_like, shape (5,)
        State at the start of the period.
    u : array_like, shape (2,)
        Input held over the period (zero-order hold), rad/s^2; not clipped.
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set).
    dt : float, default 0.01
        Control period in s.
    substeps : int, default 5
        Number of RK4 sub-steps per period (sub-step ``dt/substeps``).
    accel : float, default 0.0
        Extra vertical acceleration (e.g. a gust), m/s^2, held over the period.

    Returns
    -------
    numpy.ndarray, shape (5,)
        State at the end of the period.

    Examples
    --------
    >>> from plants.helicopter import step, trim
    >>> tp = trim(140.0)
    >>> bool(abs(step(tp.x, tp.u)[0] - 140.0) < 1e-9)
    True
    """
    p = resolve_params(params).to_vector()
    x = as_float_array(x, "x", (5,))
    u = as_float_array(u, "u", (2,))
    dt = check_positive(dt, "dt", unit="s")
    substeps = check_substeps(substeps)
    accel = check_real(accel, "accel", unit="m/s^2")
    out = np.empty(5)
    _kernels.step_kernel(x, u, p, accel, dt, substeps, out)
    return out


def step_batch(x, u, params=None, dt: float = 0.01, substeps: int = 5, *, accel=None,
               out: np.ndarray | None = None) -> np.ndarray:
    """Advance N independent helicopters by one control period (compiled loop).

    Gives exactly (bit for bit) the same result as N calls of :func:`step`.

    Parameters
    ----------
    x : array_like, shape (N, 5)
        States.
    u : array_like, shape (N, 2)
        Inputs, rad/s^2 (not clipped).
    params : HelicopterParams or dict or None, optional
        Parameters shared by all N plants.
    dt : float, default 0.01
        Control period in s.
    substeps : int, default 5
        RK4 sub-steps per period.
    accel : array_like, shape (N,), optional
        Extra vertical acceleration per plant, m/s^2 (default zero).
    out : numpy.ndarray, shape (N, 5), float64, C-contiguous, optional
        Buffer for the result (may be ``x`` itself for an in-place update).

    Returns
    -------
    numpy.ndarray, shape (N, 5)
        The new states (``out`` when given).
    """
    p = resolve_params(params).to_vector()
    x = as_float_array(x, "x", (None, 5))
    n = x.shape[0]
    u = as_float_array(u, "u", (n, 2))
    d = np.zeros(n) if accel is None else as_float_array(accel, "accel", (n,))
    dt = check_positive(dt, "dt", unit="s")
    substeps = check_substeps(substeps)
    if out is None:
        out = np.empty((n, 5))
    elif not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (n, 5)
              and out.flags.c_contiguous and out.flags.writeable):
        raise ParameterError(f"`out` must be a writeable C-contiguous float64 array of shape ({n}, 5), got "
                             f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}.")
    _kernels.step_batch_kernel(x, u, p, d, dt, substeps, out)
    return out


def jacobian(x, u, params=None) -> tuple[np.ndarray, np.ndarray]:
    """Analytic Jacobians ``A = df/dx`` (5, 5) and ``B = df/du`` (5, 2) of the free-flight rhs.

    At ``zdot == 0`` the physical drag ``a6*zdot*|zdot|`` has derivative 0, so
    ``A[2, 2] == a5`` there.

    Parameters
    ----------
    x : array_like, shape (5,)
        State.
    u : array_like, shape (2,)
        Input, rad/s^2.
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set).
    """
    prm = resolve_params(params)
    x = as_float_array(x, "x", (5,))
    as_float_array(u, "u", (2,))
    p = prm.to_vector()
    a1, a2, a3, a4, a5, a6, _, a8, a9, a10, _, _, a13, a14, a15 = p[:15]
    w, _, zd, th, _ = x
    s, c = math.sin(th), math.cos(th)
    r = a3 + a4 * th
    root = math.sqrt(r) if r > 0 else 0.0
    A = np.zeros((5, 5))
    A[0, 0] = a8 + 2 * a9 * w + 2 * a10 * w * s
    A[0, 3] = a10 * w * w * c
    A[1, 2] = 1.0
    A[2, 0] = 2 * w * (a1 + a2 * th - root)
    A[2, 2] = a5 + (2 * a6 * zd if prm.published_drag else 2 * a6 * abs(zd))
    A[2, 3] = w * w * (a2 - (0.5 * a4 / root if root > 0 else math.inf))
    A[3, 4] = 1.0
    A[4, 0] = 2 * a14 * w * s
    A[4, 3] = a13 + a14 * w * w * c
    A[4, 4] = a15
    B = np.zeros((5, 2))
    B[0, 0] = 1.0
    B[4, 1] = 1.0
    return A, B


class Linearization(NamedTuple):
    """State-space matrices of the linearisation ``dx = A dx + B du, y = C dx + D du``."""

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray


def linearize(x, u, params=None) -> Linearization:
    """Linearise the free-flight model at ``(x, u)``; outputs are the full state.

    Parameters
    ----------
    x : array_like, shape (5,)
        State.
    u : array_like, shape (2,)
        Input, rad/s^2.
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set).

    Returns
    -------
    Linearization
        Named tuple ``(A, B, C, D)`` with ``C = I`` (5, 5) and ``D = 0`` (5, 2).

    Examples
    --------
    >>> import numpy as np
    >>> from plants.helicopter import linearize, trim
    >>> tp = trim(140.0)
    >>> A, B, C, D = linearize(tp.x, tp.u)
    >>> np.round(np.sort(np.linalg.eigvals(A).real), 2)
    array([-32.54, -32.54,  -1.51,  -0.1 ,   0.  ])
    """
    A, B = jacobian(x, u, params)
    return Linearization(A, B, np.eye(5), np.zeros((5, 2)))


def _thrust_coef(p, th):
    return p[0] + p[1] * th - math.sqrt(p[2] + p[3] * th)


def hover_range(params=None) -> tuple[float, float]:
    """Rotor-speed interval (rad/s) in which a hover trim exists.

    The lower end is where the hover collective reaches its upper stop (about
    89.45 rad/s for the published parameters), clipped to ``rotor_speed_range``.

    Parameters
    ----------
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set).

    Raises
    ------
    TrimError
        If no rotor speed in ``rotor_speed_range`` can hover.
    """
    prm = resolve_params(params)
    p = prm.to_vector()
    th_lo, th_hi = prm.collective_range
    w_lo, w_hi = prm.rotor_speed_range
    weight = -p[6]
    t_hi = _thrust_coef(p, th_hi)
    t_lo = _thrust_coef(p, th_lo)
    if weight <= 0 or t_hi <= 0:
        raise TrimError("no hover trim exists for these parameters: the thrust at the upper collective stop "
                        "cannot balance `a7`; check `a1`..`a4` and `a7`.")
    lo = max(w_lo, math.sqrt(weight / t_hi))
    hi = min(w_hi, math.sqrt(weight / t_lo)) if t_lo > 0 else w_hi
    if lo > hi:
        raise TrimError(f"no hover trim exists for rotor speeds in {prm.rotor_speed_range} rad/s with these "
                        "parameters; widen `rotor_speed_range` or `collective_range`.")
    return lo, hi


@dataclasses.dataclass(frozen=True)
class TrimPoint:
    """A hover equilibrium of the helicopter (climb rate and pitch rate zero).

    Parameters
    ----------
    rotor_speed : float
        rad/s.
    altitude : float
        m (altitude is a free integrator: every altitude is an equilibrium).
    collective : float
        Trim collective pitch theta*, rad.
    throttle : float
        Trim throttle u0*, rad/s^2.
    collective_servo : float
        Trim collective-servo command u1*, rad/s^2.
    """

    rotor_speed: float
    altitude: float
    collective: float
    throttle: float
    collective_servo: float

    @property
    def x(self) -> np.ndarray:
        """Full trim state (5,)."""
        return np.array([self.rotor_speed, self.altitude, 0.0, self.collective, 0.0])

    @property
    def u(self) -> np.ndarray:
        """Trim input (2,)."""
        return np.array([self.throttle, self.collective_servo])


def _trim_collective(p, omega: float) -> float:
    """Return the collective pitch that balances weight at rotor speed ``omega`` (nan if none)."""
    a1, a2, a3, a4 = p[0], p[1], p[2], p[3]
    c = -p[6] / (omega * omega)
    # a1 + a2*th - c = sqrt(a3 + a4*th); square it: qa*th^2 + qb*th + qc = 0
    qa = a2 * a2
    qb = 2.0 * (a1 - c) * a2 - a4
    qc = (a1 - c) ** 2 - a3
    disc = qb * qb - 4.0 * qa * qc
    if qa == 0.0 or disc < 0.0:
        return math.nan
    sq = math.sqrt(disc)
    roots = [(-qb + sq) / (2 * qa), (-qb - sq) / (2 * qa)]
    roots = [r for r in roots if a3 + a4 * r > 0 and a1 + a2 * r - c >= 0]
    if not roots:
        return math.nan
    th = max(roots)
    for _ in range(3):  # Newton polish on the unsquared residual
        root = math.sqrt(a3 + a4 * th)
        g = a1 + a2 * th - root - c
        dg = a2 - 0.5 * a4 / root
        if dg == 0.0:
            break
        th -= g / dg
    return th


def trim(rotor_speed: float, altitude: float = 1.0, params=None) -> TrimPoint:
    """Hover equilibrium at a given rotor speed.

    Parameters
    ----------
    rotor_speed : float
        Rotor speed in rad/s, within :func:`hover_range` (89.45..180 rad/s for
        the published parameters).
    altitude : float, default 1.0
        Altitude in m within ``params.altitude_range``.
    params : HelicopterParams or dict or None, optional
        Plant parameters.

    Returns
    -------
    TrimPoint
        ``collective`` theta* (rad), ``throttle`` u0* and ``collective_servo``
        u1* (rad/s^2), with ``.x`` and ``.u`` arrays.

    Raises
    ------
    TrimError
        If ``rotor_speed`` is outside the hover range or the trim input is
        outside the actuator limits.
    OutOfRangeError
        If ``altitude`` is outside the stand.

    Notes
    -----
    Solves ``omega^2 (a1 + a2 theta - sqrt(a3 + a4 theta)) + a7 = 0`` in closed
    form (then two Newton steps), and ``u0*``, ``u1*`` from the rotor and servo
    equations at ``thetadot = 0``.

    Examples
    --------
    >>> from plants.helicopter import trim
    >>> tp = trim(140.0)
    >>> round(tp.collective, 5), round(tp.throttle, 2), round(tp.collective_servo, 2)
    (0.12301, 173.53, -95.98)
    """
    prm = resolve_params(params)
    p = prm.to_vector()
    for name, value in (("rotor_speed", rotor_speed), ("altitude", altitude)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ParameterError(f"`{name}` must be a finite number, got {value!r}.")
    omega, z = float(rotor_speed), float(altitude)
    z_lo, z_hi = prm.altitude_range
    if not z_lo <= z <= z_hi:
        raise OutOfRangeError(f"`altitude` must be in [{z_lo}, {z_hi}] m (the stand), got {z}.")
    lo, hi = hover_range(prm)
    if not lo <= omega <= hi:
        raise TrimError(f"no hover trim at `rotor_speed`={omega} rad/s: it must be in [{lo:.4f}, {hi:.4f}] rad/s "
                        "(below, the collective would pass its upper stop; above, the rotor leaves its range).")
    th = _trim_collective(p, omega)
    th = min(max(th, prm.collective_range[0]), prm.collective_range[1])  # guard rounding at the range ends
    s = math.sin(th)
    w2 = omega * omega
    u0 = -(p[7] * omega + p[8] * w2 + p[9] * w2 * s + p[10])
    u1 = -(p[12] * th + p[13] * w2 * s + p[11])
    for name, value, (ulo, uhi) in (("throttle", u0, prm.throttle_limits),
                                    ("collective_servo", u1, prm.collective_servo_limits)):
        if not ulo <= value <= uhi:
            raise TrimError(f"the trim {name} {value:.4g} rad/s^2 at rotor_speed={omega} rad/s is outside its "
                            f"limits [{ulo}, {uhi}]; widen `{name}_limits` or pick another rotor speed.")
    return TrimPoint(omega, z, float(th), float(u0), float(u1))
