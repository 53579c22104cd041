"""Scenario files: the generic TOML <-> dataclass mechanism (with dataclasses defined here), strict errors
naming file and key, exact round trips, --set overrides, building and running."""

from __future__ import annotations

import abc
import dataclasses
import inspect
import json
from typing import ClassVar, Literal

import numpy as np
import pytest

from neurocontrol import registry
from neurocontrol import scenario as scn
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.reference import Staircase
from neurocontrol.results import Result
from neurocontrol.scenario import (
    ILCSpec,
    RunConfig,
    Scenario,
    describe_kind,
    register,
    registered,
    run_scenario,
    save_run,
)
from neurocontrol.simulation.events import ParameterChange
from plants.helicopter.baselines import LQRController, PIDController, PIDGains
from plants.helicopter.kinds import LQRConfig, PIDConfig, WarmupPIDConfig

TOL = {"rotor_speed": 1.4, "altitude": 0.02}


def base(**tables) -> dict:
    d = {"plant": {"kind": "helicopter"},
         "reference": {"kind": "setpoint", "rotor_speed": 140.0, "altitude": 1.0},
         "controller": {"kind": "pid"},
         "run": {"duration": 2.0, "tolerance": dict(TOL)}}
    d.update(tables)
    return d


# --------------------------------------------------------------------------- test-only kinds


class AbstractShape(abc.ABC):
    @abc.abstractmethod
    def area(self) -> float: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class Square(AbstractShape):
    side: float = 1.0

    def area(self):
        return self.side ** 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class Disc(AbstractShape):
    radius: float

    def area(self):
        return np.pi * self.radius ** 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class FastLaw:
    kind: ClassVar[str] = "fast"
    gain: float = 2.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlowLaw:
    kind: str = "slow"   # discriminated by a field default
    gain: float = 0.5
    horizon: int = 10


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inner:
    weights: tuple[float, ...] = (1.0, 2.0)
    pair: tuple[int, int] = (1, 4)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MechConfig:
    """Every supported field type, for a controller kind registered by the tests."""

    kind: ClassVar[str] = "mech"
    rate: float = dataclasses.field(default=1.0, metadata={"aliases": ("speed",)})   # a file may write `speed`
    count: int = 3
    enabled: bool = True
    label: str = "x"
    mode: Literal["a", "b"] = "a"
    values: tuple[float, ...] = (0.5,)
    hold: tuple[tuple[int, int], ...] = ((5, 30), (1, 4))
    gains: dict[str, float] = dataclasses.field(default_factory=dict)
    inner: Inner = dataclasses.field(default_factory=Inner)
    law: FastLaw | SlowLaw = dataclasses.field(default_factory=FastLaw)
    shape: AbstractShape = dataclasses.field(default_factory=Square)
    limit: tuple[float, ...] | None = None
    either: float | str = 1.0

    def __post_init__(self):
        if self.rate <= 0:
            raise ParameterError(f"`rate` must be positive, got {self.rate!r}.")


def build_mech(config, env):
    assert isinstance(config, MechConfig)
    return PIDController.from_plant(dt=env.unwrapped.dt)


@pytest.fixture
def mech_registered():
    registry._load_builtins()   # snapshot after the plugin modules registered their kinds
    saved = {s: dict(t) for s, t in registry._REGISTRY.items()}
    register("controller", "mech", MechConfig, build_mech)
    register("shape", "square", Square)
    register("shape", "disc", Disc)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


# --------------------------------------------------------------------------- the generic mechanism


