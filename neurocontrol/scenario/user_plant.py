"""User plants named by import path in scenario files: ``[plant] kind = "package.module:attr"``.

A ``[plant]`` kind that contains ``:`` is not looked up among the registered
plant kinds: ``attr`` of the importable module ``package.module`` is a
Gymnasium ``Env`` subclass, or a callable that returns a ``gymnasium.Env``,
and the table's other keys are its keyword arguments::

    [plant]
    kind = "my_plants.tank:make_tank"   # my_plants/tank.py on sys.path or installed
    area = 0.3                           # -> make_tank(area=0.3, dt=0.5)
    dt = 0.5

Reading the file imports the module and checks the keys against the
signature of ``attr`` (unknown keys and missing required ones are errors that
list the accepted keywords); building the scenario calls ``attr(**keys)`` and
checks that the env has what the closed loop needs (:func:`check_plant_env`).
The kind is written back by :meth:`~neurocontrol.scenario.Scenario.to_toml`,
so sweeps, comparisons and tuning rebuild the plant in their worker
processes: the module must be importable there too (installed, or its
folder on ``PYTHONPATH``). Registering a kind with
:func:`neurocontrol.registry.register` (or the ``neurocontrol.registry``
entry-point group) is the other way, for plants with typed settings.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from neurocontrol.exceptions import ParameterError
from neurocontrol.registry import import_object
from neurocontrol.simulation.loop import signal_names

__all__ = ["ImportedPlantConfig", "build_imported_plant", "check_plant_env", "is_import_kind"]


def is_import_kind(kind) -> bool:
    """Return True if a plant ``kind`` names an object by import path (``"package.module:attr"``).

    Parameters
    ----------
    kind : object
        The value of ``[plant] kind``.

    Returns
    -------
    bool
    """
    return isinstance(kind, str) and ":" in kind


def _factory(kind: str):
    """Import the Env subclass or env factory named by ``kind``."""
    obj = import_object(kind, "the plant kind")
    if isinstance(obj, type):
        if not issubclass(obj, gym.Env):
            raise ParameterError(f"`kind` {kind!r} names the class {obj.__name__}, which is not a gymnasium.Env "
                                 "subclass; name an Env subclass or a function that returns an env.")
    elif not callable(obj):
        raise ParameterError(f"`kind` {kind!r} names a {type(obj).__name__}, not a gymnasium.Env subclass nor a "
                             "function that returns an env.")
    return obj


def _check_toml_data(value, key: str) -> None:
    """Raise unless ``value`` can be written to TOML and read back (numbers, strings, booleans, arrays, tables)."""
    if isinstance(value, (bool, str)) or (isinstance(value, numbers.Real) and not isinstance(value, np.ndarray)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_toml_data(v, f"{key}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"`{key}` must have string keys (a TOML table), got {k!r}.")
            _check_toml_data(v, f"{key}.{k}")
        return
    raise ParameterError(f"`{key}` must be TOML data (a number, string, boolean, array or table), got a "
                         f"{type(value).__name__}; build objects inside the plant's factory from such values.")


def _check_keywords(factory, kind: str, kwargs: Mapping) -> None:
    """Raise if ``kwargs`` do not fit the signature of ``factory`` (unknown or missing keywords)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):   # no introspectable signature (a builtin): the call itself will tell
        return
    params = list(sig.parameters.values())
    by_name = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [p.name for p in by_name]
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            listed = ", ".join(f"`{k}`" for k in unknown)
            raise ParameterError(f"unknown key{'s' if len(unknown) > 1 else ''} {listed} for the plant {kind!r}; "
                                 f"it accepts: {', '.join(names) or '(no keyword arguments)'}.")
    missing = [p.name for p in by_name if p.default is p.empty and p.name not in kwargs]
    if missing:
        raise ParameterError(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(f'`{k}`' for k in missing)} "
                             f"required by the plant {kind!r}; add {'them' if len(missing) > 1 else 'it'} to [plant].")
    positional = [p.name for p in params if p.kind is p.POSITIONAL_ONLY and p.default is p.empty]
    if positional:
        raise ParameterError(f"the plant {kind!r} requires positional-only arguments {positional}, which a scenario "
                             "file cannot give; name a factory whose arguments are keywords.")


