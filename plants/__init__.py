"""The plants of neurocontrol and their Gymnasium registration: environments that are also python-control systems.

Importing this package registers the environments with Gymnasium, so that
``gymnasium.make("neurocontrol/Helicopter-v0")`` works after ``import plants``.

| id                             | entry point                       | time limit          |
|--------------------------------|-----------------------------------|---------------------|
| ``neurocontrol/Helicopter-v0`` | :class:`plants.helicopter.HelicopterEnv` | 3000 steps (30 s at dt=0.01) |
| ``neurocontrol/IOSystem-v0``   | :class:`plants.iosys_env.IOSystemEnv`    | none (pass ``max_episode_steps``) |
| ``neurocontrol/QuadTank-v0``   | :class:`plants.quadtank.QuadTankEnv`     | 1200 steps (20 min at dt=1 s) |
| ``neurocontrol/PVTOL-v0``      | :class:`plants.pvtol.PVTOLEnv`           | 1000 steps (20 s at dt=0.02 s) |
| ``neurocontrol/CSTR-v0``       | :class:`plants.cstr.CSTREnv`             | 360 steps (1 h at dt=10 s) |
| ``neurocontrol/TwinRotor-v0``  | :class:`plants.twin_rotor.TwinRotorEnv`  | 800 steps (40 s at dt=0.05 s) |

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
from plants.iosys_env import IOSYSTEM_ID, IOSystemEnv
from plants.iosys_env import register_env as _register_iosystem_env

__all__ = ["HelicopterEnv", "HelicopterVectorEnv", "HelicopterParams", "trim", "hover_range", "linearize",
           "step", "step_batch", "to_iosys", "HELICOPTER_ID", "IOSystemEnv", "IOSYSTEM_ID", "QUADTANK_ID", "PVTOL_ID",
           "CSTR_ID", "TWIN_ROTOR_ID", "register_envs"]

#: Gymnasium id of the helicopter env.
HELICOPTER_ID = "neurocontrol/Helicopter-v0"
#: Gymnasium ids of the published benchmark plants (docs/plants.md).
QUADTANK_ID = "neurocontrol/QuadTank-v0"
PVTOL_ID = "neurocontrol/PVTOL-v0"
CSTR_ID = "neurocontrol/CSTR-v0"
TWIN_ROTOR_ID = "neurocontrol/TwinRotor-v0"
_BENCHMARKS = ((QUADTANK_ID, "plants.quadtank.env:QuadTankEnv", 1200),
               (PVTOL_ID, "plants.pvtol.env:PVTOLEnv", 1000),
               (CSTR_ID, "plants.cstr.env:CSTREnv", 360),
               (TWIN_ROTOR_ID, "plants.twin_rotor.env:TwinRotorEnv", 800))


def register_envs() -> None:
    """Register every plant id of the table above with Gymnasium (idempotent: safe to call again)."""
    _register_iosystem_env()
    if HELICOPTER_ID not in gym.registry:
        gym.register(id=HELICOPTER_ID, entry_point="plants.helicopter.env:HelicopterEnv", max_episode_steps=3000,
                     vector_entry_point="plants.helicopter.vector_env:HelicopterVectorEnv")
    for env_id, entry_point, steps in _BENCHMARKS:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=steps)


register_envs()