def test_generic_mechanism_decodes_every_supported_type(mech_registered):
    sc = Scenario.from_dict(base(controller={
        "kind": "mech", "rate": 2, "count": 4, "enabled": False, "label": "y", "mode": "b", "values": [1, 2.5],
        "hold": [[1, 2], [3, 4]], "gains": {"kp": 1, "ki": 0.5}, "inner": {"pair": [2, 3]},
        "law": {"kind": "slow", "horizon": 20}, "shape": {"kind": "disc", "radius": 2}, "limit": [1.0],
        "either": "auto"}))
    c = sc.controller
    assert c.rate == 2.0 and isinstance(c.rate, float)
    assert c.count == 4 and c.enabled is False and c.label == "y" and c.mode == "b"
    assert c.values == (1.0, 2.5) and all(isinstance(v, float) for v in c.values)
    assert c.hold == ((1, 2), (3, 4)) and c.gains == {"kp": 1.0, "ki": 0.5}
    assert c.inner == Inner(pair=(2, 3)) and c.law == SlowLaw(horizon=20) and c.shape == Disc(radius=2.0)
    assert c.limit == (1.0,) and c.either == "auto"
    # defaults and None for absent optional keys
    d = Scenario.from_dict(base(controller={"kind": "mech"})).controller
    assert d == MechConfig() and d.limit is None and d.law == FastLaw() and d.shape == Square()
    # exact round trip through TOML, and through the plain dict
    for s in (sc, Scenario.from_dict(base(controller={"kind": "mech"}))):
        text = s.to_toml()
        assert Scenario.from_toml_text(text) == s
        assert Scenario.from_dict(s.to_dict()) == s
        assert Scenario.from_toml_text(text).to_toml() == text
    # builds and runs through the registered build function
    res = run_scenario(sc, seed=0)
    assert res.status == "completed" and res.n_steps == 200


@pytest.mark.parametrize("table, match", [
    ({"rate": "fast"}, r"`controller.rate` must be a number, got a string 'fast'"),
    ({"rate": True}, r"`controller.rate` must be a number, got a boolean True"),
    ({"count": 2.5}, r"`controller.count` must be an integer, got a number 2.5"),
    ({"enabled": 1}, r"`controller.enabled` must be true or false, got an integer 1"),
    ({"mode": "c"}, r"`controller.mode` must be one of 'a', 'b', got 'c'"),
    ({"values": 1.0}, r"`controller.values` must be an array of numbers, got a number 1.0"),
    ({"values": [1.0, "x"]}, r"`controller.values\[1\]` must be a number, got a string 'x'"),
    ({"inner": {"pair": [1, 2, 3]}}, r"`controller.inner.pair` must be an array of 2 integers, got 3 values"),
    ({"inner": {"weight": [1.0]}}, r"unknown key `controller.inner.weight` \(did you mean `weights`\?\); "
                                   r"allowed keys of Inner: pair, weights"),
    ({"gains": {"kp": "high"}}, r"`controller.gains.kp` must be a number, got a string 'high'"),
    ({"law": {"kind": "medium"}}, r"unknown kind 'medium' at `controller.law.kind`; allowed: fast, slow"),
    ({"law": {"gain": 1.0}}, r"missing key `controller.law.kind`; set it to one of fast, slow"),
    ({"law": {"kind": "fast", "horizon": 3}}, r"unknown key `controller.law.horizon`; allowed keys of FastLaw "
                                              r"\(kind 'fast'\): gain, kind"),
    ({"shape": {"kind": "disc"}}, r"missing key `controller.shape.radius` \(a number\)"),
    ({"shape": 3}, r"`controller.shape` must be a table with `kind` one of disc, square, got an integer 3"),
    ({"inner": {"kind": "x"}}, r"`controller.inner.kind` must be absent: this table has no kinds, got 'x'"),
    ({"either": [1]}, r"`controller.either` must be a number or a string, got an array \[1\]"),
    ({"rate": -1.0}, r"`controller.rate` must be positive, got -1.0"),
    ({"speed": -1.0}, r"`controller.speed` must be positive, got -1.0"),            # named as written
    ({"speed": "x"}, r"`controller.speed` must be a number, got a string 'x'"),
    ({"speed": 2.0, "rate": 2.0}, r"`controller.speed` and `controller.rate` are the same setting; give one"),
])
def test_generic_mechanism_errors_name_file_key_and_allowed(mech_registered, table, match):
    with pytest.raises(ScenarioError, match=r"^mech.toml: " + match):
        Scenario.from_dict(base(controller={"kind": "mech", **table}), source="mech.toml")


