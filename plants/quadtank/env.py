"""The quadruple tank's Gymnasium environment (:class:`QuadTankEnv`): RK4 on :func:`plants.quadtank.rhs`."""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array
from plants.iosys_env import IOSystemEnv
from plants.quadtank.dynamics import resolve_params, steady_state, to_iosys
from plants.quadtank.params import OPERATING_POINTS, UNITS, QuadTankParams

__all__ = ["QuadTankEnv"]


class QuadTankEnv(IOSystemEnv):
    r"""The quadruple-tank process (Johansson 2000): hold the two lower levels with two pumps.

    ## Description

    Four tanks; pump 1 feeds tank 1 (fraction ``gamma1``) and tank 4, pump 2
    feeds tank 2 (``gamma2``) and tank 3; tanks 3 and 4 drain into tanks 1 and
    2. The valve settings place one transmission zero: in the left half plane
    at P- (``gamma1 + gamma2 > 1``), in the right half plane at P+. Each step
    holds the pump voltages for ``dt`` s and integrates :func:`plants.quadtank.rhs`
    with ``substeps`` RK4 sub-steps.

    ## Action Space

    | Num | Action | Unit | Min | Max |
    |-----|--------|------|-----|-----|
    | 0   | v1 (pump 1) | V | 0 | 10 |
    | 1   | v2 (pump 2) | V | 0 | 10 |

    ## Observation Space

    | Num | Observation | Unit | Min | Max |
    |-----|-------------|------|-----|-----|
    | 0   | y1 = kc h1  | V    | 0   | kc * tank_height (10) |
    | 1   | y2 = kc h2  | V    | 0   | kc * tank_height (10) |

    ## Rewards

    ``-sum((y - setpoint)**2)``, V^2.

    ## Starting State

    The steady state of the operating point's voltages (:func:`steady_state`),
    or ``reset(options={"initial_state": h})`` (cm).

    ## Episode End

    Terminated when a tank overflows (a level above ``tank_height``).
    ``neurocontrol/QuadTank-v0`` truncates after 1200 steps (20 min at dt = 1 s).

    ## Arguments

    Parameters
    ----------
    params : QuadTankParams or dict, optional
        The plant; default ``QuadTankParams.at(operating_point)``.
    operating_point : str, default "P-"
        Johansson's ``"P-"`` or ``"P+"`` (used when ``params`` is None, and for the
        default set-point and start).
    dt : float, default 1.0
        Control period, s.
    substeps : int, default 4
        RK4 sub-steps per period.
    setpoint : (float, float), optional
        Set-point of (y1, y2) in V; default the outputs at the start (the steady state).
    output_noise_std : float or (2,), default 0.0
        Standard deviation of the level-sensor noise, V.

    Attributes ``observation_names`` (``y1, y2``), ``input_names`` (``v1, v2``),
    ``units``, ``integrator``, ``dt``, ``setpoint`` and ``operating_point``
    (the trim ``(x, u)``) describe the plant to generic code.

    Examples
    --------
    >>> env = QuadTankEnv(operating_point="P+")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(np.array([3.15, 3.15]))
    >>> env.observation_names, env.input_names, terminated
    (('y1', 'y2'), ('v1', 'v2'), False)
    """

    def __init__(self, params: QuadTankParams | None = None, *, operating_point: str = "P-", dt: float = 1.0,
                 substeps: int = 4, setpoint=None, output_noise_std=0.0):
        if params is None:
            params = QuadTankParams.at(operating_point)
        elif operating_point not in OPERATING_POINTS:
            QuadTankParams.at(operating_point)  # raises the named error
        prm = resolve_params(params)
        v0 = OPERATING_POINTS[operating_point][2]
        u0 = np.array(v0, dtype=np.float64)
        x0 = steady_state(u0, prm)
        height = prm.tank_height
        sp = prm.kc * x0[:2] if setpoint is None else as_float_array(setpoint, "setpoint", (2,))
        super().__init__(to_iosys(prm), dt=dt, substeps=substeps, x0=x0, input_limits=[prm.voltage_limits] * 2,
                         observation_low=[0.0, 0.0], observation_high=[prm.kc * height] * 2,
                         output_noise_std=output_noise_std, setpoint=sp,
                         state_bounds=[[-np.inf, height]] * 4, units=UNITS)
        self.nominal_params = prm
        self.setpoint = sp
        self.operating_point = (x0, u0)
