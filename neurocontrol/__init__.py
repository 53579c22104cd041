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
>>> callable(neurocontrol.sweep) and callable(neurocontrol.tune)
True

``sweep`` and ``tune`` are also the names of their modules. Whichever Python
finds first, ``neurocontrol.sweep(...)`` calls :func:`neurocontrol.sweep.sweep`
and ``neurocontrol.tune(...)`` calls :func:`neurocontrol.tune.tune`: the two
modules are callable, and ``neurocontrol.sweep.parse_seeds`` etc. keep working.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("neurocontrol")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Public name -> module that defines it (imported on first attribute access).
_LAZY = {
    # scripts first: one function per command
    "run_scenario": "neurocontrol.scenario",
    "sweep": "neurocontrol.sweep",
    "compare": "neurocontrol.sweep",
    "tune": "neurocontrol.tune",
    "check_gradients": "neurocontrol.gradcheck",
    "sweep_on_cluster": "neurocontrol.dist",
    "simulate": "neurocontrol.simulate",
    "Scenario": "neurocontrol.scenario",
    # results
    "Result": "neurocontrol.results",
    "SweepResult": "neurocontrol.sweep",
    "Comparison": "neurocontrol.sweep",
    "TuneResult": "neurocontrol.tune",
    # controllers
    "AbstractController": "neurocontrol.controller",
    "AdaptiveController": "neurocontrol.controller",
    "AdaptiveControllerConfig": "neurocontrol.controller",
    "PIDController": "neurocontrol.baselines",
    "LQRController": "neurocontrol.baselines",
    # learning rules and guards
    "AbstractLearningRule": "neurocontrol.learning",
    "RecursiveLeastSquares": "neurocontrol.learning",
    "TwoDRule": "neurocontrol.learning",
    "RTRLGradient": "neurocontrol.learning",
    "Guarded": "neurocontrol.learning",
    # control laws
    "AbstractLaw": "neurocontrol.synth",
    "PredictiveLaw": "neurocontrol.synth",
    "OneStepLaw": "neurocontrol.synth",
    # reference signals and models
    "AbstractSignal": "neurocontrol.reference",
    "Constant": "neurocontrol.reference",
    "Step": "neurocontrol.reference",
    "Staircase": "neurocontrol.reference",
    "Ramp": "neurocontrol.reference",
    "Sine": "neurocontrol.reference",
    "MultiSignal": "neurocontrol.reference",
    "SecondOrderReferenceModel": "neurocontrol.reference",
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
_MODULE_FUNCTIONS = {"sweep", "tune"}


def _make_callable(module_name: str, function_name: str) -> None:
    """Make module ``module_name`` callable as its function ``function_name`` (see the module docstring)."""
    import sys
    import types

    module = sys.modules[module_name]
    function = getattr(module, function_name)

    class _CallableModule(types.ModuleType):
        __doc__ = module.__doc__

        def __call__(self, *args, **kwargs):
            return function(*args, **kwargs)

    module.__class__ = _CallableModule


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurocontrol' has no attribute {name!r}")
    mod = importlib.import_module(module)
    if name in _MODULE_FUNCTIONS:
        if not callable(mod):
            _make_callable(module, name)
        return mod
    value = getattr(mod, name)
    globals()[name] = value          # cache: later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
