"""The table of kinds: which name in a scenario file means which config class and builder.

A leaf of the package: it imports nothing of neurocontrol at module level. The
built-in kinds are listed once, in :data:`BUILTIN`, as ``"module:attribute"``
strings (Gymnasium's ``entry_point`` style) that are imported on the first
lookup; third-party packages add kinds with :func:`register` or through the
``neurocontrol.registry`` entry-point group.

Sections and what their builders take: ``plant`` ``build(config, run, rng) ->
(env, options)``; ``reference`` ``build(config, env, output_names) -> signal``;
``controller`` ``build(config, env) -> controller``; ``runner``
``build(scenario, setup, **run_kwargs) -> result``; ``warmup`` ``build(config,
env) -> controller`` (the adaptive controller's warm-up controller);
``events``, ``signal``, ``rule``, ``law``, ``ilc_law``: the config object
itself is the object.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

from neurocontrol.exceptions import ParameterError

__all__ = ["Registration", "register", "registered", "BUILTIN", "BUILTIN_KINDS", "builtin_modules", "resolve",
           "import_object", "kind_of", "subclass_kinds"]

_ENTRY_POINT_GROUP = "neurocontrol.registry"

#: The built-in kinds, ``(section, kind, config, build)``; each object named as
#: ``"module:attribute"`` (``None``: no config class, or the config is the object).
BUILTIN = (
    ("plant", "helicopter", "plants.helicopter.kinds:HelicopterPlantConfig",
     "plants.helicopter.kinds:build_helicopter"),
    ("plant", "quadtank", "plants.quadtank.kinds:QuadTankPlantConfig", "plants.quadtank.kinds:build_quadtank"),
    ("plant", "pvtol", "plants.pvtol.kinds:PVTOLPlantConfig", "plants.pvtol.kinds:build_pvtol"),
    ("plant", "twin_rotor", "plants.twin_rotor.kinds:TwinRotorPlantConfig", "plants.twin_rotor.kinds:build_twin_rotor"),
    ("plant", "cstr", "plants.cstr.kinds:CSTRPlantConfig", "plants.cstr.kinds:build_cstr"),
    ("reference", "setpoint", "neurocontrol.scenario.kinds:SetpointReferenceConfig",
     "neurocontrol.scenario.kinds:build_setpoint"),
    ("reference", "signals", "neurocontrol.scenario.kinds:SignalsReferenceConfig",
     "neurocontrol.scenario.kinds:build_signals"),
    ("signal", "constant", "neurocontrol.reference:Constant", None),
    ("signal", "step", "neurocontrol.reference:Step", None),
    ("signal", "staircase", "neurocontrol.reference:Staircase", None),
    ("signal", "ramp", "neurocontrol.reference:Ramp", None),
    ("signal", "sine", "neurocontrol.reference:Sine", None),
    ("rule", "rls", "neurocontrol.nets.rules:RecursiveLeastSquares", None),
    ("rule", "two_d", "neurocontrol.nets.rules:TwoDRule", None),
    ("law", "predictive", "neurocontrol.controllers.laws:PredictiveLaw", None),
    ("law", "one_step", "neurocontrol.controllers.laws:OneStepLaw", None),
    ("controller", "adaptive", "neurocontrol.scenario.kinds:AdaptiveScenarioConfig",
     "neurocontrol.scenario.kinds:build_adaptive"),
    ("controller", "guarded", "neurocontrol.scenario.kinds:GuardedScenarioConfig",
     "neurocontrol.scenario.kinds:build_guarded"),
    ("controller", "filtered", "neurocontrol.scenario.kinds:FilteredConfig",
     "neurocontrol.scenario.kinds:build_filtered"),
    ("controller", "pid", "plants.helicopter.kinds:PIDConfig", "plants.helicopter.kinds:build_pid"),
    ("controller", "lqr", "plants.helicopter.kinds:LQRConfig", "plants.helicopter.kinds:build_lqr"),
    ("controller", "lqr_i", "neurocontrol.controllers.generic:LQRIConfig",
     "neurocontrol.controllers.generic:build_lqr_i"),
    ("controller", "pid_auto", "neurocontrol.controllers.pid_auto:PIDAutoConfig",
     "neurocontrol.controllers.pid_auto:build_pid_auto"),
    ("controller", "pid_gains", "neurocontrol.controllers.pid_gains:PIDGainsConfig",
     "neurocontrol.controllers.pid_gains:build_pid_gains"),
    ("controller", "mrac", "neurocontrol.controllers.mrac:MRACConfig", "neurocontrol.controllers.mrac:build_mrac"),
    ("controller", "neural", "neurocontrol.controllers.neural:NeuralControllerConfig",
     "neurocontrol.controllers.neural:build_neural"),
    ("warmup", "pid", "plants.helicopter.kinds:WarmupPIDConfig", "plants.helicopter.kinds:build_warmup_pid"),
    ("events", "parameter_change", "neurocontrol.simulation.events:ParameterChange", None),
    ("events", "actuator_fault", "neurocontrol.simulation.faults:ActuatorFault", None),
    ("ilc_law", "p", None, None),
    ("ilc_law", "norm_optimal", None, None),
    ("ilc_law", "network", None, None),
    ("plant_demo", "helicopter", None, "plants.helicopter.demo:run_demo"),
    ("plant_bench", "helicopter", None, "plants.helicopter.bench:bench_plant"),
    ("runner", "ilc", None, "neurocontrol.ilc.scenario_runner:run_ilc_scenario"),
)

#: The built-in kinds by section, ``{section: (kind, ...)}`` (documented in docs/scenarios.md).
BUILTIN_KINDS = {s: tuple(k for sec, k, _, _ in BUILTIN if sec == s) for s in dict.fromkeys(e[0] for e in BUILTIN)}


def builtin_modules() -> tuple[str, ...]:
    """Name the modules that define the built-in kinds, in :data:`BUILTIN` order, each once.

    Returns
    -------
    tuple of str
        Importable module names (e.g. for a process pool to preload).
    """
    names = (entry.partition(":")[0] for row in BUILTIN for entry in row[2:] if entry)
    return tuple(dict.fromkeys(names))


def resolve(name: str):
    """Import the object named ``"module:attribute"``.

    Parameters
    ----------
    name : str
        ``"package.module:attribute"``.

    Returns
    -------
    object
    """
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


_IMPORT_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def import_object(name: str, what: str = "the object"):
    """Import a user's object named ``"package.module:attribute"``, with errors that say how to fix the name.

    Unlike :func:`resolve` (for the built-in names) every failure is a
    :class:`~neurocontrol.exceptions.ParameterError` naming the module or
    attribute at fault; the attribute may be dotted (``"pkg.mod:Class.make"``).

    Parameters
    ----------
    name : str
        ``"package.module:attribute"``; the module must be importable
        (installed, or its folder on ``sys.path``/``PYTHONPATH``).
    what : str, default "the object"
        How messages name the object, e.g. ``"the plant kind"``.

    Returns
    -------
    object

    Raises
    ------
    ParameterError
        If the name is malformed, the module cannot be imported or raises
        while importing, or the attribute is missing.

    Examples
    --------
    >>> import_object("collections:OrderedDict").__name__
    'OrderedDict'
    """
    if not isinstance(name, str) or not _IMPORT_NAME.fullmatch(name):
        raise ParameterError(f"{what} must be named \"package.module:attribute\" (e.g. \"my_plants.tank:TankEnv\"), "
                             f"got {name!r}.")
    module, _, attr = name.partition(":")
    try:
        obj = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise ParameterError(f"{what} {name!r}: module {module!r} cannot be imported (no module named "
                                 f"{exc.name!r}); it must be on sys.path or installed in every process that "
                                 "reads it: install its package (pip install -e .) or add its folder to "
                                 "PYTHONPATH.") from None
        raise ParameterError(f"{what} {name!r}: importing module {module!r} failed: {type(exc).__name__}: {exc}; "
                             "install what it needs.") from exc
    except Exception as exc:   # the user's module raised while importing: report it with its cause
        raise ParameterError(f"{what} {name!r}: importing module {module!r} failed: {type(exc).__name__}: {exc}; "
                             "fix the module.") from exc
    path = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(obj) if not n.startswith("_")
                            and not isinstance(getattr(obj, n, None), types.ModuleType))
            listed = ", ".join(public[:20]) + (", ..." if len(public) > 20 else "")
            raise ParameterError(f"{what} {name!r}: {path!r} has no attribute {part!r}; its public names: "
                                 f"{listed or '(none)'}.")
        obj = getattr(obj, part)
        path = f"{path}.{part}"
    return obj


@dataclass(frozen=True)
class Registration:
    """One registered kind: its section, name, config dataclass and build function (or None).

    Parameters
    ----------
    section : str
        The scenario-file section (``plant``, ``controller``, ...).
    kind : str
        The name used as ``kind = "..."``.
    config : type or None
        The frozen config dataclass (None: a kind without settings).
    build : callable or None
        Makes the object from a config (None: the config object is the object).
    """

    section: str
    kind: str
    config: type | None
    build: Callable | None


_REGISTRY: dict[str, dict[str, Registration]] = {}
_plugins_loaded = False
_PLUGIN_ERRORS: dict[str, str] = {}


def _plugin_note() -> str:
    """Return a hint for unknown-kind errors when a registering module failed to import."""
    if not _PLUGIN_ERRORS:
        return ""
    return " (note: " + "; ".join(f"{m} failed to import: {e}" for m, e in _PLUGIN_ERRORS.items()) + ")"


def _is_config_class(cls) -> bool:
    return isinstance(cls, type) and dataclasses.is_dataclass(cls)


def register(section: str, kind: str, config: type | None, build: Callable | None = None, *,
             replace: bool = False) -> Registration:
    """Register ``kind`` in ``section`` so scenario files can name it.

    Parameters
    ----------
    section : str
        ``"plant"``, ``"reference"``, ``"controller"``, ``"events"``,
        ``"signal"``, ``"runner"``, ``"ilc_law"`` or a new section (e.g.
        ``"law"``, ``"rule"`` for objects nested in a controller config).
    kind : str
        The name used as ``kind = "..."`` in files (lower case, ``[a-z0-9_]``).
    config : type or None
        A frozen keyword-only dataclass whose init fields are the allowed
        keys; None for a kind without settings (e.g. a runner).
    build : callable, optional
        Makes the object from a config (signatures by section in the module
        docstring). None: the config object itself is the object.
    replace : bool, default False
        Allow replacing an existing registration of another class.

    Returns
    -------
    Registration

    Raises
    ------
    ParameterError
        On a malformed name, a config that is not a frozen keyword-only
        dataclass, a build that is not callable, or a clash with an existing
        registration (unless ``replace``).

    Examples
    --------
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class BangBangConfig:
    ...     gain: float = 1.0
    >>> reg = register("controller", "bang_bang", BangBangConfig, lambda config, env: ...)
    >>> "bang_bang" in registered("controller")
    True
    >>> _ = _REGISTRY["controller"].pop("bang_bang")  # (clean up the example)
    """
    _load_builtins()
    for what, name in (("section", section), ("kind", kind)):
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ParameterError(f"`{what}` must be a lower-case name like 'pid' ([a-z][a-z0-9_]*), got {name!r}.")
    if config is not None:
        if not _is_config_class(config):
            raise ParameterError(f"`config` of {section} kind {kind!r} must be a dataclass type (frozen, "
                                 f"keyword-only), got {config!r}.")
        params = getattr(config, "__dataclass_params__", None)
        if not getattr(params, "frozen", False) or not all(f.kw_only for f in dataclasses.fields(config) if f.init):
            raise ParameterError(f"`config` {config.__name__} of {section} kind {kind!r} must be a frozen keyword-only "
                                 "dataclass: @dataclasses.dataclass(frozen=True, kw_only=True).")
        own = _class_kind_attr(config)
        if own is not None and own != kind:
            raise ParameterError(f"{config.__name__} declares kind {own!r} but is registered as {kind!r}; "
                                 "use the same name.")
    if build is not None and not callable(build):
        raise ParameterError(f"`build` of {section} kind {kind!r} must be callable or None, got {build!r}.")
    table = _REGISTRY.setdefault(section, {})
    old = table.get(kind)
    if old is not None and not replace and (old.config is not config or old.build is not build):
        same_name = old.config is not None and config is not None and old.config.__qualname__ == config.__qualname__ \
            and old.config.__module__ == config.__module__
        if not same_name:  # re-importing a module re-registers its classes: allowed
            raise ParameterError(f"{section} kind {kind!r} is already registered to "
                                 f"{getattr(old.config, '__name__', None)}; pass replace=True or choose another name.")
    reg = Registration(section, kind, config, build)
    table[kind] = reg
    return reg


def _load_builtins() -> None:
    """Register the kinds of :data:`BUILTIN` and of installed plugins (once, on the first lookup)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for section, kind, config, build in BUILTIN:
        try:
            obj = resolve(config) if config else None
            fn = resolve(build) if build else None
        except Exception as exc:  # a broken module must not hide the other kinds; reported on lookup
            _PLUGIN_ERRORS[f"{section} kind {kind!r}"] = f"{type(exc).__name__}: {exc}"
            continue
        register(section, kind, obj, fn)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group=_ENTRY_POINT_GROUP):
            ep.load()
    except Exception as exc:  # pragma: no cover - a broken third-party plugin must not hide the builtins
        print(f"neurocontrol: warning: a scenario plugin failed to load: {exc}", file=sys.stderr)


