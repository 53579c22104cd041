"""The planar VTOL's scenario-file kind: ``[plant] kind = "pvtol"``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol._validation import check_int, check_positive, check_real
from neurocontrol.scenario.configs import RunConfig
from plants.pvtol.params import PVTOLParams

__all__ = ["PVTOLPlantConfig", "build_pvtol"]


@dataclass(frozen=True, kw_only=True)
class PVTOLPlantConfig:
    """``[plant] kind = "pvtol"``: the planar VTOL (``neurocontrol/PVTOL-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/PVTOL-v0"
        Gymnasium id (the episode length is set to the run's duration).
    params : PVTOLParams
        ``[plant.params]``; default python-control's example values.
    dt : float, default 0.02
        Control period, s.
    substeps : int, default 2
        RK4 sub-steps per period.
    setpoint : (float, float), default (0.0, 0.0)
        Default position set-point (x, y), m.
    initial_spread : float, default 0.0
        Half-width of a uniform random offset of the start's position (m, from
        the run's spare stream); the start is hover, level and at rest.
    output_noise_std : float or tuple of 6 floats, default 0.0
        Standard deviation of the sensor noise: one value for every
        observation, or one per observation (x, y, theta, xdot, ydot,
        thetadot, in their units).
    """

    kind: ClassVar[str] = "pvtol"
    gym_id: str = "neurocontrol/PVTOL-v0"
    params: PVTOLParams = field(default_factory=PVTOLParams)
    dt: float = 0.02
    substeps: int = 2
    setpoint: tuple[float, float] = (0.0, 0.0)
    initial_spread: float = 0.0
    output_noise_std: float | tuple[float, ...] = 0.0

    def __post_init__(self):
        check_real(self.dt, "dt", low=0.0, low_open=True, high=1.0, unit="s")
        check_int(self.substeps, "substeps", low=1)
        check_positive(self.initial_spread, "initial_spread", unit="m", allow_zero=True)
        for v in np.atleast_1d(self.output_noise_std):      # one value for all, or one per observation
            check_positive(float(v), "output_noise_std", allow_zero=True)


def build_pvtol(config: PVTOLPlantConfig, run: RunConfig, rng: np.random.Generator):
    """Make the planar-VTOL env of a ``[plant]`` table and its start.

    Parameters
    ----------
    config : PVTOLPlantConfig
        The table.
    run : RunConfig
        The run (its duration sets the episode length).
    rng : numpy.random.Generator
        The run's spare stream: draws the start's position offset.

    Returns
    -------
    env : gymnasium.Env
    options : dict
        Reset options with the ``initial_state``.
    """
    import gymnasium as gym

    n_steps = max(1, int(round(run.duration / config.dt)))
    env = gym.make(config.gym_id, max_episode_steps=n_steps, params=config.params, dt=config.dt,
                   substeps=config.substeps, setpoint=config.setpoint, output_noise_std=config.output_noise_std)
    x0 = env.unwrapped.operating_point[0].copy()
    x0[:2] += rng.uniform(-config.initial_spread, config.initial_spread, 2)
    return env, {"initial_state": x0}
