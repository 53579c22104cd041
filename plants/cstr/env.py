"""The Van de Vusse CSTR's Gymnasium environment (:class:`CSTREnv`): RK4 on :func:`plants.cstr.rhs`."""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array
from plants.cstr.dynamics import resolve_params, steady_state, to_iosys
from plants.cstr.params import OPERATING_POINT, UNITS, CSTRParams
from plants.iosys_env import IOSystemEnv

__all__ = ["CSTREnv", "TEMPERATURE_RANGE"]

#: Reactor and jacket temperature range, degC: the episode ends outside it (runaway or freezing feed).
TEMPERATURE_RANGE = (20.0, 200.0)


class CSTREnv(IOSystemEnv):
    r"""The Van de Vusse CSTR (Klatt & Engell 1998): hold the product concentration and the reactor temperature.

    ## Description

    A jacketed stirred tank in which A reacts to the product B, B to C, and
    2 A to D. The dilution rate F/V and the heat removed through the jacket
    are the inputs; the product concentration c_B and the reactor
    temperature T are measured. The steady-state gain from F/V to c_B
    changes sign near the operating point (input multiplicity). Each step holds
    the inputs for ``dt`` s and integrates :func:`plants.cstr.rhs` with
    ``substeps`` RK4 sub-steps.

    ## Action Space

    | Num | Action | Unit | Min | Max |
    |-----|--------|------|-----|-----|
    | 0   | dilution_rate F/V | 1/h | 5 | 35 |
    | 1   | jacket_heat Q_K   | kJ/h | -8500 | 0 |

    ## Observation Space

    | Num | Observation | Unit | Min | Max |
    |-----|-------------|------|-----|-----|
    | 0   | c_B | mol/L | 0  | c_A0 (5.1) |
    | 1   | T   | degC  | 20 | 200 |

    ## Rewards

    ``-sum((obs - setpoint)**2)``.

    ## Starting State

    The steady state at the published operating inputs (F/V = 14.19 1/h,
    Q_K = -1113.5 kJ/h), or ``reset(options={"initial_state": x})``.

    ## Episode End

    Terminated when T or T_K leaves [20, 200] degC. ``neurocontrol/CSTR-v0``
    truncates after 360 steps (1 h at dt = 10 s).

    ## Arguments

    Parameters
    ----------
    params : CSTRParams or dict, optional
        The plant (default: the published values).
    dt : float, default 10.0
        Control period, s.
    substeps : int, default 2
        RK4 sub-steps per period.
    setpoint : (float, float), optional
        Set-point of (c_B mol/L, T degC); default the outputs at the start.
    output_noise_std : float or (2,), default 0.0
        Standard deviation of the sensor noise.

    Attributes ``observation_names``, ``input_names``, ``units``, ``integrator``,
    ``dt``, ``setpoint`` and ``operating_point`` (the trim ``(x, u)``) describe
    the plant.

    Examples
    --------
    >>> env = CSTREnv()
    >>> obs, info = env.reset(seed=0)
    >>> np.round(obs, 2).tolist(), env.input_names
    ([1.09, 114.19], ('dilution_rate', 'jacket_heat'))
    """

    def __init__(self, params: CSTRParams | None = None, *, dt: float = 10.0, substeps: int = 2, setpoint=None,
                 output_noise_std=0.0):
        prm = resolve_params(params)
        u0 = np.array(OPERATING_POINT[1], dtype=np.float64)
        x0 = steady_state(u0, prm)
        sp = x0[1:3].copy() if setpoint is None else as_float_array(setpoint, "setpoint", (2,))
        t_lo, t_hi = TEMPERATURE_RANGE
        super().__init__(to_iosys(prm), dt=dt, substeps=substeps, x0=x0,
                         input_limits=[prm.dilution_limits, prm.heat_limits],
                         observation_low=[0.0, t_lo], observation_high=[prm.c_A0, t_hi],
                         output_noise_std=output_noise_std, setpoint=sp,
                         state_bounds=[[-np.inf, np.inf]] * 2 + [[t_lo, t_hi]] * 2, units=UNITS)
        self.nominal_params = prm
        self.setpoint = sp
        self.operating_point = (x0, u0)
