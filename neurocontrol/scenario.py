"""Scenario files: TOML <-> frozen dataclasses through one registry, strict keys, and the run of a scenario.

A scenario file holds one table per object of a closed-loop run::

    [scenario]                 # optional: name and description
    [plant]       kind = ...   # the Gymnasium plant, its disturbances and initial state
    [reference]   kind = ...   # set-points of the controlled outputs
    [controller]  kind = ...   # the controller
    [ilc]                      # optional: trial-to-trial learning (ILCSpec)
    [[events]]    kind = ...   # optional: timed actions on the plant
    [run]                      # duration, seed, tolerance, final window

Every ``kind`` resolves through ONE registry (:func:`register`). A registered
kind is a frozen keyword-only dataclass (its *config*) whose init fields and
type hints define the allowed keys and their types, plus an optional build
function that makes the object from the config. The generic decoder
understands ``float`` (accepts an int), ``int``, ``bool``, ``str``,
``tuple[float, ...]`` / ``tuple[float, float]`` / ``list[...]`` (TOML arrays),
``dict[str, X]`` (TOML tables), ``Literal[...]``, nested dataclasses
(sub-tables; a ``kind`` key is optional and must match), unions of
dataclasses discriminated by ``kind`` (a ``kind`` class variable, a ``kind``
field default, or the kind they are registered under), fields typed by an
abstract base class (any registered subclass, chosen by ``kind``), unions of
plain types (first that fits), and ``X | None`` (None = key absent). A
``dict`` field with ``metadata={"inline": True}`` collects the table's other
keys (e.g. one key per controlled output).

Build functions by section:

=================  ==================================================  =====================
section            build signature                                      returns
=================  ==================================================  =====================
``plant``          ``build(config, run: RunConfig, rng: Generator)``   ``(env, reset_options)``
``controller``     ``build(config, env)``                              an AbstractController
``reference``      ``build(config, env, output_names)``                a MultiSignal
``runner``         ``run(scenario, setup, **simulate_kwargs)``         a Result (e.g. ILC)
other sections     none: the config object *is* the object (events, signals, laws, rules)
=================  ==================================================  =====================

Errors name the file, the dotted key and what is allowed, e.g.
``hover.toml: `run.duration` must be a positive time in s, got -1.0.``

Examples
--------
>>> from neurocontrol.scenario import Scenario
>>> sc = Scenario.from_dict({
...     "plant": {"kind": "helicopter"},
...     "reference": {"kind": "setpoint", "rotor_speed": 140.0, "altitude": 1.0},
...     "controller": {"kind": "pid"},
...     "run": {"duration": 30.0, "tolerance": {"rotor_speed": 1.4, "altitude": 0.02}}})
>>> Scenario.from_toml_text(sc.to_toml()) == sc
True
>>> sc.set("controller.kind", "lqr").controller
LQRConfig(design_rotor_speed=None, Q=None, R=None, integrator_limit=(20.0, 2.0))
>>> res = run_scenario(sc.set("run.duration", "2"), seed=0)
>>> res.status, res.n_steps
('completed', 200)
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import hashlib
import importlib
import json
import math
import numbers
import os
import re
import sys
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, Union

import numpy as np

from neurocontrol.exceptions import NeurocontrolError, ParameterError, ScenarioError
from neurocontrol.reference import AbstractSignal, Constant, MultiSignal, Ramp, Sine, Staircase, Step
from neurocontrol.simulate import ParameterChange, seed_streams, signal_names, simulate
from plants.helicopter.params import HelicopterParams

__all__ = ["register", "registered", "Registration", "Scenario", "Setup", "RunConfig", "ILCSpec",
           "HelicopterPlantConfig", "InitialStateConfig", "DisturbanceConfig", "SetpointReferenceConfig",
           "SignalsReferenceConfig", "PIDConfig", "LQRConfig", "run_scenario", "save_run", "describe_kind",
           "TOP_LEVEL_TABLES"]

#: Tables a scenario file may hold, in the order :meth:`Scenario.to_toml` writes them.
TOP_LEVEL_TABLES = ("scenario", "plant", "reference", "controller", "ilc", "events", "run", "tune")
_REQUIRED_TABLES = ("plant", "reference", "controller", "run")
#: Modules that register kinds when imported (imported lazily, before the first lookup).
_PLUGIN_MODULES = ("neurocontrol.learning", "neurocontrol.synth", "neurocontrol.controller", "neurocontrol.ilc",
                   "neurocontrol.faults", "neurocontrol.guard")
_ENTRY_POINT_GROUP = "neurocontrol.registry"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# =========================================================================== the registry


@dataclass(frozen=True)
class Registration:
    """One registered kind: its section, name, config dataclass and build function (or None)."""

    section: str
    kind: str
    config: type | None
    build: Callable | None


_REGISTRY: dict[str, dict[str, Registration]] = {}
_plugins_loaded = False
_PLUGIN_ERRORS: dict[str, str] = {}


def _plugin_note() -> str:
    """A hint appended to unknown-kind errors when a registering module failed to import."""
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


def _load_plugins() -> None:
    """Import the modules that register kinds (once; missing optional modules are skipped)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in _PLUGIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                _PLUGIN_ERRORS[name] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a broken module must not hide the kinds of the others; reported on lookup
            _PLUGIN_ERRORS[name] = f"{type(exc).__name__}: {exc}"
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group=_ENTRY_POINT_GROUP):
            ep.load()
    except Exception as exc:  # pragma: no cover - a broken third-party plugin must not hide the builtins
        print(f"neurocontrol: warning: a scenario plugin failed to load: {exc}", file=sys.stderr)


def registered(section: str | None = None) -> dict:
    """Registered kinds: ``{kind: Registration}`` of one section, or ``{section: {...}}`` of all."""
    _load_plugins()
    if section is None:
        return {s: dict(t) for s, t in _REGISTRY.items()}
    return dict(_REGISTRY.get(section, {}))


def _class_kind_attr(cls) -> str | None:
    """A ``kind`` class variable (or field default) declared on the class itself or a base."""
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name == "kind":
                return f.default if isinstance(f.default, str) else None
    value = getattr(cls, "kind", None)
    return value if isinstance(value, str) and value else None


def _kind_of(cls) -> str | None:
    for table in _REGISTRY.values():
        for kind, reg in table.items():
            if reg.config is cls:
                return kind
    return _class_kind_attr(cls)


def _subclass_kinds(base: type) -> dict[str, type]:
    """Registered config classes that subclass ``base``, by kind."""
    _load_plugins()
    out = {}
    for table in _REGISTRY.values():
        for kind, reg in table.items():
            if reg.config is not None and issubclass(reg.config, base):
                out.setdefault(kind, reg.config)
    return out


# =========================================================================== decoding


