"""Pure dynamics of the quadruple tank: rhs, output, the steady state of a voltage pair, and the python-control system.

The one physics source of the plant: :func:`rhs` and :func:`output` follow
python-control's argument order ``(t, x, u, params)``; the env integrates
:func:`rhs` with RK4 and :func:`to_iosys` wraps both as a ``control.nlsys``.
A level below zero counts as an empty tank (``sqrt(2 g max(h, 0))``), so a
fixed-step integrator that overshoots an empty tank stays real.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError
from plants._params import ParamsResolver
from plants.quadtank.params import INPUT_NAMES, OUTPUT_NAMES, STATE_NAMES, QuadTankParams

__all__ = ["rhs", "output", "steady_state", "resolve_params", "to_iosys"]




#: ``resolve_params(params=None)``: None, a :class:`QuadTankParams` or a dict of field overrides -> QuadTankParams.
resolve_params = ParamsResolver(QuadTankParams)

def rhs(t, x, u, params=None) -> np.ndarray:
    """Level derivatives ``dh/dt`` in cm/s (python-control ``updfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused: the plant is time invariant).
    x : array_like, shape (4,)
        Levels h1..h4, cm.
    u : array_like, shape (2,)
        Pump voltages v1, v2, V.
    params : QuadTankParams or dict or None, optional
        Plant parameters (default: operating point P-).

    Returns
    -------
    numpy.ndarray, shape (4,)
    """
    p = resolve_params(params)
    h1, h2, h3, h4 = (float(v) for v in np.asarray(x, dtype=np.float64).reshape(4))
    v1, v2 = (float(v) for v in np.asarray(u, dtype=np.float64).reshape(2))
    two_g = 2.0 * p.g
    q1 = p.a1 * math.sqrt(two_g * max(h1, 0.0))
    q2 = p.a2 * math.sqrt(two_g * max(h2, 0.0))
    q3 = p.a3 * math.sqrt(two_g * max(h3, 0.0))
    q4 = p.a4 * math.sqrt(two_g * max(h4, 0.0))
    return np.array([(-q1 + q3 + p.gamma1 * p.k1 * v1) / p.A1,
                     (-q2 + q4 + p.gamma2 * p.k2 * v2) / p.A2,
                     (-q3 + (1.0 - p.gamma2) * p.k2 * v2) / p.A3,
                     (-q4 + (1.0 - p.gamma1) * p.k1 * v1) / p.A4])


def output(t, x, u, params=None) -> np.ndarray:
    """Measured outputs ``y = kc (h1, h2)`` in V (python-control ``outfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused).
    x : array_like, shape (4,)
        Levels, cm.
    u : array_like, shape (2,)
        Pump voltages (unused: no feedthrough).
    params : QuadTankParams or dict or None, optional
        Plant parameters.

    Returns
    -------
    numpy.ndarray, shape (2,)
    """
    p = resolve_params(params)
    x = np.asarray(x, dtype=np.float64).reshape(4)
    return p.kc * x[:2]


def steady_state(v, params=None) -> np.ndarray:
    """Return the levels (4,) in cm at which constant pump voltages ``v`` hold the tanks still (closed form).

    Parameters
    ----------
    v : array_like, shape (2,)
        Pump voltages, V (non-negative).
    params : QuadTankParams or dict or None, optional
        Plant parameters.

    Raises
    ------
    ParameterError
        If a voltage is negative (no real steady state).

    Notes
    -----
    Each outlet passes what flows in: ``a_i sqrt(2 g h_i) = inflow_i``, so
    ``h_i = (inflow_i / a_i)^2 / (2 g)`` with lower-tank inflows
    ``gamma1 k1 v1 + (1 - gamma2) k2 v2`` and ``gamma2 k2 v2 + (1 - gamma1) k1 v1``.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(steady_state([3.0, 3.0]), 1)
    array([12.3, 12.8,  1.6,  1.4])
    """
    p = resolve_params(params)
    v1, v2 = as_float_array(v, "v", (2,))
    if v1 < 0 or v2 < 0:
        raise ParameterError(f"`v` must be non-negative pump voltages, got {[v1, v2]}; the pumps cannot run "
                             "backwards.")
    inflow = np.array([p.gamma1 * p.k1 * v1 + (1 - p.gamma2) * p.k2 * v2,
                       p.gamma2 * p.k2 * v2 + (1 - p.gamma1) * p.k1 * v1,
                       (1 - p.gamma2) * p.k2 * v2, (1 - p.gamma1) * p.k1 * v1])
    area = np.array([p.a1, p.a2, p.a3, p.a4])
    return (inflow / area) ** 2 / (2.0 * p.g)


def to_iosys(params=None, *, name: str = "quadtank"):
    """Return the quadruple tank as a continuous-time ``control.nlsys``.

    Parameters
    ----------
    params : QuadTankParams or dict or None, optional
        Plant parameters (default: operating point P-); they become the
        system's ``params`` dict, so any field can be overridden per simulation.
    name : str, default "quadtank"
        System name.

    Returns
    -------
    control.NonlinearIOSystem
        States ``h1..h4`` (cm), inputs ``v1, v2`` (V), outputs ``y1, y2`` (V).

    Examples
    --------
    >>> import numpy as np
    >>> sys = to_iosys()
    >>> sys.state_labels, sys.output_labels
    (['h1', 'h2', 'h3', 'h4'], ['y1', 'y2'])
    """
    import control

    prm = resolve_params(params)
    return control.nlsys(rhs, output, params=dataclasses.asdict(prm), states=list(STATE_NAMES),
                         inputs=list(INPUT_NAMES), outputs=list(OUTPUT_NAMES), dt=0, name=name)
