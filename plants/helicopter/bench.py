"""Speed benchmark of the helicopter plant: env steps through ``gymnasium.make`` and batched plant steps."""

from __future__ import annotations

import numpy as np

import plants
from neurocontrol._timing import best_rate
from plants.helicopter.dynamics import step_batch, trim

__all__ = ["bench_plant"]




def bench_plant(steps: int = 20_000, batch: int = 256, rounds: int = 3) -> dict:
    """Helicopter env steps per second through ``gymnasium.make`` and batched plant steps per second.

    Parameters
    ----------
    steps : int, default 20000
        Env steps per timing round.
    batch : int, default 256
        Plants in one :func:`plants.helicopter.step_batch` call.
    rounds : int, default 3

    Returns
    -------
    dict
        ``env_steps_per_s``, ``env_step_us``, ``batch_size``,
        ``batch_plant_steps_per_s``.
    """
    import gymnasium as gym

    env = gym.make(plants.HELICOPTER_ID)
    env.reset(seed=0)
    action = env.unwrapped.trim_action

    def run_env(n):
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    env_rate = best_rate(run_env, steps, rounds)
    tp = trim(140.0)
    x = np.tile(tp.x, (batch, 1))
    u = np.tile(tp.u, (batch, 1))
    out = np.empty_like(x)

    def run_batch(n_calls):
        for _ in range(n_calls):
            step_batch(x, u, out=out)

    calls_per_s = best_rate(run_batch, max(1, 5 * steps // max(batch, 1)), rounds) if batch else 0.0
    return {"env_steps_per_s": env_rate, "env_step_us": 1e6 / env_rate, "batch_size": batch,
            "batch_plant_steps_per_s": calls_per_s * batch}