class _Decoder:
    """Turns TOML values into typed config objects; every error names the file and the dotted key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {message}")

    # ------------------------------------------------------------- types
    @staticmethod
    def describe(hint) -> str:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any:
            return "any value"
        if hint is bool:
            return "true or false"
        if hint is int:
            return "an integer"
        if hint is float:
            return "a number"
        if hint is str:
            return "a string"
        if origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            return " or ".join(_Decoder.describe(a) for a in members)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return f"an array of {_Decoder._plural(args[0])}"
            return f"an array of {len(args)} {_Decoder._plural(args[0]) if len(set(args)) == 1 else 'values'}"
        if origin is list:
            return f"an array of {_Decoder._plural(args[0]) if args else 'values'}"
        if origin in (dict, Mapping):
            return f"a table of {_Decoder._plural(args[1]) if len(args) == 2 else 'values'}"
        if origin is Literal:
            return "one of " + ", ".join(repr(a) for a in args)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return f"a table ({hint.__name__})"
        if isinstance(hint, type):
            kinds = sorted(_subclass_kinds(hint))
            return f"a table with `kind` one of {', '.join(kinds) or '(none registered)'}"
        return str(hint)

    @staticmethod
    def _plural(hint) -> str:
        return {float: "numbers", int: "integers", str: "strings", bool: "booleans"}.get(
            hint, f"({_Decoder.describe(hint)})")

    @staticmethod
    def _got(value) -> str:
        kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
                dict: "a table"}.get(type(value), type(value).__name__)
        text = repr(value)
        return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"

    def type_error(self, path: str, hint, value) -> ScenarioError:
        return self.fail(f"`{path}` must be {self.describe(hint)}, got {self._got(value)}.")

    # ------------------------------------------------------------- values
    def value(self, value, hint, path: str):
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Annotated:
            return self.value(value, args[0], path)
        if hint is Any:
            return value
        if origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                return self.value(value, members[0], path)
            tables = [m for m in members if self._is_table_type(m)]
            if isinstance(value, dict) and tables:
                return self.polymorphic(value, tables, path)
            for m in members:
                if self._is_table_type(m):
                    continue
                try:
                    return self.value(value, m, path)
                except ScenarioError:
                    continue
            raise self.type_error(path, hint, value)
        if hint is bool:
            if not isinstance(value, bool):
                raise self.type_error(path, hint, value)
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.type_error(path, hint, value)
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.type_error(path, hint, value)
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise self.type_error(path, hint, value)
            return value
        if origin is Literal:
            if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
                raise self.fail(f"`{path}` must be one of {', '.join(repr(a) for a in args)}, got {value!r}.")
            return value
        if origin in (tuple, list):
            if not isinstance(value, (list, tuple)):
                raise self.type_error(path, hint, value)
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and args:
                if len(value) != len(args):
                    raise self.fail(f"`{path}` must be {self.describe(hint)}, got {len(value)} values: {value!r}.")
                items = [self.value(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
            else:
                item = args[0] if args else Any
                items = [self.value(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
        if origin in (dict, Mapping):
            if not isinstance(value, dict):
                raise self.type_error(path, hint, value)
            item = args[1] if len(args) == 2 else Any
            return {str(k): self.value(v, item, f"{path}.{k}") for k, v in value.items()}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.dataclass(value, hint, path)
        if isinstance(hint, type):
            candidates = _subclass_kinds(hint)
            if not candidates:
                raise self.fail(f"`{path}` is a {hint.__name__}, but no kind of it is registered; register one with "
                                "neurocontrol.scenario.register(section, kind, ConfigClass).")
            return self.polymorphic(value, list(dict.fromkeys(candidates.values())), path)
        raise self.fail(f"`{path}` has a type the scenario reader does not support ({hint!r}); "
                        "use float, int, bool, str, tuples, dicts or dataclasses.")

    @staticmethod
    def _is_table_type(hint) -> bool:
        return isinstance(hint, type) and hint not in (bool, int, float, str) and typing.get_origin(hint) is None

    def polymorphic(self, value, classes: Sequence[type], path: str):
        """Decode a table whose ``kind`` selects one of ``classes``."""
        by_kind = {}
        for cls in classes:
            if dataclasses.is_dataclass(cls):
                kind = _kind_of(cls)
                if kind is not None:
                    by_kind.setdefault(kind, cls)
            else:  # an abstract base inside a union: its registered subclasses
                by_kind.update({k: c for k, c in _subclass_kinds(cls).items() if k not in by_kind})
        allowed = ", ".join(sorted(by_kind)) or "(none registered)"
        if not isinstance(value, dict):
            raise self.fail(f"`{path}` must be a table with `kind` one of {allowed}, got {self._got(value)}.")
        if "kind" not in value:
            raise self.fail(f"missing key `{path}.kind`; set it to one of {allowed}.")
        kind = value["kind"]
        if kind not in by_kind:
            raise self.fail(f"unknown kind {kind!r} at `{path}.kind`; allowed: {allowed}." + _plugin_note())
        return self.dataclass(value, by_kind[kind], path)

    def dataclass(self, value, cls: type, path: str, *, label: str | None = None, allow_kind: bool = True):
        """Decode a table into the frozen dataclass ``cls``; the table's keys are its init fields."""
        if not isinstance(value, dict):
            raise self.fail(f"`{path}` must be a table of {cls.__name__} settings, got {self._got(value)}.")
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise ParameterError(f"the type hints of {cls.__name__} cannot be resolved ({exc}); define the names it "
                                 "uses at module level.") from None
        fields = [f for f in dataclasses.fields(cls) if f.init]
        names = {f.name for f in fields}
        inline = [f for f in fields if f.metadata.get("inline")]
        own_kind = _kind_of(cls) if allow_kind else None
        kwargs, rest = {}, {}
        for key, v in value.items():
            if key == "kind" and "kind" not in names:
                if own_kind is None or v != own_kind:
                    expect = f"{own_kind!r} (or leave it out)" if own_kind else "absent: this table has no kinds"
                    raise self.fail(f"`{path}.kind` must be {expect}, got {v!r}.")
                continue
            if key in names and not (inline and key == inline[0].name):
                f = next(f for f in fields if f.name == key)
                kwargs[key] = self.value(v, hints[key], f"{path}.{key}")
            elif inline:
                rest[key] = v
            else:
                allowed = sorted(names) + ([] if own_kind is None or "kind" in names else ["kind"])
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                what = label or (f"{cls.__name__} (kind {own_kind!r})" if own_kind else cls.__name__)
                raise self.fail(f"unknown key `{path}.{key}`{hint}; allowed keys of {what}: {', '.join(allowed)}.")
        if inline:
            f = inline[0]
            item = typing.get_args(hints[f.name])[1] if len(typing.get_args(hints[f.name])) == 2 else Any
            kwargs[f.name] = {str(k): self.value(v, item, f"{path}.{k}") for k, v in rest.items()}
        for f in fields:
            if f.name in kwargs or f.metadata.get("inline"):
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if self._optional(hints[f.name]):
                    kwargs[f.name] = None
                else:
                    raise self.fail(f"missing key `{path}.{f.name}` ({self.describe(hints[f.name])}).")
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise self.fail(_qualify(str(exc), path, names)) from None

    @staticmethod
    def _optional(hint) -> bool:
        return typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint)


