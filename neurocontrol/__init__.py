"""neurocontrol: adaptive neural control of MIMO plants.

Two real-time recurrent networks (RTRNs) of identical structure learn online in
a closed loop: the identifier learns the plant from measured transitions, the
imitator learns the desired response of a reference model, and a control-law
synthesiser turns both networks' weights, the measured output and the reference
into the next input.

Every command of the ``neurocontrol`` command line is a documented function
here (``run`` -> :func:`run_scenario`, ``sweep`` -> :func:`sweep` (or
:func:`sweep_on_cluster` with ``--scheduler``), ``compare`` -> :func:`compare`,
``tune`` -> :func:`tune`, ``check gradients`` -> :func:`check_gradients`). The
names below are imported lazily on first use, so ``import neurocontrol`` stays
light (no numba compilation, no optional dependency).

Examples
--------
>>> import neurocontrol
>>> {"run_scenario", "sweep", "compare", "tune", "check_gradients"} <= set(neurocontrol.__all__)
True
>>> neurocontrol.Constant(value=1.0)(0.0)
1.0
>>> callable(neurocontrol.experiments.sweeps) and callable(neurocontrol.experiments.tuning)
True

``sweep`` and ``tune`` are also the names of their modules. Whichever Python
finds first, ``neurocontrol.sweep(...)`` calls :func:`neurocontrol.experiments.sweeps.sweep`
and ``neurocontrol.tune(...)`` calls :func:`neurocontrol.experiments.tuning.tune`: the two
modules are callable, and ``neurocontrol.experiments.sweeps.parse_seeds`` etc. keep working.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("neurocontrol")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Public name -> module that defines it (imported on first attribute access).
_LAZY = {
    # scripts first: one function per command
    "run_scenario": "neurocontrol.scenario.core",
    "sweep": "neurocontrol.experiments.sweeps",
    "compare": "neurocontrol.experiments.sweeps",
    "tune": "neurocontrol.experiments.tuning",
    "check_gradients": "neurocontrol.nets.gradcheck",
    "sweep_on_cluster": "neurocontrol.experiments.distributed",
    "simulate": "neurocontrol.simulation.loop",
    "Scenario": "neurocontrol.scenario.core",
    # results
    "Result": "neurocontrol.results",
    "SweepResult": "neurocontrol.experiments.sweeps",
    "Comparison": "neurocontrol.experiments.sweeps",
    "TuneResult": "neurocontrol.experiments.tuning",
    # controllers
    "AbstractController": "neurocontrol.controllers.base",
    "AdaptiveController": "neurocontrol.controllers.adaptive",
    "AdaptiveControllerConfig": "neurocontrol.controllers.adaptive",
    "PIDController": "plants.helicopter.baselines",
    "LQRController": "plants.helicopter.baselines",
    # learning rules and guards
    "AbstractLearningRule": "neurocontrol.nets.rules",
    "RecursiveLeastSquares": "neurocontrol.nets.rules",
    "TwoDRule": "neurocontrol.nets.rules",
    "RTRLGradient": "neurocontrol.nets.rules",
    "Guarded": "neurocontrol.nets.rules",
    # control laws
    "AbstractLaw": "neurocontrol.controllers.laws",
    "PredictiveLaw": "neurocontrol.controllers.laws",
    "OneStepLaw": "neurocontrol.controllers.laws",
    # reference signals and models
    "AbstractSignal": "neurocontrol.reference",
    "Constant": "neurocontrol.reference",
    "Step": "neurocontrol.reference",
    "Staircase": "neurocontrol.reference",
    "Ramp": "neurocontrol.reference",
    "Sine": "neurocontrol.reference",
    "MultiSignal": "neurocontrol.reference",
    "SecondOrderReferenceModel": "neurocontrol.reference_model",
    "aprbs": "neurocontrol.reference",
    "multisine": "neurocontrol.reference",
    "chirp": "neurocontrol.reference",
    # ecosystem
    "save_weights": "neurocontrol.io",
    "load_weights": "neurocontrol.io",
    "controller_iosys": "neurocontrol.control_bridge",
    "ResidualControlEnv": "neurocontrol.gym_wrappers",
    "ReferenceSelectionEnv": "neurocontrol.gym_wrappers",
}

__all__ = ["__version__", *_LAZY]


#: Exported functions that share their module's name: the module itself is returned, made callable.
def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurocontrol' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value          # cache: later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
