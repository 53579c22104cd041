"""The Van de Vusse CSTR's parameters (:class:`CSTRParams`), its published operating point and signal names.

Card
----
Source: K.-U. Klatt and S. Engell, "Gain-scheduling trajectory control of a
continuous stirred tank reactor", Computers & Chemical Engineering
22(4-5):491-502, 1998, whose model and parameter table are those of H. Chen,
A. Kremling and F. Allgöwer, "Nonlinear predictive control of a benchmark
CSTR", Proc. 3rd European Control Conference, 1995. The paper itself could
not be consulted here; the values below were taken from the reuses of that
table (the do-mpc CSTR example has the same kinetic, thermal and geometric
constants) and checked against the published operating point
(c_A = 2.14 mol/L, c_B = 1.09 mol/L, T = 114.2 degC, T_K = 112.9 degC at
F/V = 14.19 1/h, Q_K = -1113.5 kJ/h), which they reproduce only with the
feed temperature T_in = 104.9 degC of Chen et al. (the do-mpc example uses
130 degC, which moves the steady state to T of about 140 degC). Input ranges
F/V in [5, 35] 1/h and Q_K in [-8500, 0] kJ/h as in Klatt & Engell.

Units are the published ones (concentrations mol/L, temperatures degC, rates
per hour, heat kJ/h); the plant's time is in seconds (:func:`plants.cstr.rhs`
divides the per-hour balances by 3600).
"""

from __future__ import annotations

import dataclasses
import math

from neurocontrol._validation import check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["CSTRParams", "OPERATING_POINT", "STATE_NAMES", "INPUT_NAMES", "OUTPUT_NAMES", "UNITS"]

#: Names of the four states, in order.
STATE_NAMES = ("c_A", "c_B", "T", "T_K")
#: Names of the two inputs, in order: dilution rate F/V and heat removed through the jacket.
INPUT_NAMES = ("dilution_rate", "jacket_heat")
#: Names of the two measured outputs, in order.
OUTPUT_NAMES = ("c_B", "T")
#: Unit of every signal, by name.
UNITS = {"c_A": "mol/L", "c_B": "mol/L", "T": "degC", "T_K": "degC", "dilution_rate": "1/h",
         "jacket_heat": "kJ/h"}

#: The published operating point: ``(state (c_A, c_B, T, T_K), input (F/V, Q_K))``.
OPERATING_POINT = ((2.14, 1.09, 114.2, 112.9), (14.19, -1113.5))

_POSITIVE = ("k10", "k20", "k30", "rho", "cp", "cp_K", "A_R", "V_R", "m_K", "k_w", "c_A0")
_REAL = ("E1", "E2", "E3", "dH_AB", "dH_BC", "dH_AD", "T_in")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CSTRParams:
    r"""Parameters of the Van de Vusse reactor (A -> B -> C, 2A -> D) with a cooling jacket.

    With ``k_i = k_i0 exp(E_i / (T + 273.15))`` (per hour) and ``F`` the dilution rate F/V:

    .. math::

        \dot c_A &= F (c_{A0} - c_A) - k_1 c_A - k_3 c_A^2 \\
        \dot c_B &= -F c_B + k_1 c_A - k_2 c_B \\
        \dot T &= -\frac{k_1 c_A \Delta H_{AB} + k_2 c_B \Delta H_{BC} + k_3 c_A^2 \Delta H_{AD}}{\rho c_p}
                  + F (T_{in} - T) + \frac{k_w A_R}{\rho c_p V_R} (T_K - T) \\
        \dot T_K &= \frac{Q_K + k_w A_R (T - T_K)}{m_K c_{pK}}

    (all per hour; outputs ``c_B`` and ``T``).

    Parameters
    ----------
    k10, k20 : float, default 1.287e12
        Pre-exponential factors of A -> B and B -> C, 1/h.
    k30 : float, default 9.043e9
        Pre-exponential factor of 2A -> D, L/(mol h).
    E1, E2, E3 : float, default -9758.3, -9758.3, -8560.0
        Activation energies over R, K (negative, as published).
    dH_AB, dH_BC, dH_AD : float, default 4.2, -11.0, -41.85
        Reaction enthalpies, kJ/mol.
    rho : float, default 0.9342
        Density, kg/L.
    cp : float, default 3.01
        Heat capacity of the reactor contents, kJ/(kg K).
    cp_K : float, default 2.0
        Heat capacity of the coolant, kJ/(kg K).
    A_R : float, default 0.215
        Jacket heat-transfer area, m^2.
    V_R : float, default 10.0
        Reactor volume, L.
    m_K : float, default 5.0
        Coolant mass, kg.
    k_w : float, default 4032.0
        Heat-transfer coefficient, kJ/(h m^2 K).
    c_A0 : float, default 5.1
        Feed concentration of A, mol/L.
    T_in : float, default 104.9
        Feed temperature, degC.
    dilution_limits : (float, float), default (5.0, 35.0)
        Range of F/V, 1/h.
    heat_limits : (float, float), default (-8500.0, 0.0)
        Range of the jacket heat Q_K, kJ/h.

    Raises
    ------
    ParameterError
        If a value is not finite, a physical constant is not positive or a
        range is not increasing.

    Examples
    --------
    >>> CSTRParams().T_in
    104.9
    """

    k10: float = 1.287e12
    k20: float = 1.287e12
    k30: float = 9.043e9
    E1: float = -9758.3
    E2: float = -9758.3
    E3: float = -8560.0
    dH_AB: float = 4.2
    dH_BC: float = -11.0
    dH_AD: float = -41.85
    rho: float = 0.9342
    cp: float = 3.01
    cp_K: float = 2.0
    A_R: float = 0.215
    V_R: float = 10.0
    m_K: float = 5.0
    k_w: float = 4032.0
    c_A0: float = 5.1
    T_in: float = 104.9
    dilution_limits: tuple[float, float] = (5.0, 35.0)
    heat_limits: tuple[float, float] = (-8500.0, 0.0)

    def __post_init__(self):
        for name in _POSITIVE:
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=0.0, low_open=True))
        for name in _REAL:
            object.__setattr__(self, name, check_real(getattr(self, name), name))
        for name in ("dilution_limits", "heat_limits"):
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ParameterError(f"`{name}` must be a pair (low, high), got {value!r}.") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ParameterError(f"`{name}` must be finite with low < high, got ({lo}, {hi}).")
            object.__setattr__(self, name, (lo, hi))
        if self.dilution_limits[0] < 0:
            raise ParameterError(f"`dilution_limits` must be non-negative (a flow cannot run backwards), "
                                 f"got {self.dilution_limits}.")