def _qualify(message: str, path: str, names) -> str:
    """Turn "`duration` must be ..." into "`run.duration` must be ..." (or prefix the table's path)."""
    match = re.search(r"`([A-Za-z_][A-Za-z0-9_]*)(`|\[)", message)
    if match and match.group(1) in names:
        return message[:match.start(1)] + f"{path}." + message[match.start(1):]
    return f"[{path}]: {message}"


# =========================================================================== encoding and TOML writing


class _Table(dict):
    """A dict that came from a dataclass: written as a ``[section]`` table where TOML allows it."""


def _encode(value):
    """A config value as plain TOML data (dataclasses -> _Table with their kind; None -> omitted)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        out = _Table()
        kind = _kind_of(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        if kind is not None and "kind" not in names:
            out["kind"] = kind
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            v = getattr(value, f.name)
            if f.metadata.get("inline"):
                for k, item in (v or {}).items():
                    enc = _encode(item)
                    if enc is not None:
                        out[str(k)] = enc
                continue
            enc = _encode(v)
            if enc is not None:
                out[f.name] = enc
        return out
    if isinstance(value, Mapping):
        return {str(k): e for k, e in ((k, _encode(v)) for k, v in value.items()) if e is not None}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_encode(v) for v in value]
    raise ScenarioError(f"cannot write a {type(value).__name__} to TOML ({value!r}); use numbers, strings, arrays, "
                        "tables or registered dataclasses.")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ScenarioError(f"cannot write {v!r} to TOML.")  # pragma: no cover - _encode filters


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, _Table) for x in v)


def _write_table(lines: list[str], path: str, table: Mapping, header: str | None) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, _Table) and not _is_table_array(v)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, _Table)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    if header is not None:
        if lines:
            lines.append("")
        lines.append(header)
    for k, v in scalars:
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        sub = f"{path}.{_toml_key(k)}" if path else _toml_key(k)
        _write_table(lines, sub, v, f"[{sub}]")
    for k, v in arrays:
        sub = f"{path}.{_toml_key(k)}" if path else _toml_key(k)
        for item in v:
            _write_table(lines, sub, item, f"[[{sub}]]")


def to_toml_text(data: Mapping) -> str:
    """Write nested plain data (as from :func:`_encode`) as a TOML document."""
    lines: list[str] = []
    root = _Table({k: (v if not isinstance(v, dict) or isinstance(v, _Table) else _Table(v)) for k, v in data.items()})
    _write_table(lines, "", root, None)
    return "\n".join(lines) + "\n"


# =========================================================================== builtin configs


def _finite(value, name: str, *, low: float | None = None, strict: bool = False, unit: str = "") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        bound = "" if low is None else (f" > {low:g}" if strict else f" >= {low:g}")
        raise ParameterError(f"`{name}` must be a finite number{bound}{' ' + unit if unit else ''}, got {value!r}.")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """``[run]``: how long, which seed, and what counts as success.

    Parameters
    ----------
    duration : float
        Simulated time in s (> 0).
    seed : int, default 0
        Root seed of the run (>= 0); the command line's ``--seed`` overrides it.
    tolerance : dict of str to float, default {}
        Allowed final ``|output - reference|`` per controlled output, output
        units, e.g. ``{rotor_speed = 1.4, altitude = 0.02}``. Empty: 1 % of
        each output's largest set-point.
    final_window_s : float, default 5.0
        Window at the end over which success is judged, s (>= 0).
    """

    duration: float
    seed: int = 0
    tolerance: dict[str, float] = field(default_factory=dict)
    final_window_s: float = 5.0

    def __post_init__(self):
        _finite(self.duration, "duration", low=0.0, strict=True, unit="s")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ParameterError(f"`seed` must be a non-negative integer, got {self.seed!r}.")
        for name, tol in self.tolerance.items():
            if not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol > 0):
                raise ParameterError(f"`tolerance[{name!r}]` must be a positive number (output units), got {tol!r}.")
        _finite(self.final_window_s, "final_window_s", low=0.0, unit="s")


@dataclass(frozen=True, kw_only=True)
class ILCSpec:
    """``[ilc]``: trial-to-trial iterative learning on top of the closed loop (consumed by :mod:`neurocontrol.ilc`).

    Parameters
    ----------
    trials : int, default 10
        Number of trials (episodes), >= 1.
    law : str, default "p"
        The ILC law: a kind registered in section ``"ilc_law"``.
    gains : dict of str to float, default {}
        The law's gains by name (checked against the law's config when it
        registered one).
    """

    trials: int = 10
    law: str = "p"
    gains: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.trials, bool) or not isinstance(self.trials, numbers.Integral) or self.trials < 1:
            raise ParameterError(f"`trials` must be an integer >= 1, got {self.trials!r}.")
        if not isinstance(self.law, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", self.law):
            raise ParameterError(f"`law` must be a law name like 'pd', got {self.law!r}.")
        for name, g in self.gains.items():
            if not (isinstance(g, numbers.Real) and math.isfinite(g)):
                raise ParameterError(f"`gains[{name!r}]` must be a finite number, got {g!r}.")


# ---------------------------------------------------------------- the helicopter plant


@dataclass(frozen=True, kw_only=True)
class InitialStateConfig:
    """``[plant.initial]``: the helicopter's initial state, drawn from the run's spare seed stream.

    Parameters
    ----------
    rotor_speed : (float, float), default (120.0, 160.0)
        Uniform range of the initial rotor speed, rad/s (equal ends fix it).
    altitude : (float, float), default (0.2, 1.5)
        Uniform range of the initial altitude, m.
    state : tuple of 5 floats, optional
        A fixed full state (rotor_speed, altitude, climb_rate, collective,
        collective_rate) instead of the ranges.

    Notes
    -----
    With ranges the helicopter starts at rest (climb rate and collective
    rate 0) with the collective at the hover trim of the nominal plant for
    the drawn rotor speed (on the lower stop where no hover exists).
    """

    rotor_speed: tuple[float, float] = (120.0, 160.0)
    altitude: tuple[float, float] = (0.2, 1.5)
    state: tuple[float, ...] | None = None

    def __post_init__(self):
        for name in ("rotor_speed", "altitude"):
            lo, hi = (_finite(v, name) for v in getattr(self, name))
            if lo > hi:
                raise ParameterError(f"`{name}` must be a range [low, high] with low <= high, got {[lo, hi]}.")
        if self.state is not None:
            if len(self.state) != 5:
                raise ParameterError(f"`state` must hold the 5 helicopter states (rotor_speed, altitude, climb_rate, "
                                     f"collective, collective_rate), got {len(self.state)} values.")
            for v in self.state:
                _finite(v, "state")


@dataclass(frozen=True, kw_only=True)
class DisturbanceConfig:
    """``[plant.disturbances]``: gusts, sensor noise and a random plant per episode.

    Parameters
    ----------
    gust_rate : float, default 0.0
        Mean rate of random vertical gusts (Poisson), 1/s.
    gust_amplitude : float, default 0.0
        Standard deviation of a random gust's acceleration, m/s^2.
    gust_duration : float, default 0.5
        Duration of each random gust, s.
    gust_schedule : array of [t_start s, duration s, accel m/s^2], default []
        Deterministic gusts.
    sensor_noise_std : tuple of 5 floats, default all 0
        Standard deviation of the noise on each measured state.
    param_perturbation : float, default 0.0
        Relative standard deviation (<= 0.25) of a random factor on each of
        a1..a15 at every reset.
    """

    gust_rate: float = 0.0
    gust_amplitude: float = 0.0
    gust_duration: float = 0.5
    gust_schedule: tuple[tuple[float, float, float], ...] = ()
    sensor_noise_std: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    param_perturbation: float = 0.0

    def __post_init__(self):
        for name in ("gust_rate", "gust_amplitude", "param_perturbation"):
            _finite(getattr(self, name), name, low=0.0)
        _finite(self.gust_duration, "gust_duration", low=0.0, strict=True, unit="s")
        if self.param_perturbation > 0.25:
            raise ParameterError(f"`param_perturbation` must be a relative std in [0, 0.25], "
                                 f"got {self.param_perturbation!r}.")
        if len(self.sensor_noise_std) != 5:
            raise ParameterError(f"`sensor_noise_std` must hold 5 values (one per measured state), "
                                 f"got {len(self.sensor_noise_std)}.")
        for v in self.sensor_noise_std:
            _finite(v, "sensor_noise_std", low=0.0)


from neurocontrol.faults import FaultsConfig  # noqa: E402  (after `register`: faults registers its event kinds)


@dataclass(frozen=True, kw_only=True)
class HelicopterPlantConfig:
    """``[plant] kind = "helicopter"``: the helicopter on a stand (``neurocontrol/Helicopter-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/Helicopter-v0"
        Gymnasium id passed to ``gymnasium.make`` (with the episode length
        set to the run's duration).
    dt : float, default 0.01
        Control period, s.
    substeps : int, default 5
        RK4 sub-steps per control period.
    params : HelicopterParams
        ``[plant.params]``: the model constants, actuator limits and state
        envelope (:class:`plants.helicopter.HelicopterParams`); keys left out
        keep the published values, e.g. ``params = {a8 = -0.91}``.
    setpoint : (float, float), default (140.0, 1.0)
        The env's set-point (rad/s, m): reward, ``info["setpoint"]``, the
        baselines' design point and the default of unset reference outputs.
    reward_weights : (float, float), default (1.0, 1.0)
        Weights of rotor-speed and altitude errors in the env's reward.
    initial : InitialStateConfig
        ``[plant.initial]``.
    disturbances : DisturbanceConfig
        ``[plant.disturbances]``.
    faults : FaultsConfig, optional
        ``[plant.faults]``: sensor bias, dropout, delay, stuck actuator,
        parameter drift (:mod:`neurocontrol.faults`, docs/reliability.md).
    """

    kind: ClassVar[str] = "helicopter"
    gym_id: str = "neurocontrol/Helicopter-v0"
    dt: float = 0.01
    substeps: int = 5
    params: HelicopterParams = field(default_factory=HelicopterParams)
    setpoint: tuple[float, float] = (140.0, 1.0)
    reward_weights: tuple[float, float] = (1.0, 1.0)
    initial: InitialStateConfig = field(default_factory=InitialStateConfig)
    disturbances: DisturbanceConfig = field(default_factory=DisturbanceConfig)
    faults: FaultsConfig | None = None

    def __post_init__(self):
        _finite(self.dt, "dt", low=0.0, strict=True, unit="s")
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, numbers.Integral) or self.substeps < 1:
            raise ParameterError(f"`substeps` must be a positive integer, got {self.substeps!r}.")


def _build_helicopter(config: HelicopterPlantConfig, run: RunConfig, rng: np.random.Generator):
    import gymnasium as gym

    import plants  # noqa: F401  (registers the env ids)
    from plants.helicopter import trim

    prm = config.params
    d = config.disturbances
    n_steps = max(1, int(round(run.duration / config.dt)))
    env = gym.make(config.gym_id, max_episode_steps=n_steps, params=prm, dt=config.dt, substeps=config.substeps,
                   setpoint=config.setpoint, reward_weights=config.reward_weights, gust_rate=d.gust_rate,
                   gust_amplitude=d.gust_amplitude, gust_duration=d.gust_duration,
                   gust_schedule=[list(g) for g in d.gust_schedule], sensor_noise_std=list(d.sensor_noise_std),
                   param_perturbation=d.param_perturbation)
    ini = config.initial
    ranges = prm.state_ranges
    if ini.state is not None:
        x0 = np.array(ini.state, dtype=np.float64)
        for i, name in enumerate(("rotor_speed", "altitude", "climb_rate", "collective", "collective_rate")):
            if not ranges[i, 0] <= x0[i] <= ranges[i, 1]:
                raise ParameterError(f"`plant.initial.state[{i}]` ({name}) must be in [{ranges[i, 0]}, "
                                     f"{ranges[i, 1]}], got {x0[i]}.")
    else:
        for i, name in ((0, "rotor_speed"), (1, "altitude")):
            lo, hi = getattr(ini, name)
            if lo < ranges[i, 0] or hi > ranges[i, 1]:
                raise ParameterError(f"`plant.initial.{name}` must lie within [{ranges[i, 0]}, {ranges[i, 1]}], "
                                     f"got {[lo, hi]}.")
        omega = float(rng.uniform(*ini.rotor_speed))
        z = float(rng.uniform(*ini.altitude))
        try:
            th = trim(omega, z, prm).collective
        except NeurocontrolError:
            th = prm.collective_range[0]  # no hover at this rotor speed: rest on the lower stop
        x0 = np.array([omega, z, 0.0, th, 0.0])
    if config.faults is not None:
        from neurocontrol.faults import wrap_faults

        env = wrap_faults(env, config.faults)
    return env, {"initial_state": x0}


# ---------------------------------------------------------------- references


@dataclass(frozen=True, kw_only=True)
class SetpointReferenceConfig:
    """``[reference] kind = "setpoint"``: a constant set-point per controlled output.

    Keys are output names with their set-points, e.g. ``rotor_speed = 140.0``,
    ``altitude = 1.0``; an output left out holds the plant's set-point.
    """

    kind: ClassVar[str] = "setpoint"
    values: dict[str, float] = field(default_factory=dict, metadata={"inline": True})


@dataclass(frozen=True, kw_only=True)
class SignalsReferenceConfig:
    """``[reference] kind = "signals"``: one signal per controlled output.

    Each key is an output name whose value is a number (constant) or a table
    with a signal ``kind``: ``constant`` (value), ``step`` (t0, before,
    after), ``staircase`` (times, levels, smoothing_time), ``ramp`` (slope,
    t0, initial, t1), ``sine`` (amplitude, frequency_hz, phase, offset), e.g.
    ``[reference.altitude] kind = "staircase"``. An output left out holds
    the plant's set-point.
    """

    kind: ClassVar[str] = "signals"
    signals: dict[str, float | AbstractSignal] = field(default_factory=dict, metadata={"inline": True})


def _plant_setpoint(env, output_names) -> np.ndarray | None:
    sp = getattr(env.unwrapped, "setpoint", None)
    if sp is None:
        return None
    sp = np.asarray(sp, dtype=np.float64).ravel()
    return sp if sp.shape == (len(output_names),) else None


def _per_output(config, values: Mapping, env, output_names) -> MultiSignal:
    unknown = [k for k in values if k not in output_names]
    if unknown:
        raise ParameterError(f"`reference.{unknown[0]}` is not a controlled output; the outputs are "
                             f"{', '.join(output_names)}.")
    default = _plant_setpoint(env, output_names)
    signals = []
    for i, name in enumerate(output_names):
        v = values.get(name)
        if v is None:
            if default is None:
                raise ParameterError(f"`reference.{name}` is missing and the plant has no default set-point; "
                                     "give one for every controlled output.")
            v = float(default[i])
        signals.append(v if isinstance(v, AbstractSignal) else Constant(value=float(v)))
    return MultiSignal(signals=tuple(signals))


def _build_setpoint(config, env, output_names):
    return _per_output(config, config.values, env, output_names)


def _build_signals(config, env, output_names):
    return _per_output(config, config.signals, env, output_names)


# ---------------------------------------------------------------- baseline controllers


@dataclass(frozen=True, kw_only=True)
class PIDConfig:
    """``[controller] kind = "pid"``: :class:`neurocontrol.baselines.PIDController` around the plant's trim.

    Parameters
    ----------
    design_rotor_speed, design_altitude : float, optional
        Trim point (rad/s, m) of the feedforward; default the plant's set-point.
    kp_rotor, ki_rotor, kp_alt, ki_alt, kd_alt, kp_pitch, kd_pitch : float
        Gains (>= 0), defaults those of ``PIDController``.
    """

    kind: ClassVar[str] = "pid"
    design_rotor_speed: float | None = None
    design_altitude: float | None = None
    kp_rotor: float = 10.0
    ki_rotor: float = 20.0
    kp_alt: float = 0.062
    ki_alt: float = 0.041
    kd_alt: float = 0.030
    kp_pitch: float = 1000.0
    kd_pitch: float = 20.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                _finite(v, f.name, low=0.0)


@dataclass(frozen=True, kw_only=True)
class LQRConfig:
    """``[controller] kind = "lqr"``: :class:`neurocontrol.baselines.LQRController` with integral action.

    Parameters
    ----------
    design_rotor_speed : float, optional
        Design rotor speed (rad/s); default the plant's set-point.
    Q : tuple of 7 floats, optional
        Diagonal state weight on (rotor, altitude, climb rate, collective,
        collective rate, int rotor error, int altitude error); default Bryson.
    R : tuple of 2 floats, optional
        Diagonal input weight; default ``(1/50^2, 1/150^2)``.
    integrator_limit : (float, float), default (20.0, 2.0)
        Clamp on the integrators (rad, m s).
    """

    kind: ClassVar[str] = "lqr"
    design_rotor_speed: float | None = None
    Q: tuple[float, ...] | None = None
    R: tuple[float, ...] | None = None
    integrator_limit: tuple[float, float] = (20.0, 2.0)

    def __post_init__(self):
        if self.design_rotor_speed is not None:
            _finite(self.design_rotor_speed, "design_rotor_speed", low=0.0, strict=True)
        for name, n in (("Q", 7), ("R", 2)):
            v = getattr(self, name)
            if v is not None:
                if len(v) != n:
                    raise ParameterError(f"`{name}` must hold {n} diagonal weights, got {len(v)}.")
                for x in v:
                    _finite(x, name, low=0.0, strict=name == "R")
        for x in self.integrator_limit:
            _finite(x, "integrator_limit", low=0.0, strict=True)


def _helicopter_only(env, kind: str):
    from plants.helicopter.env import HelicopterEnv

    if not isinstance(env.unwrapped, HelicopterEnv):
        raise ParameterError(f"the {kind!r} baseline is designed for the helicopter plant, got "
                             f"{type(env.unwrapped).__name__}; choose another controller kind.")
    return env.unwrapped


def _build_pid(config: PIDConfig, env):
    from neurocontrol.baselines import PIDController

    base = _helicopter_only(env, "pid")
    sp = base.setpoint
    gains = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name.startswith("k")}
    return PIDController.from_plant(
        base.nominal_params, rotor_speed=sp[0] if config.design_rotor_speed is None else config.design_rotor_speed,
        altitude=sp[1] if config.design_altitude is None else config.design_altitude, dt=base.dt, **gains)


def _build_lqr(config: LQRConfig, env):
    from neurocontrol.baselines import LQRController

    base = _helicopter_only(env, "lqr")
    rotor = base.setpoint[0] if config.design_rotor_speed is None else config.design_rotor_speed
    return LQRController.from_plant(base.nominal_params, rotor_speed=rotor, dt=base.dt, Q=config.Q, R=config.R,
                                    integrator_limit=config.integrator_limit)


# ---------------------------------------------------------------- builtin registrations

register("plant", "helicopter", HelicopterPlantConfig, _build_helicopter)
register("reference", "setpoint", SetpointReferenceConfig, _build_setpoint)
register("reference", "signals", SignalsReferenceConfig, _build_signals)
register("signal", "constant", Constant)
register("signal", "step", Step)
register("signal", "staircase", Staircase)
register("signal", "ramp", Ramp)
register("signal", "sine", Sine)
register("controller", "pid", PIDConfig, _build_pid)
register("controller", "lqr", LQRConfig, _build_lqr)
register("events", "parameter_change", ParameterChange)

#: The kinds registered by this module (documented in docs/scenarios.md).
BUILTIN_KINDS = {s: tuple(t) for s, t in _REGISTRY.items()}


def describe_kind(section: str, kind: str) -> list[dict]:
    """The keys of a registered kind: ``[{"key", "type", "default", "required"}]`` (nested tables dotted).

    Examples
    --------
    >>> [row["key"] for row in describe_kind("run", "run")][:2]
    ['duration', 'seed']
    """
    if section == "run":
        cls = RunConfig
    elif section == "ilc":
        cls = ILCSpec
    else:
        reg = registered(section).get(kind)
        if reg is None:
            raise ParameterError(f"no {section} kind {kind!r} is registered; registered: "
                                 f"{', '.join(sorted(registered(section)))}.")
        cls = reg.config
    rows: list[dict] = []

    def walk(c, prefix):
        hints = typing.get_type_hints(c)
        for f in dataclasses.fields(c):
            if not f.init:
                continue
            key = f"{prefix}{f.name}"
            hint = hints[f.name]
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            if f.metadata.get("inline"):
                key = f"{prefix}<output name>"
            rows.append({"key": key, "type": _Decoder.describe(hint), "required": default is dataclasses.MISSING,
                         "default": None if default is dataclasses.MISSING else _encode(default)})
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                rows.pop()
                walk(hint, f"{key}.")

    if cls is not None:
        walk(cls, "")
    return rows


# =========================================================================== the Scenario


class Setup(NamedTuple):
    """Everything :meth:`Scenario.build` makes for one run."""

    env: Any
    controller: Any
    reference: MultiSignal
    events: tuple
    options: dict | None
    run: RunConfig
    seed: int
    meta: dict


def _source_name(source) -> str:
    return str(source) if source is not None else "<scenario>"


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A closed-loop experiment: plant, reference, controller, optional ILC and events, run settings.

    Build one with :meth:`from_toml` or :meth:`from_dict`; write it with
    :meth:`to_toml`; change one key with :meth:`set`; make the objects with
    :meth:`build`; run it with :func:`run_scenario`. Objects are frozen
    configs; two scenarios are equal when every setting is (name and
    description included, the source file not).

    Attributes
    ----------
    plant, reference, controller : dataclass instances
        Configs of registered kinds of those sections.
    run : RunConfig
    events : tuple of AbstractEvent
    ilc : ILCSpec or None
    name, description : str
    source : str
        Where it came from (file path or ``"<dict>"``), used in error messages.
    """

    plant: Any
    reference: Any
    controller: Any
    run: RunConfig
    events: tuple = ()
    ilc: ILCSpec | None = None
    tune: Any = None  # neurocontrol.tune.TuneSpec: the [tune] table (search space of `neurocontrol tune`)
    name: str = "scenario"
    description: str = ""
    source: str = field(default="<dict>", compare=False)

    # ------------------------------------------------------------- reading
    @classmethod
    def from_toml(cls, path) -> "Scenario":
        """Read a scenario file.

        Raises
        ------
        ScenarioError
            If the file is missing, is not valid TOML, or any table, key,
            type or value is wrong (the message names the file and key).
        """
        p = Path(path)
        try:
            text = p.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{path}: no such scenario file; check the path (shipped scenarios are in "
                                "the project's scenarios/ folder).") from None
        except IsADirectoryError:
            raise ScenarioError(f"{path}: is a folder, not a scenario file; give a .toml file.") from None
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{path}: not a text file (UTF-8): {exc}.") from None
        return cls.from_toml_text(text, source=str(path), default_name=p.stem)

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "<toml>", default_name: str = "scenario") -> "Scenario":
        """Read a scenario from TOML text (see :meth:`from_toml`)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{source}: not valid TOML: {exc}; fix the syntax (strings need quotes, "
                                "one `key = value` per line, tables in [brackets]).") from None
        return cls.from_dict(data, source=source, default_name=default_name)

    @classmethod
    def from_dict(cls, data: Mapping, *, source: str = "<dict>", default_name: str | None = None) -> "Scenario":
        """Build a scenario from nested plain data (as ``tomllib`` returns), validating every key.

        Raises
        ------
        ScenarioError
            On a missing table, an unknown table or key, a wrong type, an
            out-of-range value or an unknown kind.
        """
        _load_plugins()
        dec = _Decoder(_source_name(source))
        if not isinstance(data, Mapping):
            raise dec.fail(f"a scenario must be a table of tables, got {type(data).__name__}.")
        unknown = [k for k in data if k not in TOP_LEVEL_TABLES]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), TOP_LEVEL_TABLES, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise dec.fail(f"unknown table [{unknown[0]}]{hint}; allowed tables: {', '.join(TOP_LEVEL_TABLES)}.")
        for name in _REQUIRED_TABLES:
            if name not in data:
                kinds = ", ".join(sorted(registered(name))) if name != "run" else ""
                what = f" with a `kind` (registered: {kinds})" if kinds else " with at least `duration`"
                raise dec.fail(f"missing table [{name}]; add it{what}.")
        for name in TOP_LEVEL_TABLES:
            if name in data and name != "events" and not isinstance(data[name], Mapping):
                raise dec.fail(f"`{name}` must be a table [{name}], got {dec._got(data[name])}.")
        kwargs: dict[str, Any] = {}
        for section in ("plant", "reference", "controller"):
            kwargs[section] = cls._decode_section(dec, section, dict(data[section]), section)
        kwargs["run"] = dec.dataclass(dict(data["run"]), RunConfig, "run", label="[run]")
        events = data.get("events", [])
        if not isinstance(events, list):
            raise dec.fail(f"`events` must be an array of tables [[events]], got {dec._got(events)}.")
        kwargs["events"] = tuple(cls._decode_section(dec, "events", ev, f"events[{i}]")
                                 for i, ev in enumerate(events))
        if "ilc" in data:
            kwargs["ilc"] = cls._decode_ilc(dec, dict(data["ilc"]))
        if "tune" in data:
            from neurocontrol.tune import TuneSpec

            kwargs["tune"] = TuneSpec.from_table(dict(data["tune"]), dec.source)
        meta = data.get("scenario", {})
        unknown = [k for k in meta if k not in ("name", "description")]
        if unknown:
            raise dec.fail(f"unknown key `scenario.{unknown[0]}`; allowed keys of [scenario]: description, name.")
        for key in ("name", "description"):
            if key in meta and not isinstance(meta[key], str):
                raise dec.fail(f"`scenario.{key}` must be a string, got {dec._got(meta[key])}.")
        kwargs["name"] = meta.get("name") or default_name or "scenario"
        kwargs["description"] = meta.get("description", "")
        return cls(**kwargs, source=_source_name(source))

    @staticmethod
    def _decode_section(dec: _Decoder, section: str, table, path: str):
        kinds = registered(section)
        allowed = ", ".join(sorted(kinds)) or "(none registered)"
        if not isinstance(table, Mapping):
            raise dec.fail(f"`{path}` must be a table with `kind` one of {allowed}, got {dec._got(table)}.")
        if "kind" not in table:
            raise dec.fail(f"missing key `{path}.kind`; set it to one of {allowed}.")
        kind = table["kind"]
        if not isinstance(kind, str) or kind not in kinds:
            raise dec.fail(f"unknown kind {kind!r} at `{path}.kind`; registered {section} kinds: {allowed}."
                           + _plugin_note())
        reg = kinds[kind]
        if reg.config is None:
            extra = [k for k in table if k != "kind"]
            if extra:
                raise dec.fail(f"unknown key `{path}.{extra[0]}`; {section} kind {kind!r} takes no settings.")
            return _KindOnly(section=section, kind=kind)
        return dec.dataclass(dict(table), reg.config, path)

    @staticmethod
    def _decode_ilc(dec: _Decoder, table: dict) -> ILCSpec:
        spec = dec.dataclass(table, ILCSpec, "ilc", label="[ilc]")
        laws = registered("ilc_law")
        if spec.law not in laws:
            allowed = ", ".join(sorted(laws)) or "(none registered: neurocontrol.ilc is not available)"
            raise dec.fail(f"unknown ILC law {spec.law!r} at `ilc.law`; registered laws: {allowed}.")
        gains_cls = laws[spec.law].config
        if gains_cls is not None:
            dec.dataclass(dict(spec.gains), gains_cls, "ilc.gains", label=f"the {spec.law!r} law's gains",
                          allow_kind=False)
        return spec

    # ------------------------------------------------------------- writing
    def to_dict(self) -> dict:
        """The scenario as nested plain data (every setting, defaults included); ``from_dict`` inverts it."""
        out: dict[str, Any] = {"scenario": {"name": self.name, "description": self.description}}
        out["plant"] = _encode(self.plant)
        out["reference"] = _encode(self.reference)
        out["controller"] = _encode(self.controller)
        if self.ilc is not None:
            out["ilc"] = _encode(self.ilc)
        if self.events:
            out["events"] = [_encode(e) for e in self.events]
        out["run"] = _encode(self.run)
        if self.tune is not None:
            out["tune"] = _encode(self.tune)
        return _plain(out)

    def to_toml(self) -> str:
        """The scenario as TOML text; ``Scenario.from_toml_text(s.to_toml()) == s``."""
        data = {"scenario": _Table({"name": self.name, "description": self.description}),
                "plant": _encode(self.plant), "reference": _encode(self.reference),
                "controller": _encode(self.controller)}
        if self.ilc is not None:
            data["ilc"] = _encode(self.ilc)
        if self.events:
            data["events"] = [_encode(e) for e in self.events]
        data["run"] = _encode(self.run)
        if self.tune is not None:
            data["tune"] = _encode(self.tune)
        return to_toml_text(data)

    @property
    def sha256(self) -> str:
        """SHA-256 of :meth:`to_toml`: identifies the settings of a run."""
        return hashlib.sha256(self.to_toml().encode()).hexdigest()

    # ------------------------------------------------------------- changing
    def set(self, key: str, value) -> "Scenario":
        """Return a copy with one setting changed (as ``--set KEY=VALUE`` on the command line).

        Parameters
        ----------
        key : str
            Dotted key, e.g. ``"run.duration"``, ``"plant.params.a8"``,
            ``"reference.altitude.levels"``, ``"events.0.time"``.
        value : str or TOML value
            A string is parsed as a TOML value (``2``, ``1.5``, ``[1, 2]``,
            ``{a8 = 1.3}``, ``true``, ``"text"``); what does not parse is
            taken as a bare string (``lqr``). Setting a table's ``kind`` to a
            different kind replaces the table by that kind's defaults.

        Raises
        ------
        ScenarioError
            If the key does not exist in the scenario's schema or the value
            does not fit (the message names the key).
        """
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ScenarioError(f"`--set` key must be a dotted key like run.duration, got {key!r}.")
        if isinstance(value, str):
            try:
                value = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                pass
        data = self.to_dict()
        parts = key.split(".")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(f"{self.source}: `--set {key}`: `{where}` must index one of the "
                                        f"{len(node)} entries (0..{len(node) - 1}).")
                node = node[int(part)]
            elif isinstance(node, dict):
                if part not in node:
                    if i == 0 and part not in TOP_LEVEL_TABLES:
                        raise ScenarioError(f"{self.source}: `--set {key}`: unknown table [{part}]; allowed: "
                                            f"{', '.join(TOP_LEVEL_TABLES)}.")
                    node[part] = [] if (i == 0 and part == "events") else {}
                node = node[part]
            else:
                raise ScenarioError(f"{self.source}: `--set {key}`: `{where}` is a value, not a table.")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ScenarioError(f"{self.source}: `--set {key}`: index out of range ({len(node)} entries).")
            node[int(last)] = value
        elif isinstance(node, dict):
            if last == "kind" and node.get("kind") != value:
                node.clear()
            node[last] = value
        else:
            raise ScenarioError(f"{self.source}: `--set {key}`: `{'.'.join(parts[:-1])}` is a value, not a table.")
        return Scenario.from_dict(data, source=self.source, default_name=self.name)

    def with_seed(self, seed: int) -> "Scenario":
        """Return a copy whose ``run.seed`` is ``seed``."""
        return dataclasses.replace(self, run=dataclasses.replace(self.run, seed=seed))

    # ------------------------------------------------------------- building
    def build(self, seed: int | None = None) -> Setup:
        """Make the env, controller, reference and events of one run.

        Parameters
        ----------
        seed : int, optional
            Root seed of the run; default ``run.seed``. Its spare stream (see
            :func:`neurocontrol.simulate.seed_streams`) draws the initial state.

        Returns
        -------
        Setup
            ``env, controller, reference, events, options, run, seed, meta``;
            pass them to :func:`neurocontrol.simulate.simulate` (or use
            :func:`run_scenario`).

        Raises
        ------
        ScenarioError
            If a builder rejects its settings (e.g. an output name that the
            plant does not have).
        """
        seed = self.run.seed if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ScenarioError(f"{self.source}: the seed must be a non-negative integer, got {seed!r}.")
        seed = int(seed)
        streams = seed_streams(seed)
        rng = np.random.default_rng(streams.spare)
        plant_reg = registered("plant")[_kind_of(type(self.plant))]
        try:
            env, options = plant_reg.build(self.plant, self.run, rng)
        except (NeurocontrolError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: [plant] (kind {plant_reg.kind!r}): {exc}") from None
        ctrl_reg = registered("controller")[_kind_of(type(self.controller))]
        try:
            controller = ctrl_reg.build(self.controller, env) if ctrl_reg.build else self.controller
        except (NeurocontrolError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: [controller] (kind {ctrl_reg.kind!r}): {exc}") from None
        names = signal_names(env, controller.output_indices)["output_names"] or \
            tuple(f"y{i}" for i in range(len(controller.output_indices)))
        ref_reg = registered("reference")[_kind_of(type(self.reference))]
        try:
            reference = ref_reg.build(self.reference, env, names)
        except (NeurocontrolError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: [reference] (kind {ref_reg.kind!r}): {exc}") from None
        unknown = [k for k in self.run.tolerance if k not in names]
        if unknown:
            raise ScenarioError(f"{self.source}: `run.tolerance.{unknown[0]}` is not a controlled output; "
                                f"the outputs are {', '.join(names)}.")
        if self.run.tolerance and len(self.run.tolerance) != len(names):
            missing = [n for n in names if n not in self.run.tolerance]
            raise ScenarioError(f"{self.source}: `run.tolerance` must give every controlled output a tolerance; "
                                f"missing {', '.join(missing)}.")
        meta = {"scenario": self.name, "scenario_sha256": self.sha256, "scenario_source": self.source}
        return Setup(env=env, controller=controller, reference=reference, events=self.events, options=options,
                     run=self.run, seed=seed, meta=meta)


@dataclass(frozen=True)
class _KindOnly:
    """A registered kind without settings (config None)."""

    section: str
    kind: str


def _plain(value):
    """Strip _Table markers (for to_dict)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# =========================================================================== running


def _as_scenario(scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, os.PathLike)):
        return Scenario.from_toml(scenario)
    raise ParameterError(f"`scenario` must be a Scenario or a path to a .toml file, got {type(scenario).__name__}.")


