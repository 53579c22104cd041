"""The Van de Vusse CSTR plant (4 states, 2 inputs, 2 measured outputs; Klatt & Engell 1998): its public names.

One physics source (:mod:`.dynamics`), two thin adapters: :class:`CSTREnv`
(Gymnasium) and :func:`to_iosys` (python-control). The card with the source
of every number is in :mod:`.params`.
"""

from __future__ import annotations

from plants.cstr.dynamics import SECONDS_PER_HOUR, output, resolve_params, rhs, steady_state, to_iosys
from plants.cstr.env import CSTREnv
from plants.cstr.params import INPUT_NAMES, OPERATING_POINT, OUTPUT_NAMES, STATE_NAMES, UNITS, CSTRParams

__all__ = ["CSTREnv", "CSTRParams", "OPERATING_POINT", "rhs", "output", "steady_state", "resolve_params",
           "to_iosys", "SECONDS_PER_HOUR", "STATE_NAMES", "INPUT_NAMES", "OUTPUT_NAMES", "UNITS"]
