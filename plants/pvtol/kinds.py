"""The planar VTOL's scenario-file kind: ``[plant] kind = "pvtol"``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol.scenario.configs import RunConfig
from plants._kinds import check_common_keys, make_env
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
        the run's spare stream; at most 20 m, the half range the env declares
        for x and y); the start is hover, level and at rest.
    output_noise_std : float or tuple of 6 floats, default 0.0
        Standard deviation of the sensor noise: one value for every
        observation, or one per observation (x, y, theta, xdot, ydot,
        thetadot, in their units; with ``measured``, one per measured entry).
    measured : tuple of str, optional
        The state entries the sensors give, from ``"x", "y"`` on (default: all six).
        E.g. ``["x", "y", "theta"]``: the pose, the velocities not measured.
    """

    kind: ClassVar[str] = "pvtol"
    gym_id: str = "neurocontrol/PVTOL-v0"
    params: PVTOLParams = field(default_factory=PVTOLParams)
    dt: float = 0.02
    substeps: int = 2
    setpoint: tuple[float, float] = (0.0, 0.0)
    initial_spread: float = 0.0
    output_noise_std: float | tuple[float, ...] = 0.0
    measured: tuple[str, ...] | None = None

    def __post_init__(self):
        check_common_keys(self, dt_high=1.0, spread_unit="m", spread_high=20.0)
        if self.measured is not None:
            object.__setattr__(self, "measured", tuple(str(m) for m in self.measured))


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
    env = make_env(config, run, **({} if config.measured is None else {"measured": config.measured}))
    x0 = env.unwrapped.operating_point[0].copy()
    x0[:2] += rng.uniform(-config.initial_spread, config.initial_spread, 2)
    return env, {"initial_state": x0}