def run_scenario(scenario, seed: int | None = None, out=None, *, progress: bool = False, callback=None,
                 overwrite: bool = False, plots: bool = True):
    """Build and run one scenario; optionally write the run to a folder.

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
        The scenario or its file.
    seed : int, optional
        Root seed; default ``run.seed`` of the scenario.
    out : str or os.PathLike, optional
        Folder for the run's files (see :func:`save_run`).
    progress : bool, default False
        Progress bar on a terminal (see :func:`neurocontrol.simulate.simulate`).
    callback : callable, optional
        Passed to :func:`~neurocontrol.simulate.simulate`.
    overwrite : bool, default False
        Replace a run already saved in ``out``.
    plots : bool, default True
        Write PNG plots to ``out``.

    Returns
    -------
    Result

    Raises
    ------
    ScenarioError
        On a bad scenario, or an ``[ilc]`` table without a registered runner.
    """
    sc = _as_scenario(scenario)
    setup = sc.build(seed)
    tol = dict(sc.run.tolerance) or None
    kwargs = dict(duration=sc.run.duration, seed=setup.seed, options=setup.options, tolerance=tol,
                  final_window_s=sc.run.final_window_s, events=setup.events, callback=callback, progress=progress,
                  meta=setup.meta)
    if sc.ilc is not None:
        runner = registered("runner").get("ilc")
        if runner is None or runner.build is None:
            raise ScenarioError(f"{sc.source}: the scenario has an [ilc] table but no ILC runner is registered "
                                "(neurocontrol.ilc is not available); remove [ilc] to run a single trial.")
        result = runner.build(sc, setup, **kwargs)
    else:
        result = simulate(setup.env, setup.controller, setup.reference, **kwargs)
    if out is not None:
        save_run(result, sc, out, overwrite=overwrite, plots=plots)
    return result


