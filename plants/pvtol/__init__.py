"""The planar VTOL plant (6 states, 2 forces, full-state measurement; python-control's example): its public names.

One physics source (:mod:`.dynamics`), two thin adapters: :class:`PVTOLEnv`
(Gymnasium) and :func:`to_iosys` (python-control). The card with the source
of every number is in :mod:`.params`.
"""

from __future__ import annotations

from plants.pvtol.dynamics import hover, output, resolve_params, rhs, to_iosys
from plants.pvtol.env import PVTOLEnv
from plants.pvtol.params import INPUT_NAMES, STATE_NAMES, UNITS, PVTOLParams

__all__ = ["PVTOLEnv", "PVTOLParams", "rhs", "output", "hover", "resolve_params", "to_iosys", "STATE_NAMES",
           "INPUT_NAMES", "UNITS"]
