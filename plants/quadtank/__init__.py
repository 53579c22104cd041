"""The quadruple-tank plant (4 levels, 2 pumps, 2 level sensors; Johansson 2000): its public names.

One physics source (:mod:`.dynamics`), two thin adapters: :class:`QuadTankEnv`
(Gymnasium) and :func:`to_iosys` (python-control). The card with the source
of every number is in :mod:`.params`.
"""

from __future__ import annotations

from plants.quadtank.dynamics import output, resolve_params, rhs, steady_state, to_iosys
from plants.quadtank.env import QuadTankEnv
from plants.quadtank.params import INPUT_NAMES, OPERATING_POINTS, OUTPUT_NAMES, STATE_NAMES, UNITS, QuadTankParams

__all__ = ["QuadTankEnv", "QuadTankParams", "OPERATING_POINTS", "rhs", "output", "steady_state", "resolve_params",
           "to_iosys", "STATE_NAMES", "INPUT_NAMES", "OUTPUT_NAMES", "UNITS"]
