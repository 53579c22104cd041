"""The Van de Vusse CSTR's scenario-file kind: ``[plant] kind = "cstr"``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol.scenario.configs import RunConfig
from plants._kinds import check_common_keys, make_env
from plants.cstr.params import CSTRParams

__all__ = ["CSTRPlantConfig", "build_cstr"]


@dataclass(frozen=True, kw_only=True)
class CSTRPlantConfig:
    """``[plant] kind = "cstr"``: the Van de Vusse reactor (``neurocontrol/CSTR-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/CSTR-v0"
        Gymnasium id (the episode length is set to the run's duration).
    params : CSTRParams
        ``[plant.params]``; default the published values.
    dt : float, default 10.0
        Control period, s.
    substeps : int, default 2
        RK4 sub-steps per period.
    setpoint : (float, float), optional
        Default set-point (c_B mol/L, T degC); default the outputs at the start.
    initial_spread : float, default 0.0
        Half-width of a uniform random offset of the start's reactor and
        jacket temperatures (K, from the run's spare stream); at most 90 K,
        the half range the env declares for T.
    output_noise_std : float or tuple of 2 floats, default 0.0
        Standard deviation of the sensor noise: one value for both
        measurements, or one per measurement (c_B mol/L, T K).
    """

    kind: ClassVar[str] = "cstr"
    gym_id: str = "neurocontrol/CSTR-v0"
    params: CSTRParams = field(default_factory=CSTRParams)
    dt: float = 10.0
    substeps: int = 2
    setpoint: tuple[float, float] | None = None
    initial_spread: float = 0.0
    output_noise_std: float | tuple[float, ...] = 0.0

    def __post_init__(self):
        check_common_keys(self, dt_high=120.0, spread_unit="K", spread_high=90.0)


def build_cstr(config: CSTRPlantConfig, run: RunConfig, rng: np.random.Generator):
    """Make the CSTR env of a ``[plant]`` table and its start.

    Parameters
    ----------
    config : CSTRPlantConfig
        The table.
    run : RunConfig
        The run (its duration sets the episode length).
    rng : numpy.random.Generator
        The run's spare stream: draws the start's temperature offset.

    Returns
    -------
    env : gymnasium.Env
    options : dict
        Reset options with the ``initial_state``.
    """
    env = make_env(config, run)
    x0 = env.unwrapped.operating_point[0].copy()
    x0[2:] += rng.uniform(-config.initial_spread, config.initial_spread, 2)
    return env, {"initial_state": x0}
