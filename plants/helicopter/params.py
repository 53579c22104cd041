"""The helicopter's physical parameters (:class:`HelicopterParams`) and its signal names and units.

One frozen, keyword-only dataclass holds the lumped model constants a1..a15,
the drag-law option, the actuator limits and the state envelope (end stops and
nominal ranges). It validates itself on construction, so every other module
can trust it; kernels receive it as one float64 vector (:meth:`to_vector`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from neurocontrol.exceptions import ParameterError

__all__ = ["HelicopterParams", "STATE_NAMES", "INPUT_NAMES", "UNITS", "N_PARAMS"]

#: Names of the five states, in order (also the names of the outputs).
STATE_NAMES = ("rotor_speed", "altitude", "climb_rate", "collective", "collective_rate")
#: Names of the two inputs, in order.
INPUT_NAMES = ("throttle", "collective_servo")
#: Unit of every state/output and input, by name (what the envs declare as ``units``).
UNITS = {"rotor_speed": "rad/s", "altitude": "m", "climb_rate": "m/s", "collective": "rad",
         "collective_rate": "rad/s", "throttle": "rad/s^2", "collective_servo": "rad/s^2"}

# Layout of the kernel parameter vector (see HelicopterParams.to_vector).
P_A = slice(0, 15)          # a1..a15 at indices 0..14
P_PUBLISHED_DRAG = 15       # 1.0 for a6*zdot**2, 0.0 for a6*zdot*|zdot|
P_Z_MIN = 16                # altitude end stops, m
P_Z_MAX = 17
P_THETA_MIN = 18            # collective mechanical stops, rad
P_THETA_MAX = 19
#: Length of the kernel parameter vector.
N_PARAMS = 20

_COEFFS = tuple(f"a{i}" for i in range(1, 16))
#: Largest magnitude of a coefficient a1..a15 (the published ones are of order 1e-7 to 1e3; far beyond, the model's
#: products overflow).
MAX_COEFF = 1e6
_RANGES = ("throttle_limits", "collective_servo_limits", "rotor_speed_range", "altitude_range",
           "climb_rate_range", "collective_range", "collective_rate_range")


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelicopterParams:
    r"""Parameters of the helicopter-on-a-stand model (defaults: the published set).

    All values are in SI units with angles in rad; each coefficient a1..a15 is finite and at most
    :data:`MAX_COEFF` (1e6) in magnitude. The model is

    .. math::

        \dot\omega &= a_8\omega + a_9\omega^2 + a_{10}\omega^2\sin\theta + a_{11} + u_0 \\
        \ddot z &= \omega^2\,(a_1 + a_2\theta - \sqrt{a_3 + a_4\theta})
                   + a_5\dot z + a_6\,\dot z\,|\dot z| + a_7 \\
        \ddot\theta &= a_{13}\theta + a_{14}\omega^2\sin\theta + a_{15}\dot\theta + a_{12} + u_1

    Parameters
    ----------
    a1 : float, default 5.19791e-4
        Thrust constant, m/rad^2 (multiplies omega^2 in rad^2/s^2 to give m/s^2).
    a2 : float, default 1.51992e-2
        Thrust slope in collective pitch, m/rad^3.
    a3 : float, default 2.70183e-7
        Induced-inflow constant under the square root, m^2/rad^4 (``sqrt(a3) == a1``).
    a4 : float, default 1.58009e-5
        Induced-inflow slope in collective pitch, m^2/rad^5.
    a5 : float, default -0.1
        Linear (viscous) vertical friction, 1/s.
    a6 : float, default -0.1
        Quadratic vertical drag, 1/m.
    a7 : float, default -17.67
        Lumped weight and friction, m/s^2 (larger than g; kept as published).
    a8 : float, default -0.7
        Linear rotor drag, 1/s.
    a9 : float, default -0.0028
        Quadratic rotor drag, 1/rad.
    a10 : float, default -0.0028
        Pitch-dependent rotor drag, 1/rad.
    a11 : float, default -13.92
        Constant rotor friction, rad/s^2.
    a12 : float, default 434.88
        Collective-servo offset, rad/s^2.
    a13 : float, default -800.0
        Collective-servo stiffness, 1/s^2.
    a14 : float, default -0.1
        Aerodynamic pitching moment on the collective, 1/rad.
    a15 : float, default -65.0
        Collective-servo damping, 1/s.
    published_drag : bool, default False
        If False (default) the vertical drag is the physical ``a6*zdot*|zdot|``,
        which opposes motion in both directions. If True it is the published
        ``a6*zdot**2``, which with ``a6 < 0`` *accelerates* a descending
        helicopter (kept only to reproduce the papers).
    throttle_limits : (float, float), default (0, 400)
        Lower and upper limit of the throttle input u0, rad/s^2.
    collective_servo_limits : (float, float), default (-600, 600)
        Lower and upper limit of the collective-servo input u1, rad/s^2.
    rotor_speed_range : (float, float), default (74.25, 180)
        Operating range of the rotor speed, rad/s (the env terminates outside).
    altitude_range : (float, float), default (0, 2)
        Hard end stops of the stand, m.
    climb_rate_range : (float, float), default (-2.85, 5.70)
        Nominal range of the vertical velocity, m/s (not a hard limit).
    collective_range : (float, float), default (0.0175, 0.245)
        Mechanical stops of the collective pitch, rad (1 to 14 deg).
    collective_rate_range : (float, float), default (-9.52, 9.52)
        Nominal range of the collective pitch rate, rad/s (not a hard limit).

    Raises
    ------
    ParameterError
        If a value is not finite, a range has lower >= upper, the square root of
        the thrust law is not real over the collective range, or a type is wrong.

    Notes
    -----
    Values from Esteban, Gordillo & Aracil, Int. J. Robust Nonlinear Control
    (2013), after Pallett & Ahmad (1991-93). Ranges may be given as any
    two-element sequence; they are stored as tuples of float. Use
    :func:`dataclasses.replace` or :meth:`replace` to derive changed copies.

    Examples
    --------
    >>> from plants.helicopter import HelicopterParams
    >>> p = HelicopterParams()
    >>> faulty = p.replace(a8=1.3 * p.a8, a9=1.3 * p.a9)
    >>> round(faulty.a8, 6)
    -0.91
    >>> p.to_vector().shape
    (20,)
    """

    a1: float = 5.19791e-4
    a2: float = 1.51992e-2
    a3: float = 2.70183e-7
    a4: float = 1.58009e-5
    a5: float = -0.1
    a6: float = -0.1
    a7: float = -17.67
    a8: float = -0.7
    a9: float = -0.0028
    a10: float = -0.0028
    a11: float = -13.92
    a12: float = 434.88
    a13: float = -800.0
    a14: float = -0.1
    a15: float = -65.0
    published_drag: bool = False
    throttle_limits: tuple[float, float] = (0.0, 400.0)
    collective_servo_limits: tuple[float, float] = (-600.0, 600.0)
    rotor_speed_range: tuple[float, float] = (74.25, 180.0)
    altitude_range: tuple[float, float] = (0.0, 2.0)
    climb_rate_range: tuple[float, float] = (-2.85, 5.70)
    collective_range: tuple[float, float] = (0.0175, 0.245)
    collective_rate_range: tuple[float, float] = (-9.52, 9.52)

    def __post_init__(self):
        for name in _COEFFS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ParameterError(f"`{name}` must be a real number, got {value!r}.")
            if not math.isfinite(value):
                raise ParameterError(f"`{name}` must be finite, got {value!r}; pass a finite coefficient.")
            if abs(value) > MAX_COEFF:
                raise ParameterError(f"`{name}` must be within +-{MAX_COEFF:g} (the model's coefficients are of order "
                                     f"1e-7 to 1e3), got {value!r}.")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.published_drag, (bool, np.bool_)):
            raise ParameterError(f"`published_drag` must be True or False, got {self.published_drag!r}.")
        object.__setattr__(self, "published_drag", bool(self.published_drag))
        for name in _RANGES:
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ParameterError(f"`{name}` must be a pair (lower, upper) of numbers, got {value!r}.") from None
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ParameterError(f"`{name}` must be finite, got ({lo}, {hi}).")
            if not lo < hi:
                raise ParameterError(f"`{name}` must have lower < upper, got ({lo}, {hi}); swap or widen the bounds.")
            object.__setattr__(self, name, (lo, hi))
        th_lo, th_hi = self.collective_range
        for th in (th_lo, th_hi):
            if self.a3 + self.a4 * th <= 0.0:
                raise ParameterError(
                    f"`a3 + a4*theta` must be positive over `collective_range` {self.collective_range} "
                    f"(square root of the thrust law), got {self.a3 + self.a4 * th:.6g} at theta={th}; "
                    "raise a3 or the lower collective stop.")

    def replace(self, **changes) -> "HelicopterParams":
        """Return a validated copy with some fields changed (``dataclasses.replace``).

        Parameters
        ----------
        **changes
            New values of fields, by name.
        """
        return dataclasses.replace(self, **changes)

    @functools.cached_property
    def _vector(self) -> np.ndarray:
        v = np.empty(N_PARAMS, dtype=np.float64)
        v[P_A] = [getattr(self, name) for name in _COEFFS]
        v[P_PUBLISHED_DRAG] = 1.0 if self.published_drag else 0.0
        v[P_Z_MIN], v[P_Z_MAX] = self.altitude_range
        v[P_THETA_MIN], v[P_THETA_MAX] = self.collective_range
        v.setflags(write=False)
        return v

    def to_vector(self) -> np.ndarray:
        """Return the float64 parameter vector used by the numba kernels, shape (20,), read-only.

        Layout: ``[a1..a15, published_drag (0/1), z_min, z_max, theta_min, theta_max]``.
        """
        return self._vector

    @property
    def input_limits(self) -> np.ndarray:
        """Actuator limits ``[[u0_lo, u0_hi], [u1_lo, u1_hi]]``, shape (2, 2), rad/s^2."""
        return np.array([self.throttle_limits, self.collective_servo_limits], dtype=np.float64)

    @property
    def state_ranges(self) -> np.ndarray:
        """State envelope ``[[lo, hi], ...]`` in the order of :data:`STATE_NAMES`, shape (5, 2)."""
        return np.array([self.rotor_speed_range, self.altitude_range, self.climb_rate_range,
                         self.collective_range, self.collective_rate_range], dtype=np.float64)

    def coefficients(self) -> dict[str, float]:
        """Return ``{"a1": ..., "a15": ...}``."""
        return {name: getattr(self, name) for name in _COEFFS}
