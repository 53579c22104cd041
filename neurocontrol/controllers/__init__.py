"""Controllers: the interface, the adaptive two-network controller, its laws, the guard, the automatic PID, MRAC."""

from __future__ import annotations

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.autotune import PIDAutoController
from neurocontrol.controllers.base import AbstractController, FunctionController
from neurocontrol.controllers.guard import GuardedController, GuardSettings
from neurocontrol.controllers.laws import AbstractLaw, LawContext, OneStepLaw, PredictiveLaw
from neurocontrol.controllers.mrac import MRACConfig, MRACController
from neurocontrol.controllers.pid_auto import ModelPIDController, PIDAutoConfig

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
    "ModelPIDController",
    "MRACController",
    "MRACConfig",
]
