"""The twin-rotor MIMO system's scenario-file kind: ``[plant] kind = "twin_rotor"``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol.scenario.configs import RunConfig
from plants._kinds import check_common_keys, make_env
from plants.twin_rotor.params import TwinRotorParams

__all__ = ["TwinRotorPlantConfig", "build_twin_rotor"]


@dataclass(frozen=True, kw_only=True)
class TwinRotorPlantConfig:
    """``[plant] kind = "twin_rotor"``: the twin-rotor MIMO system (``neurocontrol/TwinRotor-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/TwinRotor-v0"
        Gymnasium id (the episode length is set to the run's duration).
    params : TwinRotorParams
        ``[plant.params]``; default the published values (Chaudhary & Kumar 2019, Table 1).
    dt : float, default 0.05
        Control period, s.
    substeps : int, default 5
        RK4 sub-steps per period.
    setpoint : (float, float), default (0.0, 0.0)
        Default set-point of (pitch, yaw), rad.
    initial_spread : float, default 0.0
        Half-width of a uniform random offset of the start's pitch and yaw
        (rad, from the run's spare stream); the start is at rest, motors off.
    output_noise_std : float or tuple of 2 floats, default 0.0
        Standard deviation of the angle-sensor noise, rad: one value for both
        observations or one per observation (pitch, yaw).
    """

    kind: ClassVar[str] = "twin_rotor"
    gym_id: str = "neurocontrol/TwinRotor-v0"
    params: TwinRotorParams = field(default_factory=TwinRotorParams)
    dt: float = 0.05
    substeps: int = 5
    setpoint: tuple[float, float] = (0.0, 0.0)
    initial_spread: float = 0.0
    output_noise_std: float | tuple[float, ...] = 0.0

    def __post_init__(self):
        check_common_keys(self, dt_high=1.0, spread_unit="rad", spread_high=0.5, noise_unit="rad")


def build_twin_rotor(config: TwinRotorPlantConfig, run: RunConfig, rng: np.random.Generator):
    """Make the twin-rotor env of a ``[plant]`` table and its start.

    Parameters
    ----------
    config : TwinRotorPlantConfig
        The table.
    run : RunConfig
        The run (its duration sets the episode length).
    rng : numpy.random.Generator
        The run's spare stream: draws the start's angle offsets.

    Returns
    -------
    env : gymnasium.Env
    options : dict
        Reset options with the ``initial_state``.
    """
    env = make_env(config, run)
    x0 = env.unwrapped.operating_point[0].copy()
    x0[[0, 2]] += rng.uniform(-config.initial_spread, config.initial_spread, 2)
    return env, {"initial_state": x0}
