"""Scenario files: TOML decoding and encoding, the built-in kinds, running a scenario and its artefacts."""

from __future__ import annotations

from neurocontrol.registry import BUILTIN_KINDS, Registration, register, registered
from neurocontrol.scenario.artefacts import save_run
from neurocontrol.scenario.configs import ILCSpec, RunConfig
from neurocontrol.scenario.core import TOP_LEVEL_TABLES, Scenario, Setup, as_scenario, describe_kind, run_scenario
from neurocontrol.scenario.encode import to_toml_text
from neurocontrol.scenario.kinds import (
                                         AdaptiveScenarioConfig,
                                         GuardedScenarioConfig,
                                         LQRConfig,
                                         PIDConfig,
                                         SetpointReferenceConfig,
                                         SignalsReferenceConfig,
                                         WarmupPIDConfig,
)

__all__ = ["Scenario", "Setup", "as_scenario", "run_scenario", "save_run", "describe_kind", "to_toml_text", "TOP_LEVEL_TABLES",
           "RunConfig", "ILCSpec", "BUILTIN_KINDS", "Registration", "register", "registered",
           "AdaptiveScenarioConfig", "GuardedScenarioConfig", "LQRConfig", "PIDConfig", "SetpointReferenceConfig",
           "SignalsReferenceConfig", "WarmupPIDConfig"]
