"""The helicopter as a python-control nonlinear I/O system (free-flight model)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # imported when called: python-control takes about a second to import
    import control

from plants.helicopter.dynamics import output, resolve_params, rhs
from plants.helicopter.params import INPUT_NAMES, STATE_NAMES

__all__ = ["to_iosys"]


def to_iosys(params=None, *, name: str = "helicopter") -> control.NonlinearIOSystem:
    """Return the plant as a continuous-time ``control.NonlinearIOSystem``.

    Parameters
    ----------
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set). They become the
        system's ``params`` dict (one entry per :class:`HelicopterParams`
        field), so any field can be overridden per simulation, e.g.
        ``control.input_output_response(sys, T, U, X0, params={"a8": -0.91})``.
    name : str, default "helicopter"
        System name.

    Returns
    -------
    control.NonlinearIOSystem
        States ``rotor_speed, altitude, climb_rate, collective,
        collective_rate``; inputs ``throttle, collective_servo``; outputs named
        like the states (``y = x``).

    Notes
    -----
    This is the *free-flight* model: a continuous right-hand side cannot
    express the contacts at the end stops (altitude 0 and 2 m, collective
    0.0175 and 0.245 rad), so it is valid only away from them. The Gymnasium
    env and :func:`plants.helicopter.step` handle the stops.

    Examples
    --------
    >>> import numpy as np, control
    >>> from plants.helicopter import to_iosys, trim
    >>> sys = to_iosys()
    >>> tp = trim(140.0)
    >>> T = np.linspace(0.0, 1.0, 11)
    >>> resp = control.input_output_response(sys, T, np.tile(tp.u[:, None], (1, T.size)), tp.x)
    >>> bool(np.allclose(resp.outputs[:, -1], tp.x, atol=1e-6))
    True
    """
    import control

    prm = resolve_params(params)
    return control.nlsys(rhs, output, params=dataclasses.asdict(prm), states=list(STATE_NAMES),
                         inputs=list(INPUT_NAMES), outputs=list(STATE_NAMES), dt=0, name=name)
