"""What the scenario kinds of the published benchmark plants share: the checks of their common keys, the env."""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import check_positive, check_real, check_substeps

__all__ = ["check_common_keys", "make_env"]


def check_common_keys(config, *, dt_high: float, spread_unit: str, spread_high: float | None = None,
                      noise_unit: str = "") -> None:
    """Check ``dt``, ``substeps``, ``initial_spread`` and ``output_noise_std`` of a plant kind's config.

    Parameters
    ----------
    config : dataclass
        The ``[plant]`` table (those four fields).
    dt_high : float
        Largest control period accepted, s.
    spread_unit : str
        Unit of ``initial_spread`` (for the error message).
    spread_high : float, optional
        Largest ``initial_spread`` accepted (default: any non-negative value).
    noise_unit : str, default ""
        Unit of ``output_noise_std`` (for the error message).
    """
    check_real(config.dt, "dt", low=0.0, low_open=True, high=dt_high, unit="s")
    check_substeps(config.substeps)
    if spread_high is None:
        check_positive(config.initial_spread, "initial_spread", unit=spread_unit, allow_zero=True)
    else:
        check_real(config.initial_spread, "initial_spread", low=0.0, high=spread_high, unit=spread_unit)
    for v in np.atleast_1d(config.output_noise_std):      # one value for all, or one per observation
        check_positive(float(v), "output_noise_std", unit=noise_unit, allow_zero=True)


def make_env(config, run, **extra):
    """Return ``gymnasium.make`` of the kind's env id with the common keys, its episode as long as the run.

    Parameters
    ----------
    config : dataclass
        The ``[plant]`` table (``gym_id``, ``params``, ``dt``, ``substeps``,
        ``setpoint``, ``output_noise_std``).
    run : RunConfig
        The run (its duration sets the episode length).
    **extra
        More arguments of the env (e.g. the quadruple tank's ``operating_point``).
    """
    import gymnasium as gym

    n_steps = max(1, int(round(run.duration / config.dt)))
    return gym.make(config.gym_id, max_episode_steps=n_steps, params=config.params, dt=config.dt,
                    substeps=config.substeps, setpoint=config.setpoint, output_noise_std=config.output_noise_std,
                    **extra)
