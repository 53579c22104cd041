"""The quadruple tank's scenario-file kind: ``[plant] kind = "quadtank"``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario.configs import RunConfig
from plants._kinds import check_common_keys, make_env
from plants.quadtank.params import OPERATING_POINTS, QuadTankParams

__all__ = ["QuadTankPlantConfig", "build_quadtank"]


@dataclass(frozen=True, kw_only=True)
class QuadTankPlantConfig:
    """``[plant] kind = "quadtank"``: the quadruple tank (``neurocontrol/QuadTank-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/QuadTank-v0"
        Gymnasium id (the episode length is set to the run's duration).
    operating_point : str, default "P-"
        Johansson's ``"P-"`` (minimum phase) or ``"P+"`` (non-minimum phase).
    params : QuadTankParams, optional
        ``[plant.params]``: every field; default the operating point's published set.
    dt : float, default 1.0
        Control period, s.
    substeps : int, default 4
        RK4 sub-steps per period.
    setpoint : (float, float), optional
        Default set-point of (y1, y2), V; default the outputs at the start.
    initial_spread : float, default 0.0
        Half-width of a uniform random offset (cm, from the run's spare stream)
        added to each level of the steady-state start; at most 10 cm, the half
        range the env declares for the levels (20 cm).
    output_noise_std : float, default 0.0
        Standard deviation of the level-sensor noise, V.
    """

    kind: ClassVar[str] = "quadtank"
    gym_id: str = "neurocontrol/QuadTank-v0"
    operating_point: str = "P-"
    params: QuadTankParams | None = None
    dt: float = 1.0
    substeps: int = 4
    setpoint: tuple[float, float] | None = None
    initial_spread: float = 0.0
    output_noise_std: float = 0.0

    def __post_init__(self):
        if self.operating_point not in OPERATING_POINTS:
            raise ParameterError(f"`operating_point` must be one of {sorted(OPERATING_POINTS)}, "
                                 f"got {self.operating_point!r}.")
        check_common_keys(self, dt_high=60.0, spread_unit="cm", spread_high=10.0, noise_unit="V")


def build_quadtank(config: QuadTankPlantConfig, run: RunConfig, rng: np.random.Generator):
    """Make the quadruple-tank env of a ``[plant]`` table and its start.

    Parameters
    ----------
    config : QuadTankPlantConfig
        The table.
    run : RunConfig
        The run (its duration sets the episode length).
    rng : numpy.random.Generator
        The run's spare stream: draws the start's offset.

    Returns
    -------
    env : gymnasium.Env
    options : dict
        Reset options with the ``initial_state``.
    """
    env = make_env(config, run, operating_point=config.operating_point)
    x0 = env.unwrapped.operating_point[0] + rng.uniform(-config.initial_spread, config.initial_spread, 4)
    return env, {"initial_state": np.maximum(x0, 0.0)}
