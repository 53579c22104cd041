"""Controllers: the interface, the adaptive two-network controller, its control laws and the guard."""

from __future__ import annotations

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.base import AbstractController
from neurocontrol.controllers.guard import GuardedController, GuardSettings
from neurocontrol.controllers.laws import AbstractLaw, LawContext, OneStepLaw, PredictiveLaw

__all__ = [
    "AbstractController",
    "AbstractLaw",
    "OneStepLaw",
    "PredictiveLaw",
    "LawContext",
    "AdaptiveController",
    "AdaptiveControllerConfig",
    "GuardedController",
    "GuardSettings",
]
