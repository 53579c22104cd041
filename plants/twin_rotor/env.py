"""The twin-rotor MIMO system's Gymnasium environment (:class:`TwinRotorEnv`): RK4 on :func:`plants.twin_rotor.rhs`."""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array
from plants.iosys_env import IOSystemEnv
from plants.twin_rotor.dynamics import resolve_params, to_iosys, trim
from plants.twin_rotor.params import UNITS, VOLTAGE_LIMIT, TwinRotorParams

__all__ = ["TwinRotorEnv", "PITCH_RANGE", "YAW_RANGE"]

#: Half-width of the pitch sensor range, rad: the episode ends when the pitch leaves it (past it gravity no longer
#: pulls the beam back).
PITCH_RANGE = np.pi / 2
#: Half-width of the yaw sensor range, rad: the episode ends when the yaw leaves it.
YAW_RANGE = np.pi


class TwinRotorEnv(IOSystemEnv):
    r"""The twin-rotor MIMO system (Feedback Instruments TRMS): point a two-rotor beam in pitch and yaw.

    ## Description

    A beam on a pivot with a main rotor (lift: pitch) and a tail rotor
    (yaw); each motor is a first-order lag from its voltage to its rotor
    momentum. The main rotor's reaction turns the beam in yaw (a lead-lag
    cross reaction), its gyroscopic moment couples the yaw rate into pitch,
    gravity pulls the pitch back to rest and the yaw has no restoring moment.
    Each step holds the voltages for ``dt`` s and integrates
    :func:`plants.twin_rotor.rhs` with ``substeps`` RK4 sub-steps.

    ## Action Space

    | Num | Action | Unit | Min | Max |
    |-----|--------|------|-----|-----|
    | 0   | u1 (main motor) | V | -2.5 | 2.5 |
    | 1   | u2 (tail motor) | V | -2.5 | 2.5 |

    ## Observation Space

    The two measured angles (the rig's encoders; the rates are not measured):

    | Num | Observation | Unit | Min | Max |
    |-----|-------------|------|-----|-----|
    | 0   | pitch | rad | -pi/2 | pi/2 |
    | 1   | yaw   | rad | -pi   | pi   |

    ## Rewards

    ``-sum((obs - setpoint)**2)``, rad^2.

    ## Starting State

    Rest (both motors off, the beam hanging at pitch 0, yaw 0), or
    ``reset(options={"initial_state": x})``.

    ## Episode End

    Terminated when the pitch leaves +-pi/2 rad or the yaw +-pi rad.
    ``neurocontrol/TwinRotor-v0`` truncates after 800 steps (40 s at dt = 0.05 s).

    ## Arguments

    Parameters
    ----------
    params : TwinRotorParams or dict, optional
        The plant (default: Chaudhary & Kumar 2019, Table 1).
    dt : float, default 0.05
        Control period, s.
    substeps : int, default 5
        RK4 sub-steps per period.
    setpoint : (float, float), default (0.0, 0.0)
        Set-point of (pitch, yaw), rad.
    output_noise_std : float or (2,), default 0.0
        Standard deviation of the angle-sensor noise, rad.

    Attributes ``observation_names`` (``pitch, yaw``), ``input_names``
    (``u1, u2``), ``units``, ``integrator``, ``dt``, ``setpoint`` and
    ``operating_point`` (the rest trim ``(x, u)``) describe the plant.

    Examples
    --------
    >>> env = TwinRotorEnv()
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0]))
    >>> env.observation_names, env.input_names, bool(obs[0] > 0.0), terminated
    (('pitch', 'yaw'), ('u1', 'u2'), True, False)
    """

    def __init__(self, params: TwinRotorParams | None = None, *, dt: float = 0.05, substeps: int = 5,
                 setpoint=(0.0, 0.0), output_noise_std=0.0):
        prm = resolve_params(params)
        sp = as_float_array(setpoint, "setpoint", (2,))
        x0, u0 = trim(params=prm)
        high = np.array([PITCH_RANGE, YAW_RANGE])
        bounds = [[-PITCH_RANGE, PITCH_RANGE], [-np.inf, np.inf], [-YAW_RANGE, YAW_RANGE]] + [[-np.inf, np.inf]] * 4
        super().__init__(to_iosys(prm), dt=dt, substeps=substeps, x0=x0,
                         input_limits=[[-VOLTAGE_LIMIT, VOLTAGE_LIMIT]] * 2, observation_low=-high,
                         observation_high=high, output_noise_std=output_noise_std, setpoint=sp,
                         state_bounds=bounds, units=UNITS)
        self.nominal_params = prm
        self.setpoint = sp
        self.operating_point = (x0, u0)
