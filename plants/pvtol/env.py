"""The planar VTOL's Gymnasium environment (:class:`PVTOLEnv`): RK4 on :func:`plants.pvtol.rhs`."""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError
from plants.iosys_env import IOSystemEnv
from plants.pvtol.dynamics import hover, resolve_params, to_iosys
from plants.pvtol.params import STATE_NAMES, UNITS, PVTOLParams

__all__ = ["PVTOLEnv", "POSITION_RANGE"]

#: Half-width of the flight box, m: the episode ends when x or y leaves it.
POSITION_RANGE = 10.0
#: Each position and the angle, and the state entry that is its time derivative.
RATE_OF = {"x": "xdot", "y": "ydot", "theta": "thetadot"}


class PVTOLEnv(IOSystemEnv):
    r"""The planar VTOL aircraft (python-control's ``examples/pvtol.py``): move it in the vertical plane.

    ## Description

    A rigid body in the vertical plane with a thrust ``F2`` along its body axis
    and a lateral force ``F1`` acting ``r`` below the centre of mass (which
    also pitches it). Hover (``F2 = m g``, level) is open-loop unstable: the
    lateral position is a chain of four integrators through the pitch angle.
    Each step holds the forces for ``dt`` s and integrates :func:`plants.pvtol.rhs`
    with ``substeps`` RK4 sub-steps.

    ## Action Space

    | Num | Action | Unit | Min | Max |
    |-----|--------|------|-----|-----|
    | 0   | F1 (lateral) | N | -5.88 | 5.88 |
    | 1   | F2 (thrust)  | N | 0     | 58.8 |

    The model itself clips ``F1`` to ``+-0.1 F2``.

    ## Observation Space

    The full state, clipped to the sensor ranges: x, y in [-20, 20] m, theta in
    [-pi, pi] rad, velocities in [-20, 20] m/s, pitch rate in [-20, 20] rad/s;
    with ``measured``, only the named entries (e.g. ``("x", "y", "theta")``, the
    pose: the velocities are then not measured).

    ## Rewards

    ``-sum((obs - setpoint)**2)`` over the observations (set-point: hover).

    ## Starting State

    Hover at the origin, or ``reset(options={"initial_state": x})``.

    ## Episode End

    Terminated when x or y leaves ``[-10, 10]`` m or ``|theta| > pi/2``.
    ``neurocontrol/PVTOL-v0`` truncates after 1000 steps (20 s at dt = 0.02 s).

    ## Arguments

    Parameters
    ----------
    params : PVTOLParams or dict, optional
        The plant (default: the example's values).
    dt : float, default 0.02
        Control period, s.
    substeps : int, default 2
        RK4 sub-steps per period.
    setpoint : (float, float), default (0.0, 0.0)
        Set-point of the position (x, y) in m.
    output_noise_std : float or (n_observed,), default 0.0
        Standard deviation of the sensor noise, in each observation's unit.
    measured : sequence of str, optional
        The state entries the sensors give, in this order (default: all six,
        ``x, y, theta, xdot, ydot, thetadot``); must start with ``x, y`` (the
        controlled outputs).

    Attributes ``observation_names``, ``input_names``, ``units``, ``integrator``,
    ``dt``, ``setpoint`` (of the controlled outputs x, y),
    ``operating_point`` (the hover trim ``(x, u)``) and ``observation_rates``
    (per observation, the index of the observation that is its time
    derivative, or -1; e.g. ``xdot`` for ``x`` when both are measured)
    describe the plant.

    Examples
    --------
    >>> env = PVTOLEnv()
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(np.array([0.0, 39.2]))
    >>> env.observation_names[:3], env.input_names, bool(np.all(obs == 0.0))
    (('x', 'y', 'theta'), ('F1', 'F2'), True)
    """

    def __init__(self, params: PVTOLParams | None = None, *, dt: float = 0.02, substeps: int = 2,
                 setpoint=(0.0, 0.0), output_noise_std=0.0, measured=None):
        prm = resolve_params(params)
        sp = as_float_array(setpoint, "setpoint", (2,))
        x0, u0 = hover(params=prm)
        idx = list(range(len(STATE_NAMES)))
        if measured is not None:
            names = [str(m) for m in (measured if not isinstance(measured, str) else [measured])]
            if names[:2] != ["x", "y"] or len(set(names)) != len(names) or not set(names) <= set(STATE_NAMES):
                raise ParameterError(f"`measured` must list distinct state entries of {list(STATE_NAMES)} starting "
                                     f"with 'x', 'y' (the controlled outputs), got {names}; e.g. "
                                     f"('x', 'y', 'theta').")
            idx = [STATE_NAMES.index(m) for m in names]
        big = 2.0 * POSITION_RANGE
        low = np.array([-big, -big, -np.pi, -big, -big, -big])[idx]
        bounds = [[-POSITION_RANGE, POSITION_RANGE]] * 2 + [[-np.pi / 2, np.pi / 2]] + [[-np.inf, np.inf]] * 3
        super().__init__(to_iosys(prm), dt=dt, substeps=substeps, x0=x0, input_limits=prm.input_limits,
                         observation=[STATE_NAMES[i] for i in idx], observation_low=low, observation_high=-low,
                         output_noise_std=output_noise_std, setpoint=np.concatenate([sp, np.zeros(len(idx) - 2)]),
                         state_bounds=bounds, units=UNITS)
        self.nominal_params = prm
        self.setpoint = sp
        self.operating_point = (x0, u0)
        names = list(self.observation_names)
        self.observation_rates = tuple(names.index(RATE_OF[n]) if RATE_OF.get(n) in names else -1 for n in names)