def test_a_field_alias_sets_the_field_and_round_trips_under_the_field_name(mech_registered):
    sc = Scenario.from_dict(base(controller={"kind": "mech", "speed": 2.5}))
    assert sc.controller == MechConfig(rate=2.5)
    assert sc.to_dict()["controller"]["rate"] == 2.5 and "speed" not in sc.to_dict()["controller"]
    assert Scenario.from_toml_text(sc.to_toml()) == sc
    assert sc.set("controller.speed", 3).controller.rate == 3.0      # --set by the other name replaces the value
    assert sc.set("controller.rate", 4).controller.rate == 4.0


def test_the_neural_kind_takes_hidden_units_for_n_hidden():
    """Issue #13 names the key `hidden_units`; the config's field is `n_hidden`: both spellings set it."""
    for key in ("hidden_units", "n_hidden"):
        c = Scenario.from_dict(base(controller={"kind": "neural", key: 4})).controller
        assert c.n_hidden == 4 and c.hidden_units == 4
    sc = Scenario.from_dict(base(controller={"kind": "neural", "n_hidden": 2}))
    assert sc.set("controller.hidden_units", 6).controller.n_hidden == 6
    with pytest.raises(ScenarioError, match=r"`controller.hidden_units` must be an integer >= 0, got -1"):
        Scenario.from_dict(base(controller={"kind": "neural", "hidden_units": -1}))


def test_register_validates_and_lists(mech_registered):
    assert {"pid", "lqr", "mech"} <= set(registered("controller"))
    assert {"constant", "step", "staircase", "ramp", "sine"} <= set(registered("signal"))
    assert "controller" in registered()
    with pytest.raises(ParameterError, match=r"`kind` must be a lower-case name like 'pid'"):
        register("controller", "My PID", MechConfig)
    with pytest.raises(ParameterError, match=r"`config` of controller kind 'x' must be a dataclass type"):
        register("controller", "x", dict)

    @dataclasses.dataclass
    class Loose:
        a: float = 1.0

    with pytest.raises(ParameterError, match=r"must be a frozen keyword-only dataclass"):
        register("controller", "loose", Loose)
    with pytest.raises(ParameterError, match=r"controller kind 'mech' is already registered to MechConfig; "
                                             r"pass replace=True"):
        register("controller", "mech", Inner)
    with pytest.raises(ParameterError, match=r"FastLaw declares kind 'fast' but is registered as 'quick'"):
        register("law", "quick", FastLaw)
    with pytest.raises(ParameterError, match=r"`build` of controller kind 'x2' must be callable"):
        register("controller", "x2", Inner, build=3)
    register("controller", "mech", MechConfig, build_mech)  # same class again: fine (module reloads)


# --------------------------------------------------------------------------- strict file errors


