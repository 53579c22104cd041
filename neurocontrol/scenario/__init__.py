"""Scenario files: TOML decoding and encoding, the built-in kinds, the key reference, running a scenario."""

from __future__ import annotations

from neurocontrol.registry import BUILTIN_KINDS, Registration, register, registered
from neurocontrol.scenario.artefacts import save_run
from neurocontrol.scenario.configs import ILCSpec, RunConfig, TuneParam, TuneSpec, check_seeds, parse_seeds
from neurocontrol.scenario.core import TOP_LEVEL_TABLES, Scenario, Setup, as_scenario, run_scenario
from neurocontrol.scenario.encode import to_toml_text
from neurocontrol.scenario.keys import describe_kind
from neurocontrol.scenario.kinds import (
    AdaptiveScenarioConfig,
    GuardedScenarioConfig,
    SetpointReferenceConfig,
    SignalsReferenceConfig,
)

__all__ = ["Scenario", "Setup", "as_scenario", "run_scenario", "save_run", "describe_kind", "to_toml_text",
           "TOP_LEVEL_TABLES", "RunConfig", "ILCSpec", "TuneParam", "TuneSpec", "parse_seeds", "check_seeds",
           "BUILTIN_KINDS", "Registration", "register", "registered", "AdaptiveScenarioConfig",
           "GuardedScenarioConfig", "SetpointReferenceConfig", "SignalsReferenceConfig"]
