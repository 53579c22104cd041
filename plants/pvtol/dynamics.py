"""Pure dynamics of the planar VTOL: rhs, output and the python-control system.

The one physics source of the plant: :func:`rhs` and :func:`output` follow
python-control's argument order ``(t, x, u, params)`` and do the arithmetic
of python-control's ``examples/pvtol.py`` in the same order (same IEEE
results); the env integrates :func:`rhs` with RK4 and :func:`to_iosys` wraps
both as a ``control.nlsys``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from plants._params import ParamsResolver
from plants.pvtol.params import INPUT_NAMES, STATE_NAMES, PVTOLParams

__all__ = ["rhs", "output", "hover", "resolve_params", "to_iosys"]




#: ``resolve_params(params=None)``: None, a :class:`PVTOLParams` or a dict of field overrides -> PVTOLParams.
resolve_params = ParamsResolver(PVTOLParams)

def rhs(t, x, u, params=None) -> np.ndarray:
    """State derivative of the planar VTOL (python-control ``updfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused).
    x : array_like, shape (6,)
        State (x m, y m, theta rad, xdot m/s, ydot m/s, thetadot rad/s).
    u : array_like, shape (2,)
        Lateral force F1 and thrust F2, N; constrained as in the model
        (``F2`` to ``[0, 1.5 m g]``, then ``F1`` to ``[-0.1 F2, 0.1 F2]``).
    params : PVTOLParams or dict or None, optional
        Plant parameters.

    Returns
    -------
    numpy.ndarray, shape (6,)
    """
    p = resolve_params(params)
    m, J, r, g, c = p.m, p.J, p.r, p.g, p.c
    _, _, theta, xdot, ydot, thetadot = np.asarray(x, dtype=np.float64).reshape(6)
    F1, F2 = np.asarray(u, dtype=np.float64).reshape(2)
    F2 = min(max(F2, 0.0), 1.5 * m * g)
    F1 = min(max(F1, -0.1 * F2), 0.1 * F2)
    xddot = (F1 * math.cos(theta) - F2 * math.sin(theta) - c * xdot) / m
    yddot = (F1 * math.sin(theta) + F2 * math.cos(theta) - m * g - c * ydot) / m
    thddot = (r * F1) / J
    return np.array([xdot, ydot, thetadot, xddot, yddot, thddot], dtype=np.float64)


def output(t, x, u, params=None) -> np.ndarray:
    """Return the measured output, the full state ``y = x``, shape (6,) (python-control ``outfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused).
    x : array_like, shape (6,)
        State.
    u : array_like, shape (2,)
        Input (unused).
    params : PVTOLParams or dict or None, optional
        Plant parameters (unused).
    """
    return np.array(x, dtype=np.float64).reshape(6)


def hover(x: float = 0.0, y: float = 0.0, params=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the hover equilibrium ``(state (6,), input (2,))`` at position (x, y): level, at rest, F2 = m g.

    Parameters
    ----------
    x, y : float, default 0.0
        Position, m.
    params : PVTOLParams or dict or None, optional
        Plant parameters.
    """
    p = resolve_params(params)
    return np.array([x, y, 0.0, 0.0, 0.0, 0.0]), np.array([0.0, p.m * p.g])


def to_iosys(params=None, *, name: str = "pvtol"):
    """Return the planar VTOL as a continuous-time ``control.nlsys`` (outputs: the full state).

    Parameters
    ----------
    params : PVTOLParams or dict or None, optional
        Plant parameters; they become the system's ``params`` dict.
    name : str, default "pvtol"
        System name.

    Returns
    -------
    control.NonlinearIOSystem

    Examples
    --------
    >>> import numpy as np
    >>> sys = to_iosys()
    >>> x, u = hover()
    >>> bool(np.all(sys.updfcn(0.0, x, u, sys.params) == 0.0))
    True
    """
    import control

    prm = resolve_params(params)
    return control.nlsys(rhs, output, params=dataclasses.asdict(prm), states=list(STATE_NAMES),
                         inputs=list(INPUT_NAMES), outputs=list(STATE_NAMES), dt=0, name=name)
