"""The twin-rotor MIMO system (7 states, 2 motor voltages, pitch and yaw measured; Feedback TRMS): its public names.

One physics source (:mod:`.dynamics`), two thin adapters: :class:`TwinRotorEnv`
(Gymnasium) and :func:`to_iosys` (python-control). The card with the source
of every number is in :mod:`.params`.
"""

from __future__ import annotations

from plants.twin_rotor.dynamics import output, resolve_params, rhs, to_iosys, trim
from plants.twin_rotor.env import TwinRotorEnv
from plants.twin_rotor.params import INPUT_NAMES, OUTPUT_NAMES, STATE_NAMES, UNITS, VOLTAGE_LIMIT, TwinRotorParams

__all__ = ["TwinRotorEnv", "TwinRotorParams", "rhs", "output", "trim", "resolve_params", "to_iosys", "STATE_NAMES",
           "INPUT_NAMES", "OUTPUT_NAMES", "UNITS", "VOLTAGE_LIMIT"]
