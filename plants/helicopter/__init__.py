"""The helicopter plant (5 states, 2 inputs): its public names, re-exported from the modules below.

One physics source (:mod:`.dynamics`) and two thin adapters: the Gymnasium
env (:class:`HelicopterEnv`) and the python-control system (:func:`to_iosys`).
See ``reference/helicopter.md`` of the project for the model and its values.
"""

from __future__ import annotations

from plants.helicopter.dynamics import (
                                        Linearization,
                                        TrimPoint,
                                        hover_range,
                                        jacobian,
                                        linearize,
                                        output,
                                        rhs,
                                        step,
                                        step_batch,
                                        trim,
)
from plants.helicopter.env import HelicopterEnv, observation_bounds
from plants.helicopter.iosys import to_iosys, to_sampled_iosys
from plants.helicopter.params import INPUT_NAMES, STATE_NAMES, UNITS, HelicopterParams
from plants.helicopter.vector_env import HelicopterVectorEnv

__all__ = ["HelicopterEnv", "HelicopterVectorEnv", "HelicopterParams", "trim", "TrimPoint", "hover_range", "linearize",
           "Linearization", "jacobian", "rhs", "output", "step", "step_batch", "to_iosys", "to_sampled_iosys",
           "observation_bounds", "STATE_NAMES", "INPUT_NAMES", "UNITS"]
