"""Iterative learning control: trial-to-trial laws, their gradient models and the trial runner."""

from __future__ import annotations

from neurocontrol.ilc.gradient import (
    AbstractGradientModel,
    FunctionGradient,
    GradientILC,
    IdentifierGradient,
    LinearModelGradient,
)
from neurocontrol.ilc.laws import (
    CHANNELS,
    ILC_STATUSES,
    AbstractChannel,
    AbstractILCLaw,
    InputChannel,
    PTypeILC,
    ReferenceChannel,
    TrialContext,
    resolve_channel,
)
from neurocontrol.ilc.network import AbstractClosedLoopModel, ClosedLoopFIRModel, NormOptimalILC
from neurocontrol.ilc.result import ILCResult
from neurocontrol.ilc.rtrn_model import ClosedLoopNetworkModel
from neurocontrol.ilc.runner import EXCITATION_MODES, ILCRunner

__all__ = [
    "AbstractILCLaw",
    "PTypeILC",
    "AbstractChannel",
    "ReferenceChannel",
    "InputChannel",
    "CHANNELS",
    "resolve_channel",
    "TrialContext",
    "ILC_STATUSES",
    "AbstractGradientModel",
    "LinearModelGradient",
    "FunctionGradient",
    "IdentifierGradient",
    "GradientILC",
    "ILCResult",
    "ILCRunner",
    "EXCITATION_MODES",
    "AbstractClosedLoopModel",
    "ClosedLoopFIRModel",
    "ClosedLoopNetworkModel",
    "NormOptimalILC",
]
