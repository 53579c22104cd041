"""The quadruple tank's parameters (:class:`QuadTankParams`), its two published operating points and signal names.

Card
----
Source: K. H. Johansson, "The quadruple-tank process: a multivariable
laboratory process with an adjustable zero", IEEE Transactions on Control
Systems Technology 8(3):456-465, 2000. Table I gives the tank and outlet
areas, the sensor gain ``kc`` and ``g``; Table II gives the two operating
points: P- (minimum phase, ``gamma1 + gamma2 > 1``) and P+ (non-minimum
phase, ``gamma1 + gamma2 < 1``) with their pump gains, valve settings, levels
and voltages. The pump-voltage range (0..10 V) and the tank height (20 cm)
are not in the tables: they are this toolkit's assumptions, chosen so both
operating points lie well inside them.
"""

from __future__ import annotations

import dataclasses
import math

from neurocontrol._validation import check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["QuadTankParams", "OPERATING_POINTS", "STATE_NAMES", "INPUT_NAMES", "OUTPUT_NAMES", "UNITS"]

#: Names of the four states (water levels), in order.
STATE_NAMES = ("h1", "h2", "h3", "h4")
#: Names of the two inputs (pump voltages), in order.
INPUT_NAMES = ("v1", "v2")
#: Names of the two measured outputs (level sensors of the lower tanks), in order.
OUTPUT_NAMES = ("y1", "y2")
#: Unit of every signal, by name.
UNITS = {"h1": "cm", "h2": "cm", "h3": "cm", "h4": "cm", "v1": "V", "v2": "V", "y1": "V", "y2": "V"}

#: Johansson's Table II: ``{name: (params overrides, levels h0 cm, voltages v0 V)}``.
OPERATING_POINTS = {
    "P-": ({"k1": 3.33, "k2": 3.35, "gamma1": 0.70, "gamma2": 0.60}, (12.4, 12.7, 1.8, 1.4), (3.00, 3.00)),
    "P+": ({"k1": 3.14, "k2": 3.29, "gamma1": 0.43, "gamma2": 0.34}, (12.6, 13.0, 4.8, 4.9), (3.15, 3.15)),
}

_POSITIVE = ("A1", "A2", "A3", "A4", "a1", "a2", "a3", "a4", "kc", "g", "k1", "k2", "tank_height")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuadTankParams:
    r"""Parameters of the quadruple-tank process (defaults: Johansson's Table I and operating point P-).

    .. math::

        \dot h_1 &= -\frac{a_1}{A_1}\sqrt{2 g h_1} + \frac{a_3}{A_1}\sqrt{2 g h_3}
                    + \frac{\gamma_1 k_1}{A_1} v_1 \\
        \dot h_2 &= -\frac{a_2}{A_2}\sqrt{2 g h_2} + \frac{a_4}{A_2}\sqrt{2 g h_4}
                    + \frac{\gamma_2 k_2}{A_2} v_2 \\
        \dot h_3 &= -\frac{a_3}{A_3}\sqrt{2 g h_3} + \frac{(1 - \gamma_2) k_2}{A_3} v_2 \\
        \dot h_4 &= -\frac{a_4}{A_4}\sqrt{2 g h_4} + \frac{(1 - \gamma_1) k_1}{A_4} v_1 \\
        y &= k_c\,(h_1, h_2)

    Parameters
    ----------
    A1, A2, A3, A4 : float
        Tank cross-sections, cm^2 (28, 32, 28, 32).
    a1, a2, a3, a4 : float
        Outlet cross-sections, cm^2 (0.071, 0.057, 0.071, 0.057).
    kc : float, default 0.5
        Level-sensor gain, V/cm.
    g : float, default 981.0
        Gravity, cm/s^2.
    k1, k2 : float
        Pump gains, cm^3/(V s) (P-: 3.33, 3.35).
    gamma1, gamma2 : float
        Valve split ratios in [0, 1] (P-: 0.70, 0.60): the fraction of pump i's
        flow that goes to lower tank i.
    voltage_limits : (float, float), default (0.0, 10.0)
        Pump-voltage range, V (an assumption, see the module card).
    tank_height : float, default 20.0
        Height of every tank, cm (an assumption; the env ends an episode when a
        tank overflows).

    Raises
    ------
    ParameterError
        If a value is not a finite positive number, a split ratio is outside
        [0, 1] or the voltage range is not increasing.

    Examples
    --------
    >>> p = QuadTankParams.at("P+")
    >>> p.gamma1 + p.gamma2 < 1.0
    True
    """

    A1: float = 28.0
    A2: float = 32.0
    A3: float = 28.0
    A4: float = 32.0
    a1: float = 0.071
    a2: float = 0.057
    a3: float = 0.071
    a4: float = 0.057
    kc: float = 0.50
    g: float = 981.0
    k1: float = 3.33
    k2: float = 3.35
    gamma1: float = 0.70
    gamma2: float = 0.60
    voltage_limits: tuple[float, float] = (0.0, 10.0)
    tank_height: float = 20.0

    def __post_init__(self):
        for name in _POSITIVE:
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=0.0, low_open=True))
        for name in ("gamma1", "gamma2"):
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=0.0, high=1.0))
        try:
            lo, hi = (float(v) for v in self.voltage_limits)
        except (TypeError, ValueError):
            raise ParameterError(f"`voltage_limits` must be a pair (low, high) in V, got {self.voltage_limits!r}.") \
                from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ParameterError(f"`voltage_limits` must be finite with low < high, got ({lo}, {hi}); "
                                 "e.g. (0.0, 10.0).")
        object.__setattr__(self, "voltage_limits", (lo, hi))

    @classmethod
    def at(cls, operating_point: str, **changes) -> "QuadTankParams":
        """Return the parameters of a published operating point (``"P-"`` or ``"P+"``).

        Parameters
        ----------
        operating_point : str
            ``"P-"`` (minimum phase) or ``"P+"`` (non-minimum phase).
        **changes
            Further field overrides.

        Raises
        ------
        ParameterError
            If the operating point is not one of Johansson's two.
        """
        if operating_point not in OPERATING_POINTS:
            raise ParameterError(f"`operating_point` must be one of {sorted(OPERATING_POINTS)} (Johansson's "
                                 f"Table II), got {operating_point!r}.")
        return cls(**{**OPERATING_POINTS[operating_point][0], **changes})