def write(tmp_path, text, name="bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
[plant]
kind = "helicopter"
[reference]
kind = "setpoint"
[controller]
kind = "pid"
[run]
duration = 2.0
"""


@pytest.mark.parametrize("text, match", [
    (GOOD.replace('[controller]\nkind = "pid"\n', ""),
     r"missing table \[controller\]; add it with a `kind` \(registered: .*lqr, .*pid"),
    (GOOD.replace("[run]\nduration = 2.0\n", ""), r"missing table \[run\]; add it with at least `duration`"),
    (GOOD + "[runn]\nx = 1\n", r"unknown table \[runn\] \(did you mean \[run\]\?\); allowed tables: scenario, "),
    (GOOD.replace("duration = 2.0", "duration = 2.0\ndurration = 3.0"),
     r"unknown key `run.durration` \(did you mean `duration`\?\); allowed keys of \[run\]: duration, "
     r"final_window_s, seed, tolerance"),
    (GOOD.replace("duration = 2.0", 'duration = "2 s"'), r"`run.duration` must be a number, got a string '2 s'"),
    (GOOD.replace("duration = 2.0", "duration = -1.0"), r"`run.duration` must be a finite number > 0 s, got -1.0"),
    (GOOD.replace("duration = 2.0", "seed = 1"), r"missing key `run.duration` \(a number\)"),
    (GOOD.replace('kind = "pid"', 'kind = "mpc"'),
     r"unknown kind 'mpc' at `controller.kind`; registered controller kinds: .*lqr, .*pid"),
    (GOOD.replace('kind = "pid"', "kp_rotor = 1.0"), r"missing key `controller.kind`; set it to one of "),
    (GOOD.replace('kind = "pid"', 'kind = "pid"\nkp_rotr = 1.0'),
     r"unknown key `controller.kp_rotr` \(did you mean `kp_rotor`\?\); allowed keys of PIDConfig \(kind 'pid'\)"),
    (GOOD.replace('kind = "pid"', 'kind = "pid"\nkp_rotor = -1.0'),
     r"`controller.kp_rotor` must be a finite number >= 0, got -1.0"),
    (GOOD.replace("duration = 2.0", "duration = 2.0\n  = 3"), r"not valid TOML: Invalid statement \(at line 10, column 3\); fix the syntax"),
    (GOOD.replace('kind = "helicopter"', 'kind = "helicopter"\n[plant.disturbances]\nparam_perturbation = 0.5'),
     r"`plant.disturbances.param_perturbation` must be a relative std in \[0, 0.25\], got 0.5"),
    (GOOD.replace('kind = "helicopter"', 'kind = "helicopter"\nparams = {a99 = 1.0}'),
     r"unknown key `plant.params.a99` \(did you mean `a9`\?\); allowed keys of HelicopterParams: a1, a10, "),
    (GOOD.replace('kind = "helicopter"', 'kind = "helicopter"\ninitial = {altitude = [1.5, 0.2]}'),
     r"`plant.initial.altitude` must be a range \[low, high\] with low <= high, got \[1.5, 0.2\]"),
    (GOOD.replace('kind = "setpoint"', 'kind = "signals"\n[reference.altitude]\nkind = "square_wave"'),
     r"unknown kind 'square_wave' at `reference.altitude.kind`; allowed: constant, ramp, sine, staircase, step"),
    (GOOD.replace('kind = "setpoint"', 'kind = "signals"\n[reference.altitude]\nkind = "staircase"\n'
                                      'times = [0.0, 5.0]\nlevels = [1.0]'),
     r"`reference.altitude.levels` must have shape \(2,\) like `times`"),
    (GOOD + '[[events]]\nkind = "parameter_change"\ntime = -2.0\nfactors = {a8 = 1.3}\n',
     r"`events\[0\].time` must be a finite number >= 0 s, got -2.0"),
    ("events = 3\n" + GOOD, r"`events` must be an array of tables \[\[events\]\], got an integer 3"),
    (GOOD + '[ilc]\ntrials = 0\n', r"`ilc.trials` must be an integer >= 1, got 0"),
    (GOOD + '[ilc]\nlaw = "zz"\n', r"unknown ILC law 'zz' at `ilc.law`; registered laws: "),
    (GOOD + '[scenario]\nnam = "x"\n', r"unknown key `scenario.nam`; allowed keys of \[scenario\]: description, name"),
    ("plant = 3\n" + GOOD.replace('[plant]\nkind = "helicopter"\n', ""),
     r"`plant` must be a table \[plant\], got an integer 3"),
])
def test_bad_files_raise_scenario_errors_naming_file_and_key(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match=r"^" + str(path).replace("\\", "\\\\") + r": " + match):
        Scenario.from_toml(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ScenarioError, match=r"nothere.toml: no such scenario file; check the path"):
        Scenario.from_toml(tmp_path / "nothere.toml")
    with pytest.raises(ScenarioError, match=r"is a folder, not a scenario file"):
        Scenario.from_toml(tmp_path)


def test_build_time_errors_name_the_key(tmp_path):
    sc = Scenario.from_dict(base(reference={"kind": "setpoint", "height": 1.0}), source="s.toml")
    with pytest.raises(ScenarioError, match=r"^s.toml: \[reference\] \(kind 'setpoint'\): `reference.height` is not "
                                            r"a controlled output; the outputs are rotor_speed, altitude"):
        sc.build()
    sc = Scenario.from_dict(base(run={"duration": 2.0, "tolerance": {"altitude": 0.02}}), source="s.toml")
    with pytest.raises(ScenarioError, match=r"`run.tolerance` must give every controlled output a tolerance; "
                                            r"missing rotor_speed"):
        sc.build()
    sc = Scenario.from_dict(base(run={"duration": 2.0, "tolerance": {"height": 0.02}}), source="s.toml")
    with pytest.raises(ScenarioError, match=r"`run.tolerance.height` is not a controlled output"):
        sc.build()
    sc = Scenario.from_dict(base(plant={"kind": "helicopter", "initial": {"rotor_speed": [50.0, 60.0]}}),
                            source="s.toml")
    with pytest.raises(ScenarioError, match=r"\[plant\] \(kind 'helicopter'\): `plant.initial.rotor_speed` must lie "
                                            r"within \[74.25, 180.0\]"):
        sc.build()
    sc = Scenario.from_dict(base(plant={"kind": "helicopter", "initial": {"state": [140.0, 3.0, 0.0, 0.1, 0.0]}}),
                            source="s.toml")
    with pytest.raises(ScenarioError, match=r"`plant.initial.state\[1\]` \(altitude\) must be in \[0.0, 2.0\]"):
        sc.build()
    with pytest.raises(ScenarioError, match=r"the seed must be a non-negative integer, got -3"):
        Scenario.from_dict(base()).build(seed=-3)


# --------------------------------------------------------------------------- ILC spec


def test_ilc_spec_parses_with_a_registered_law_and_checks_gains():
    registry._load_builtins()   # snapshot after the plugin modules registered their kinds
    saved = {s: dict(t) for s, t in registry._REGISTRY.items()}

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class PDGains:
        kp: float = 0.5
        kd: float = 0.0

    try:
        register("ilc_law", "pd", PDGains)
        sc = Scenario.from_dict(base(ilc={"trials": 4, "law": "pd", "gains": {"kp": 0.3}}))
        assert sc.ilc == ILCSpec(trials=4, law="pd", gains={"kp": 0.3})
        assert Scenario.from_toml_text(sc.to_toml()) == sc
        with pytest.raises(ScenarioError, match=r"unknown key `ilc.gains.kq` \(did you mean `kp`\?\); allowed keys "
                                                r"of the 'pd' law's gains: kd, kp"):
            Scenario.from_dict(base(ilc={"law": "pd", "gains": {"kq": 0.3}}))
        # the builtin ILC runner (neurocontrol.ilc) runs its three scenario-file laws only and says so
        with pytest.raises(ScenarioError, match=r"`ilc.law` must be 'p' \(P-type with Q-filter\), 'norm_optimal' or "
                                                r"'network' in scenario files, got 'pd'"):
            run_scenario(sc)
        registry._REGISTRY["runner"].pop("ilc")
        with pytest.raises(ScenarioError, match=r"the scenario has an \[ilc\] table but no ILC runner is registered"):
            run_scenario(sc)
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)


def test_ilc_spec_validates():
    with pytest.raises(ParameterError, match=r"`law` must be a law name like 'pd', got 'P D'"):
        ILCSpec(law="P D")
    with pytest.raises(ParameterError, match=r"`gains\['kp'\]` must be a finite number"):
        ILCSpec(gains={"kp": float("nan")})


# --------------------------------------------------------------------------- set, round trip, build


def test_set_overrides_values_tables_kinds_and_events():
    sc = Scenario.from_dict(base(events=[{"kind": "parameter_change", "time": 1.0, "factors": {"a8": 1.3}}]),
                            source="s.toml")
    assert sc.set("run.duration", "5").run.duration == 5.0
    assert sc.set("run.seed", "7").run.seed == 7
    assert sc.set("plant.params.a8", "-0.8").plant.params.a8 == -0.8
    assert sc.set("plant.disturbances.sensor_noise_std", "[0.1, 0, 0, 0, 0]").plant.disturbances.sensor_noise_std \
        == (0.1, 0.0, 0.0, 0.0, 0.0)
    assert sc.set("run.tolerance", "{rotor_speed = 2.0, altitude = 0.05}").run.tolerance == \
        {"rotor_speed": 2.0, "altitude": 0.05}
    assert sc.set("events.0.time", "0.5").events[0] == ParameterChange(time=0.5, factors={"a8": 1.3})
    lqr = sc.set("controller.kind", "lqr")
    assert lqr.controller == LQRConfig() and lqr.source == "s.toml"
    assert sc.set("controller.kind", "pid").controller == sc.controller  # same kind: settings kept
    sig = sc.set("reference.kind", "signals").set("reference.altitude", "{kind = 'staircase', times = [0.0, 1.0], "
                                                                        "levels = [1.0, 1.2]}")
    assert sig.reference.signals == {"altitude": Staircase(times=(0.0, 1.0), levels=(1.0, 1.2))}
    assert sc.set("scenario.description", "hello world").description == "hello world"
    with pytest.raises(ScenarioError, match=r"^s.toml: `run.duration` must be a number, got a string 'long'"):
        sc.set("run.duration", "long")
    with pytest.raises(ScenarioError, match=r"^s.toml: unknown key `controller.kp_rotr` \(did you mean `kp_rotor`"):
        sc.set("controller.kp_rotr", "1")
    with pytest.raises(ScenarioError, match=r"`--set runn.duration`: unknown table \[runn\]"):
        sc.set("runn.duration", "1")
    with pytest.raises(ScenarioError, match=r"`--set events.3.time`: `events.3` must index one of the 1 entries"):
        sc.set("events.3.time", "1")
    with pytest.raises(ScenarioError, match=r"`--set run.duration.x`: `run.duration` is a value, not a table"):
        sc.set("run.duration.x", "1")
    with pytest.raises(ScenarioError, match=r"`--set` key must be a dotted key like run.duration, got 'run.'"):
        sc.set("run.", "1")


def test_to_toml_escapes_strings_and_round_trips_special_floats():
    sc = Scenario.from_dict(base(scenario={"name": "odd \"name\"", "description": "line\nnext\ttab \\ é \x7f"},
                                 reference={"kind": "signals", "altitude": {"kind": "ramp", "slope": 0.01}}))
    text = sc.to_toml()
    assert "t1 = inf" in text
    again = Scenario.from_toml_text(text)
    assert again == sc and again.description == "line\nnext\ttab \\ é \x7f" and again.name == 'odd "name"'
    assert sc.sha256 == again.sha256 and len(sc.sha256) == 64


def test_build_draws_the_initial_state_from_the_seed_within_the_ranges():
    sc = Scenario.from_dict(base())
    states = [sc.build(seed=s).options["initial_state"] for s in range(20)]
    arr = np.array(states)
    assert np.all((arr[:, 0] >= 120) & (arr[:, 0] <= 160)) and np.all((arr[:, 1] >= 0.2) & (arr[:, 1] <= 1.5))
    assert np.all(arr[:, [2, 4]] == 0.0) and np.ptp(arr[:, 0]) > 20
    np.testing.assert_array_equal(sc.build(seed=3).options["initial_state"], states[3])
    setup = sc.build()
    assert setup.seed == 0 and setup.env.spec.max_episode_steps == 200 and setup.env.unwrapped.dt == 0.01
    assert isinstance(setup.controller, PIDController) and setup.reference(0.0).tolist() == [140.0, 1.0]
    assert setup.meta["scenario_sha256"] == sc.sha256
    fixed = Scenario.from_dict(base(plant={"kind": "helicopter", "initial": {"state": [140.0, 1.0, 0.0, 0.123, 0.0]}}))
    assert fixed.build(seed=9).options["initial_state"].tolist() == [140.0, 1.0, 0.0, 0.123, 0.0]


def test_reference_setpoint_defaults_to_the_plant_setpoint_and_signals_accept_numbers():
    sc = Scenario.from_dict(base(plant={"kind": "helicopter", "setpoint": [150.0, 0.5]},
                                 reference={"kind": "setpoint", "altitude": 1.2}))
    assert sc.build().reference(3.0).tolist() == [150.0, 1.2]
    sc = Scenario.from_dict(base(reference={"kind": "signals", "rotor_speed": 145,
                                            "altitude": {"kind": "step", "t0": 1.0, "before": 1.0, "after": 1.3}}))
    assert sc.build().reference(np.array([0.0, 2.0])).tolist() == [[145.0, 1.0], [145.0, 1.3]]
    assert sc.reference.signals["rotor_speed"] == 145.0


def test_baseline_configs_match_the_constructor_defaults():
    assert PIDConfig().gains == PIDGains() and WarmupPIDConfig().gains == PIDGains()
    lqr = inspect.signature(LQRController.__init__).parameters["integrator_limit"].default
    assert LQRConfig().integrator_limit == tuple(lqr)
    # the lqr kind builds the same gain as LQRController.from_plant, the pid kind the same gains as from_plant
    setup = Scenario.from_dict(base(controller={"kind": "lqr"})).build()
    np.testing.assert_array_equal(setup.controller.K, LQRController.from_plant().K)
    pid = Scenario.from_dict(base(controller={"kind": "pid", "kp_alt": 0.05})).build().controller
    assert pid.gains == PIDGains(kp_alt=0.05) and pid.servo_gain == PIDController.from_plant().servo_gain
    with pytest.raises(ParameterError, match=r"`Q` must hold 7 diagonal weights, got 2"):
        LQRConfig(Q=(1.0, 2.0))


def test_warmup_pid_is_a_registered_kind_whose_kind_key_is_optional():
    hover = Scenario.from_toml("scenarios/helicopter_hover.toml")
    assert isinstance(hover.controller.warmup_pid, WarmupPIDConfig)
    assert "[controller.warmup_pid]" in hover.to_toml()
    assert 'kind = "pid"' not in hover.to_toml().split("[controller.warmup_pid]")[1].split("[")[0]
    data = hover.to_dict()
    data["controller"]["warmup_pid"] = {"kind": "pid", "servo_gain": 2600.0}
    sc = Scenario.from_dict(data)
    assert sc.controller.warmup_pid == WarmupPIDConfig(servo_gain=2600.0)
    warm = sc.build(0).controller.warmup_controller
    assert isinstance(warm, PIDController) and warm.servo_gain == 2600.0 and warm.gains == PIDGains()
    data["controller"]["warmup_pid"] = {"kind": "lqr"}
    with pytest.raises(ScenarioError, match=r"unknown kind 'lqr' at `controller\.warmup_pid\.kind`; allowed: pid"):
        Scenario.from_dict(data)
    data["controller"]["warmup_pid"] = {"servo_gain": 0.0}
    with pytest.raises(ScenarioError, match=r"`controller\.warmup_pid\.servo_gain` must be a finite number > 0"):
        Scenario.from_dict(data)


def test_layers_scenario_imports_no_higher_layer_and_no_plant():
    import ast
    from pathlib import Path

    root = Path(scn.__file__).resolve().parents[1]
    for folder, banned in (("scenario", ("neurocontrol.experiments", "neurocontrol.cli", "plants")),
                           ("experiments", ("neurocontrol.cli", "plants"))):
        for path in sorted((root / folder).glob("*.py")):
            # the plant benchmark times the helicopter env itself
            ban = ("neurocontrol.cli",) if path.name == "bench.py" else banned
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert not node.module.startswith(ban), (path.name, node.module)
                    if node.module.startswith("neurocontrol.experiments.") and folder == "experiments":
                        assert all(not a.name.startswith("_") for a in node.names), (path.name, node.module)
                elif isinstance(node, ast.Import):
                    assert not any(a.name.startswith(ban) for a in node.names), path.name


def test_run_scenario_is_deterministic_and_writes_a_run_folder(tmp_path):
    sc = Scenario.from_dict(base(plant={"kind": "helicopter", "disturbances": {"sensor_noise_std": [0.2, 0.005, 0, 0, 0],
                                                                               "gust_rate": 1.0, "gust_amplitude": 1.0}}))
    a = run_scenario(sc, seed=4)
    b = run_scenario(sc, seed=4, out=tmp_path / "run")
    assert isinstance(a, Result) and a.meta["scenario_sha256"] == sc.sha256 and a.meta["seed"] == 4
    for name in ("observations", "inputs", "references", "saturated"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    drop = lambda m: {k: v for k, v in m.items() if k != "control_step_us"}  # noqa: E731
    assert drop(a.metrics) == drop(b.metrics)
    folder = tmp_path / "run"
    for name in ("arrays.npz", "result.json", "timeseries.csv", "metrics.json", "manifest.json", "scenario.toml",
                 "result.png"):
        assert (folder / name).is_file(), name
    assert Result.load(folder) == b
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["scenario_sha256"] == sc.sha256 and manifest["seed"] == 4
    assert manifest["integrator"]["substeps"] == 5 and "numba" in manifest["versions"]
    assert Scenario.from_toml(folder / "scenario.toml") == sc
    lines = (folder / "timeseries.csv").read_text().splitlines()
    assert len(lines) == 202 and lines[0].startswith("time,rotor_speed,altitude,rotor_speed_ref,altitude_ref,throttle")
    assert lines[-1].split(",")[5] == ""   # no input after the last time point
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 200
    with pytest.raises(FileExistsError, match=r"already holds a saved run; choose a new folder or allow overwriting"):
        save_run(b, sc, folder, plots=False)
    save_run(b, sc, folder, plots=False, overwrite=True)


def test_run_config_validates():
    with pytest.raises(ParameterError, match=r"`seed` must be a non-negative integer"):
        RunConfig(duration=1.0, seed=-1)
    with pytest.raises(ParameterError, match=r"`tolerance\['altitude'\]` must be a finite number > 0 \(output units\), got 0\.0"):
        RunConfig(duration=1.0, tolerance={"altitude": 0.0})


def test_describe_kind_lists_nested_keys():
    keys = [row["key"] for row in describe_kind("plant", "helicopter")]
    assert {"dt", "params.a8", "initial.rotor_speed", "disturbances.gust_rate"} <= set(keys)
    rows = {row["key"]: row for row in describe_kind("run", "run")}
    assert rows["duration"]["required"] and rows["seed"]["default"] == 0
    with pytest.raises(ParameterError, match=r"no controller kind 'mpc' is registered; registered: "):
        describe_kind("controller", "mpc")


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(scn.core, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_a_broken_plugin_module_is_reported_on_unknown_kinds(monkeypatch):
    monkeypatch.setattr(registry, "_PLUGIN_ERRORS", {"neurocontrol.ilc": "SyntaxError: invalid syntax"})
    with pytest.raises(ScenarioError, match=r"unknown kind 'adaptive2' at `controller.kind`; registered controller "
                                            r"kinds: .*\(note: neurocontrol.ilc failed to import: SyntaxError"):
        Scenario.from_dict(base(controller={"kind": "adaptive2"}))


# --------------------------------------------------------------------------- dependent keys
def test_derived_fields_are_not_written_so_they_follow_their_source():
    # old behaviour: the encoder wrote every field, so a value resolved from another field kept its stale value
    import dataclasses

    from neurocontrol.scenario.encode import _encode

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Window:
        length: int = 10
        half: int | None = None

        def __post_init__(self):
            object.__setattr__(self, "__derived_fields__", frozenset({"half"}) if self.half is None else frozenset())
            if self.half is None:
                object.__setattr__(self, "half", self.length // 2)

    assert dict(_encode(Window(length=8))) == {"length": 8}                 # derived: left out
    assert dict(_encode(Window(length=8, half=3))) == {"length": 8, "half": 3}   # explicit: written