@dataclass(frozen=True, kw_only=True)
class ImportedPlantConfig:
    """``[plant] kind = "package.module:attr"``: a user's Gymnasium env, made by ``attr(**keys)``.

    Parameters
    ----------
    kind : str
        ``"package.module:attr"``: ``attr`` (may be dotted) of an importable
        module, a ``gymnasium.Env`` subclass or a callable returning a
        ``gymnasium.Env``.
    kwargs : dict of str to TOML value
        The table's other keys, passed to ``attr`` as keyword arguments as
        TOML gives them (numbers, strings, booleans, lists, dicts); checked
        against its signature.

    Examples
    --------
    >>> cfg = ImportedPlantConfig(kind="plants.pvtol.env:PVTOLEnv", kwargs={"dt": 0.02})
    >>> env, options = build_imported_plant(cfg, None, None)
    >>> env.unwrapped.dt, options
    (0.02, None)
    >>> try:
    ...     ImportedPlantConfig(kind="plants.pvtol.env:PVTOLEnv", kwargs={"dtt": 0.02})
    ... except ParameterError as exc:
    ...     print(str(exc).split("; ")[1])
    it accepts: params, dt, substeps, setpoint, output_noise_std.
    """

    kind: str
    kwargs: dict[str, Any] = field(default_factory=dict, metadata={"inline": True})

    def __post_init__(self):
        if not is_import_kind(self.kind):
            raise ParameterError(f"`kind` must be \"package.module:attribute\", got {self.kind!r}.")
        if not isinstance(self.kwargs, Mapping):
            raise ParameterError(f"`kwargs` must be a dict of keyword arguments, got {type(self.kwargs).__name__}.")
        for key, value in self.kwargs.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ParameterError(f"the plant's keys must be Python identifiers (keyword arguments), got {key!r}.")
            _check_toml_data(value, key)
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        _check_keywords(_factory(self.kind), self.kind, self.kwargs)


def check_plant_env(env, who: str = "the plant") -> None:
    """Raise if ``env`` lacks what a scenario's closed loop needs.

    That is: a ``gymnasium.Env``; one-dimensional ``Box`` observation and
    action spaces, the action space with finite bounds (controllers take
    their input limits from it); the control period ``env.unwrapped.dt``
    (s, > 0); and, if declared, ``observation_names``/``input_names`` with
    one name per entry (see :func:`neurocontrol.simulation.loop.signal_names`).

    Parameters
    ----------
    env : object
        What the plant's factory returned.
    who : str, default "the plant"
        How messages name the plant.

    Raises
    ------
    ParameterError
        Naming the first thing missing and how to add it.
    """
    if not isinstance(env, gym.Env):
        raise ParameterError(f"{who} returned a {type(env).__name__}, not a gymnasium.Env; return the env (an "
                             "instance of a gymnasium.Env subclass).")
    name = type(env.unwrapped).__name__
    for space, what in ((env.observation_space, "observation"), (env.action_space, "action")):
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ParameterError(f"{who} ({name}) must have a one-dimensional Box {what} space (a vector of "
                                 f"signals) for the closed loop, got {space!r}.")
    low, high = env.action_space.low, env.action_space.high
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ParameterError(f"{who} ({name}) must give its action space finite bounds (the actuator limits the "
                             f"controllers are built with), got low {low.tolist()} and high {high.tolist()}.")
    dt = getattr(env.unwrapped, "dt", None)
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not (math.isfinite(dt) and dt > 0):
        raise ParameterError(f"{who} ({name}) must declare its control period: an attribute `dt` in s (> 0) of the "
                             f"env, got {dt!r}.")
    signal_names(env, range(env.observation_space.shape[0]))


def build_imported_plant(config: ImportedPlantConfig, run, rng):
    """Make the env of a ``[plant] kind = "package.module:attr"`` table and check it (:func:`check_plant_env`).

    Parameters
    ----------
    config : ImportedPlantConfig
        The table.
    run : RunConfig or None
        The run (unused: the env sets its own episode length, if any).
    rng : numpy.random.Generator or None
        The run's spare stream (unused: the env draws its start from the
        plant seed it is reset with).

    Returns
    -------
    env : gymnasium.Env
    options : None
        No reset options.
    """
    env = _factory(config.kind)(**config.kwargs)
    check_plant_env(env, f"the plant {config.kind!r}")
    return env, None
