"""The one closed loop (:func:`simulate`): controller, plant and reference per run, its seeds, events and faults."""

from __future__ import annotations

from neurocontrol.simulation.events import AbstractEvent, ParameterChange
from neurocontrol.simulation.faults import (
    ActuatorFault,
    DriftConfig,
    DropoutConfig,
    FaultsConfig,
    SensorBiasConfig,
    SensorNoiseConfig,
    StuckActuatorConfig,
    wrap_faults,
)
from neurocontrol.simulation.loop import (
    LoopSpec,
    SeedStreams,
    TrialSpec,
    check_loop,
    episode_steps,
    package_versions,
    seed_streams,
    signal_names,
    simulate,
)

__all__ = [
    "simulate",
    "TrialSpec",
    "check_loop",
    "LoopSpec",
    "episode_steps",
    "seed_streams",
    "SeedStreams",
    "package_versions",
    "signal_names",
    "AbstractEvent",
    "ParameterChange",
    "FaultsConfig",
    "SensorBiasConfig",
    "SensorNoiseConfig",
    "DropoutConfig",
    "StuckActuatorConfig",
    "DriftConfig",
    "ActuatorFault",
    "wrap_faults",
]
