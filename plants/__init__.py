"""Plants for neurocontrol: Gymnasium environments that are also python-control systems.

Importing this package registers the environments with Gymnasium, so that
``gymnasium.make("neurocontrol/Helicopter-v0")`` works after ``import plants``.

| id                             | entry point                       | time limit          |
|--------------------------------|-----------------------------------|---------------------|
| ``neurocontrol/Helicopter-v0`` | :class:`plants.helicopter.HelicopterEnv` | 3000 steps (30 s at dt=0.01) |

``gymnasium.make_vec("neurocontrol/Helicopter-v0", num_envs=N)`` builds a
:class:`plants.helicopter.HelicopterVectorEnv` (one compiled batch step for
all N plants, no disturbances); pass ``vectorization_mode="sync"`` for N
single envs with disturbances.
"""

from __future__ import annotations

import gymnasium as gym

from plants.helicopter import (
    HelicopterEnv,
    HelicopterParams,
    HelicopterVectorEnv,
    hover_range,
    linearize,
    step,
    step_batch,
    to_iosys,
    trim,
)

__all__ = ["HelicopterEnv", "HelicopterVectorEnv", "HelicopterParams", "trim", "hover_range", "linearize", "step", "step_batch",
           "to_iosys", "HELICOPTER_ID", "register_envs"]

#: Gymnasium id of the helicopter env.
HELICOPTER_ID = "neurocontrol/Helicopter-v0"


def register_envs() -> None:
    """Register the plants with Gymnasium (idempotent: safe to call again)."""
    if HELICOPTER_ID not in gym.registry:
        gym.register(id=HELICOPTER_ID, entry_point="plants.helicopter.env:HelicopterEnv", max_episode_steps=3000,
                     vector_entry_point="plants.helicopter.vector_env:HelicopterVectorEnv")


register_envs()
