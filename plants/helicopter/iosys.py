"""The helicopter as python-control nonlinear I/O systems: the continuous free-flight model and the sampled plant.

:func:`to_iosys` wraps the pure right-hand side (continuous time, no end
stops); :func:`to_sampled_iosys` wraps the compiled RK4 step with end-stop
contacts (discrete time), the arithmetic of :meth:`HelicopterEnv.step`, for
closed loops with :mod:`neurocontrol.control_bridge`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # imported when called: python-control takes about a second to import
    import control

import numpy as np

from neurocontrol._validation import check_positive, check_substeps
from plants.helicopter import _kernels
from plants.helicopter.dynamics import output, resolve_params, rhs
from plants.helicopter.params import INPUT_NAMES, STATE_NAMES

__all__ = ["to_iosys", "to_sampled_iosys"]


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


def to_sampled_iosys(params=None, *, dt: float = 0.01, substeps: int = 5,
                     name: str = "helicopter") -> control.NonlinearIOSystem:
    """Return the plant sampled with its compiled RK4 step (end-stop contacts included) as a discrete ``nlsys``.

    ``x[k+1] = plants.helicopter.step(x[k], u[k], params, dt, substeps)``:
    the same arithmetic as :meth:`HelicopterEnv.step` for an action within the
    limits, so a closed loop through this system reproduces the env's
    trajectory bit for bit (the env also clips observations to its sensor
    ranges, which a hovering helicopter never reaches). Outputs ``y = x``.

    Parameters
    ----------
    params : HelicopterParams or dict or None, optional
        Plant parameters (defaults: the published set); fixed when the system
        is built (the system's ``params`` dict is not used).
    dt : float, default 0.01
        Control period, s.
    substeps : int, default 5
        RK4 sub-steps per period.
    name : str, default "helicopter"
        System name.

    Returns
    -------
    control.NonlinearIOSystem
        Discrete time (``dt``); states and outputs named like
        :data:`STATE_NAMES`, inputs like :data:`INPUT_NAMES`.

    Raises
    ------
    ParameterError
        If ``dt`` is not positive or ``substeps`` not a positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> from plants.helicopter import step, to_sampled_iosys, trim
    >>> tp = trim(140.0)
    >>> sysd = to_sampled_iosys(dt=0.01, substeps=5)
    >>> bool(np.array_equal(sysd.dynamics(0.0, tp.x, tp.u + 1.0), step(tp.x, tp.u + 1.0, dt=0.01, substeps=5)))
    True
    """
    import control

    pvec = resolve_params(params).to_vector()
    dt = check_positive(dt, "dt", unit="s")
    substeps = check_substeps(substeps)

    def updfcn(t, x, u, params):
        out = np.empty(5)
        _kernels.step_kernel(np.asarray(x, dtype=np.float64), np.asarray(u, dtype=np.float64), pvec, 0.0, dt,
                             substeps, out)
        return out

    def outfcn(t, x, u, params):
        return np.array(x, dtype=np.float64)

    return control.nlsys(updfcn, outfcn, states=list(STATE_NAMES), inputs=list(INPUT_NAMES),
                         outputs=list(STATE_NAMES), dt=dt, name=name)