def registered(section: str | None = None) -> dict:
    """Return the registered kinds: ``{kind: Registration}`` of one section, or ``{section: {...}}`` of all.

    Parameters
    ----------
    section : str, optional
        The section; None: every section.

    Returns
    -------
    dict
    """
    _load_builtins()
    if section is None:
        return {s: dict(t) for s, t in _REGISTRY.items()}
    return dict(_REGISTRY.get(section, {}))


def _class_kind_attr(cls) -> str | None:
    """Return a ``kind`` class variable (or field default) declared on the class itself or a base."""
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name == "kind":
                return f.default if isinstance(f.default, str) else None
    value = getattr(cls, "kind", None)
    return value if isinstance(value, str) and value else None


def kind_of(cls) -> str | None:
    """Return the kind a config class is registered under (or declares in a ``kind`` attribute), else None.

    Parameters
    ----------
    cls : type
        A config class.

    Returns
    -------
    str or None
    """
    for table in _REGISTRY.values():
        for kind, reg in table.items():
            if reg.config is cls:
                return kind
    return _class_kind_attr(cls)


def subclass_kinds(base: type) -> dict[str, type]:
    """Return the registered config classes that subclass ``base``, by kind.

    Parameters
    ----------
    base : type
        An abstract base class (e.g. ``AbstractLaw``).

    Returns
    -------
    dict of str to type
    """
    _load_builtins()
    out = {}
    for table in _REGISTRY.values():
        for kind, reg in table.items():
            if reg.config is not None and issubclass(reg.config, base):
                out.setdefault(kind, reg.config)
    return out


