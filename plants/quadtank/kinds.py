"""The quadruple tank's scenario-file kind: ``[plant] kind = "quadtank"``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol._validation import check_int, check_positive, check_real
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario.configs import RunConfig
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
        added to each level of the steady-state start.
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
        check_real(self.dt, "dt", low=0.0, low_open=True, high=60.0, unit="s")
        check_int(self.substeps, "substeps", low=1)
        check_positive(self.initial_spread, "initial_spread", unit="cm", allow_zero=True)
        check_positive(self.output_noise_std, "output_noise_std", unit="V", allow_zero=True)


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
    import gymnasium as gym

    n_steps = max(1, int(round(run.duration / config.dt)))
    env = gym.make(config.gym_id, max_episode_steps=n_steps, params=config.params,
                   operating_point=config.operating_point, dt=config.dt, substeps=config.substeps,
                   setpoint=config.setpoint, output_noise_std=config.output_noise_std)
    x0 = env.unwrapped.operating_point[0] + rng.uniform(-config.initial_spread, config.initial_spread, 4)
    return env, {"initial_state": np.maximum(x0, 0.0)}
