"""Controllers: the interface, the adaptive two-network controller, its laws, the guard, the relay-tuned PID, MRAC."""

from __future__ import annotations

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.autotune import PIDAutoConfig, PIDAutoController
from neurocontrol.controllers.base import AbstractController, FunctionController
from neurocontrol.controllers.guard import GuardedController, GuardSettings
from neurocontrol.controllers.laws import AbstractLaw, LawContext, OneStepLaw, PredictiveLaw
from neurocontrol.controllers.mrac import MRACConfig, MRACController

__all__ = [
    "AbstractController",
    "FunctionController",
    "AbstractLaw",
    "OneStepLaw",
    "PredictiveLaw",
    "LawContext",
    "AdaptiveController",
    "AdaptiveControllerConfig",
    "GuardedController",
    "GuardSettings",
    "PIDAutoController",
    "PIDAutoConfig",
    "MRACController",
    "MRACConfig",
]
