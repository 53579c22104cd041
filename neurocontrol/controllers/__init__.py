"""Controllers: the interface, the adaptive controller, its laws, the guard, the PIDs, MRAC, the model's prefilter."""

from __future__ import annotations

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.autotune import PIDAutoController
from neurocontrol.controllers.base import AbstractController, FunctionController
from neurocontrol.controllers.guard import GuardedController, GuardSettings
from neurocontrol.controllers.laws import AbstractLaw, LawContext, OneStepLaw, PredictiveLaw
from neurocontrol.controllers.mrac import MRACConfig, MRACController
from neurocontrol.controllers.pid_auto import ModelPIDController, PIDAutoConfig
from neurocontrol.controllers.prefilter import KalmanPrefilter, design_prefilter

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
    "KalmanPrefilter",
    "design_prefilter",
]