def _csv_rows(result):
    header = _columns(result)
    yield header
    T = result.n_steps
    for k in range(T + 1):
        row = [result.time[k]]
        row += list(result.outputs[k]) + list(result.references[k])
        if k < T:
            row += list(result.inputs[k]) + [int(s) for s in result.saturated[k]]
            row += [result.prediction_error[k], int(result.inner_iterations[k])]
        else:
            row += [""] * (2 * result.n_inputs + 2)
        row += list(result.observations[k])
        yield [repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row]


def _columns(result) -> list[str]:
    """The columns of Result.to_pandas, in order."""
    return (["time"] + list(result.output_names) + [f"{n}_ref" for n in result.output_names]
            + list(result.input_names) + [f"{n}_saturated" for n in result.input_names]
            + ["prediction_error", "inner_iterations"] + [f"obs_{n}" for n in result.observation_names])


def save_run(result, scenario: Scenario, out, *, overwrite: bool = False, plots: bool = True,
             extra_manifest: Mapping | None = None) -> Path:
    """Write one run to a folder.

    Files: ``arrays.npz`` + ``result.json`` (:meth:`Result.save`),
    ``timeseries.csv`` (one row per time point, the columns of
    :meth:`Result.to_pandas`), ``metrics.json``, ``scenario.toml`` (the exact
    settings, overrides applied), ``manifest.json`` (scenario hash, seed,
    integrator settings, package versions, status, files) and, with
    ``plots``, ``result.png``.

    Raises
    ------
    FileExistsError
        If ``out`` already holds a run and not ``overwrite``.
    """
    import csv

    folder = Path(out)
    if not overwrite and (folder / "result.json").exists():
        raise FileExistsError(f"{folder} already holds a saved run; choose a new folder or allow overwriting "
                              "(--overwrite on the command line).")
    result.save(folder, overwrite=True)
    with open(folder / "timeseries.csv", "w", newline="") as f:
        csv.writer(f).writerows(_csv_rows(result))
    (folder / "metrics.json").write_text(json.dumps(result.metrics, indent=2, allow_nan=False) + "\n")
    toml_text = scenario.to_toml()
    (folder / "scenario.toml").write_text(toml_text)
    files = ["arrays.npz", "result.json", "timeseries.csv", "metrics.json", "scenario.toml", "manifest.json"]
    if plots:
        result.plot(path=folder / "result.png")
        files.append("result.png")
    meta = result.meta
    manifest = {
        "format": "neurocontrol.run-manifest",
        "format_version": 1,
        "scenario": scenario.name,
        "scenario_sha256": hashlib.sha256(toml_text.encode()).hexdigest(),
        "scenario_source": scenario.source,
        "seed": meta.get("seed"),
        "seed_streams": meta.get("seed_streams"),
        "status": result.status,
        "success": result.metrics.get("success"),
        "dt": meta.get("dt"),
        "integrator": meta.get("integrator"),
        "versions": meta.get("versions"),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        **dict(extra_manifest or {}),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder
