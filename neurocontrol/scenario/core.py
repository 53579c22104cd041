"""Scenario files: TOML <-> frozen dataclasses through one registry, strict keys, and the run of a scenario.

A scenario file holds one table per object of a closed-loop run::

    [scenario]                 # optional: name and description
    [plant]       kind = ...   # the Gymnasium plant, its disturbances and initial state
                               # (or kind = "package.module:attr": a user's env, see user_plant)
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
import difflib
import hashlib
import numbers
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from neurocontrol.exceptions import NeurocontrolError, ParameterError, ScenarioError
from neurocontrol.reference import MultiSignal
from neurocontrol.registry import _load_builtins, _plugin_note, kind_of, registered
from neurocontrol.scenario.artefacts import save_run
from neurocontrol.scenario.configs import ILCSpec, RunConfig, TuneSpec
from neurocontrol.scenario.decode import _Decoder, field_aliases
from neurocontrol.scenario.encode import _encode, _Table, to_toml_text
from neurocontrol.scenario.keys import describe_kind
from neurocontrol.scenario.user_plant import ImportedPlantConfig, build_imported_plant, is_import_kind
from neurocontrol.simulation.loop import seed_streams, signal_names, simulate

__all__ = ["Scenario", "Setup", "as_scenario", "run_scenario", "describe_kind", "TOP_LEVEL_TABLES"]

#: Tables a scenario file may hold, in the order :meth:`Scenario.to_toml` writes them.
TOP_LEVEL_TABLES = ("scenario", "plant", "reference", "controller", "ilc", "events", "run", "tune")
_REQUIRED_TABLES = ("plant", "reference", "controller", "run")


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
    tune : TuneSpec or None
        The ``[tune]`` table: search space of ``neurocontrol tune``.
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
    tune: TuneSpec | None = None
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
        _load_builtins()
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
            kwargs["tune"] = dec.dataclass(dict(data["tune"]), TuneSpec, "tune", label="[tune]")
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
        if section == "plant":
            allowed += ', or a user plant as "package.module:attr"'
        if not isinstance(table, Mapping):
            raise dec.fail(f"`{path}` must be a table with `kind` one of {allowed}, got {dec._got(table)}.")
        if "kind" not in table:
            raise dec.fail(f"missing key `{path}.kind`; set it to one of {allowed}.")
        kind = table["kind"]
        if section == "plant" and is_import_kind(kind):   # a user's env named by import path, not registered
            return dec.dataclass(dict(table), ImportedPlantConfig, path)
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
        """Return the scenario as nested plain data (every setting, defaults included); ``from_dict`` inverts it."""
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
        """Return the scenario as TOML text; ``Scenario.from_toml_text(s.to_toml()) == s``."""
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
            node.pop(_field_named(self, parts[:-1], last), None)   # another name of the same setting, if any
            node[last] = value
        else:
            raise ScenarioError(f"{self.source}: `--set {key}`: `{'.'.join(parts[:-1])}` is a value, not a table.")
        return Scenario.from_dict(data, source=self.source, default_name=self.name)

    def with_seed(self, seed: int) -> "Scenario":
        """Return a copy whose ``run.seed`` is ``seed``.

        Parameters
        ----------
        seed : int
            The new root seed (>= 0).
        """
        return dataclasses.replace(self, run=dataclasses.replace(self.run, seed=seed))

    # ------------------------------------------------------------- building
    def build(self, seed: int | None = None) -> Setup:
        """Make the env, controller, reference and events of one run.

        Parameters
        ----------
        seed : int, optional
            Root seed of the run; default ``run.seed``. Its spare stream (see
            :func:`neurocontrol.simulation.loop.seed_streams`) draws the initial state.

        Returns
        -------
        Setup
            ``env, controller, reference, events, options, run, seed, meta``;
            pass them to :func:`neurocontrol.simulation.loop.simulate` (or use
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
        if isinstance(self.plant, ImportedPlantConfig):
            plant_kind, plant_build = self.plant.kind, build_imported_plant
        else:
            plant_reg = registered("plant")[kind_of(type(self.plant))]
            plant_kind, plant_build = plant_reg.kind, plant_reg.build
        try:
            env, options = plant_build(self.plant, self.run, rng)
        except (NeurocontrolError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: [plant] (kind {plant_kind!r}): {exc}") from None
        ctrl_reg = registered("controller")[kind_of(type(self.controller))]
        try:
            controller = ctrl_reg.build(self.controller, env) if ctrl_reg.build else self.controller
        except (NeurocontrolError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: [controller] (kind {ctrl_reg.kind!r}): {exc}") from None
        names = signal_names(env, controller.output_indices)["output_names"] or \
            tuple(f"y{i}" for i in range(len(controller.output_indices)))
        ref_reg = registered("reference")[kind_of(type(self.reference))]
        try:
            reference = ref_reg.build(self.reference, env, names)
        except (NeurocontrolError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: [reference] (kind {ref_reg.kind!r}): {exc}") from None
        if callable(getattr(controller, "set_preview", None)):
            controller.set_preview(reference)     # a scenario's reference is known ahead: controllers may preview it
        unknown = [k for k in self.run.tolerance if k not in names]
        if unknown:
            raise ScenarioError(f"{self.source}: `run.tolerance.{unknown[0]}` is not a controlled output; "
                                f"the outputs are {', '.join(names)}.")
        if self.run.tolerance and len(self.run.tolerance) != len(names):
            missing = [n for n in names if n not in self.run.tolerance]
            raise ScenarioError(f"{self.source}: `run.tolerance` must give every controlled output a tolerance; "
                                f"missing {', '.join(missing)}.")
        meta = {"scenario": self.name, "scenario_sha256": self.sha256, "scenario_source": self.source}
        derived = controller.derived_settings() if callable(getattr(controller, "derived_settings", None)) else {}
        if derived:
            meta["controller_settings"] = derived
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


def as_scenario(scenario) -> Scenario:
    """Return the scenario itself, or the one read from a ``.toml`` path.

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
        A scenario or the path of its file.

    Returns
    -------
    Scenario

    Raises
    ------
    ParameterError
        On anything else.
    """
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
        Progress bar on a terminal (see :func:`neurocontrol.simulation.loop.simulate`).
    callback : callable, optional
        Passed to :func:`~neurocontrol.simulation.loop.simulate`.
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
    sc = as_scenario(scenario)
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
        attach_learned_response(result, setup.controller)
        attach_loop_shapes(result, setup.controller)
    if out is not None:
        save_run(result, sc, out, overwrite=overwrite, plots=plots)
    return result


def attach_loop_shapes(result, controller) -> None:
    """Record a model-designed PID's loop shapes in ``result.meta["loop_shapes"]`` (plotted as ``loop_shapes.png``).

    For a controller with ``loop_shapes`` (``pid_auto``'s model method,
    :class:`~neurocontrol.controllers.pid_auto.ModelPIDController`); other controllers: nothing.

    Parameters
    ----------
    result : Result
        The run.
    controller : object
        Its controller.
    """
    shapes = getattr(controller, "loop_shapes", None)
    if callable(shapes):
        result.meta["loop_shapes"] = shapes()


def attach_learned_response(result, controller) -> None:
    """Record the controller's learned step responses at the run's end in ``result.meta["learned_response"]``.

    For a controller with ``learned_step_response`` (the neural kind) that has applied an input: the
    identifier's response of each controlled output to each input from where the run ended (default length,
    a step of 5 % of each input's half range), with ``dt``, the synthesiser's ``horizon`` and the names;
    :func:`save_run` plots it as ``learned_response.png``. Other controllers: nothing.
    """
    probe = getattr(controller, "learned_step_response", None)
    if probe is None:
        return
    try:
        with np.errstate(over="ignore", invalid="ignore"):     # a free run that diverges is dropped just below
            response = probe()
    except NeurocontrolError:       # no input applied (a run that stopped at its first step), or a state it refuses
        return
    if not np.all(np.isfinite(response)):
        return
    horizon = getattr(getattr(controller, "law", None), "horizon", None)
    result.meta["learned_response"] = {"dt": float(result.meta["dt"]),
                                       "horizon": None if horizon is None else int(horizon), "amplitude": 0.05,
                                       "outputs": list(result.output_names), "inputs": list(result.input_names),
                                       "response": response.tolist()}


def _field_named(scenario: "Scenario", table: list[str], key: str) -> str | None:
    """Return the field that ``key`` names by another name (``metadata["aliases"]``) in the table at ``table``.

    None where ``key`` is no such name or the scenario's object at ``table`` is no dataclass.
    """
    obj: Any = scenario
    for part in table:
        if isinstance(obj, (list, tuple)) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part, None)
    if not dataclasses.is_dataclass(obj):
        return None
    return field_aliases(dataclasses.fields(obj)).get(key)
