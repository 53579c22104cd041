"""Pure dynamics of the Van de Vusse CSTR: rhs, output, steady states and the python-control system.

The one physics source of the plant: :func:`rhs` and :func:`output` follow
python-control's argument order ``(t, x, u, params)``; time is in seconds
(the published per-hour balances divided by 3600); the env integrates
:func:`rhs` with RK4 and :func:`to_iosys` wraps both as a ``control.nlsys``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import TrimError
from plants._params import ParamsResolver
from plants.cstr.params import INPUT_NAMES, OPERATING_POINT, OUTPUT_NAMES, STATE_NAMES, CSTRParams

__all__ = ["rhs", "output", "steady_state", "resolve_params", "to_iosys", "SECONDS_PER_HOUR"]

#: The model's rates are per hour; the plant's time is in seconds.
SECONDS_PER_HOUR = 3600.0
_KELVIN = 273.15




#: ``resolve_params(params=None)``: None, a :class:`CSTRParams` or a dict of field overrides -> CSTRParams.
resolve_params = ParamsResolver(CSTRParams)

def rhs(t, x, u, params=None) -> np.ndarray:
    """State derivative per second (python-control ``updfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused).
    x : array_like, shape (4,)
        c_A, c_B (mol/L), reactor temperature T and jacket temperature T_K (degC).
    u : array_like, shape (2,)
        Dilution rate F/V (1/h) and jacket heat Q_K (kJ/h, negative: cooling).
    params : CSTRParams or dict or None, optional
        Plant parameters.

    Returns
    -------
    numpy.ndarray, shape (4,)
        ``(mol/(L s), mol/(L s), K/s, K/s)``.
    """
    p = resolve_params(params)
    cA, cB, T, TK = (float(v) for v in np.asarray(x, dtype=np.float64).reshape(4))
    F, Q = (float(v) for v in np.asarray(u, dtype=np.float64).reshape(2))
    kelvin = T + _KELVIN
    k1 = p.k10 * math.exp(p.E1 / kelvin)
    k2 = p.k20 * math.exp(p.E2 / kelvin)
    k3 = p.k30 * math.exp(p.E3 / kelvin)
    r1, r2, r3 = k1 * cA, k2 * cB, k3 * cA * cA
    wall = p.k_w * p.A_R * (TK - T)
    per_hour = (F * (p.c_A0 - cA) - r1 - r3,
                -F * cB + r1 - r2,
                -(r1 * p.dH_AB + r2 * p.dH_BC + r3 * p.dH_AD) / (p.rho * p.cp) + F * (p.T_in - T)
                + wall / (p.rho * p.cp * p.V_R),
                (Q - wall) / (p.m_K * p.cp_K))
    return np.array(per_hour) / SECONDS_PER_HOUR


def output(t, x, u, params=None) -> np.ndarray:
    """Measured outputs ``(c_B mol/L, T degC)``, shape (2,) (python-control ``outfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused).
    x : array_like, shape (4,)
        State.
    u : array_like, shape (2,)
        Input (unused).
    params : CSTRParams or dict or None, optional
        Plant parameters (unused).
    """
    x = np.asarray(x, dtype=np.float64).reshape(4)
    return np.array([x[1], x[2]])


def steady_state(u, params=None, *, guess=None) -> np.ndarray:
    """Return the steady state (4,) reached under constant inputs ``u`` (Newton from ``guess``).

    Parameters
    ----------
    u : array_like, shape (2,)
        F/V (1/h) and Q_K (kJ/h).
    params : CSTRParams or dict or None, optional
        Plant parameters.
    guess : array_like, shape (4,), optional
        Start of the search; default the published operating point. The
        reactor can have several steady states; the one found is the one this
        guess leads to.

    Raises
    ------
    TrimError
        If the search does not converge.

    Examples
    --------
    >>> np.round(steady_state([14.19, -1113.5]), 2)
    array([  2.14,   1.09, 114.19, 112.91])
    """
    from scipy.optimize import fsolve

    prm = resolve_params(params)
    u = as_float_array(u, "u", (2,))
    x0 = np.array(OPERATING_POINT[0] if guess is None else as_float_array(guess, "guess", (4,)))
    x, info, ok, msg = fsolve(lambda x: rhs(0.0, x, u, prm) * SECONDS_PER_HOUR, x0, full_output=True, xtol=1e-12)
    if ok != 1 or np.max(np.abs(rhs(0.0, x, u, prm))) > 1e-9:
        raise TrimError(f"no steady state found for u={u.tolist()} from {x0.tolist()}: {msg}; try another `guess`.")
    return x


def to_iosys(params=None, *, name: str = "cstr"):
    """Return the CSTR as a continuous-time ``control.nlsys`` (time in s).

    Parameters
    ----------
    params : CSTRParams or dict or None, optional
        Plant parameters; they become the system's ``params`` dict.
    name : str, default "cstr"
        System name.

    Returns
    -------
    control.NonlinearIOSystem
        States ``c_A, c_B, T, T_K``; inputs ``dilution_rate, jacket_heat``;
        outputs ``c_B, T`` (named like the states they measure).

    Examples
    --------
    >>> to_iosys().output_labels
    ['c_B', 'T']
    """
    import control

    prm = resolve_params(params)
    return control.nlsys(rhs, output, params=dataclasses.asdict(prm), states=list(STATE_NAMES),
                         inputs=list(INPUT_NAMES), outputs=list(OUTPUT_NAMES), dt=0, name=name)
