"""A user's plant in scenario files: ``[plant] kind = "package.module:attr"`` from every command, and its errors.

The plants live in tests/user_plant_example.py, outside the package. The
references are a direct ``simulate`` of the same env and controller, the exact
solution of a tank (for a parameter change), and serial runs (for workers).
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import user_plant_example

from neurocontrol import cli, registry
from neurocontrol.controllers.base import FunctionController
from neurocontrol.controllers.generic import LQRIConfig, build_lqr_i
from neurocontrol.exceptions import ScenarioError
from neurocontrol.experiments.jobs import make_jobs, run_job
from neurocontrol.experiments.sweeps import compare, sweep
from neurocontrol.registry import register
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.scenario.user_plant import ImportedPlantConfig, build_imported_plant
from neurocontrol.simulation import simulate

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

LAGS = """
[scenario]
name = "user_lags"

[plant]
kind = "user_plant_example:coupled_lags"
tau1 = 1.5
coupling = 0.2
setpoint = [1.0, 0.5]

[reference]
kind = "setpoint"
y1 = 1.0
y2 = 0.5

[controller]
kind = "lqr_i"
output_weight = 100.0
integral_weight = 10.0

[run]
duration = 20.0
final_window_s = 3.0

[run.tolerance]
y1 = 0.02
y2 = 0.02
"""


@pytest.fixture(scope="module")
def lags_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "lags.toml"
    path.write_text(LAGS)
    return path


def test_a_user_plant_reads_writes_and_round_trips():
    sc = Scenario.from_toml_text(LAGS)
    assert sc.plant == ImportedPlantConfig(kind="user_plant_example:coupled_lags",
                                           kwargs={"tau1": 1.5, "coupling": 0.2, "setpoint": [1.0, 0.5]})
    text = sc.to_toml()
    assert 'kind = "user_plant_example:coupled_lags"' in text and "tau1 = 1.5" in text
    assert Scenario.from_toml_text(text) == sc
    assert Scenario.from_dict(sc.to_dict()) == sc
    changed = sc.set("plant.tau2", "4")
    assert changed.plant.kwargs["tau2"] == 4 and changed.set("plant.tau2", "3.0") != sc


def test_a_user_plant_runs_like_the_same_env_simulated_directly():
    sc = Scenario.from_toml_text(LAGS)
    res = run_scenario(sc, seed=4)
    env = user_plant_example.coupled_lags(tau1=1.5, coupling=0.2, setpoint=[1.0, 0.5])
    ctrl = build_lqr_i(LQRIConfig(output_weight=100.0, integral_weight=10.0), env)
    direct = simulate(env, ctrl, lambda t: np.array([1.0, 0.5]), duration=20.0, seed=4,
                      tolerance={"y1": 0.02, "y2": 0.02}, final_window_s=3.0)
    np.testing.assert_array_equal(res.observations, direct.observations)
    np.testing.assert_array_equal(res.inputs, direct.inputs)
    assert res.metrics["success"] and abs(res.observations[-1, 0] - 1.0) < 0.02


def test_an_env_subclass_with_declared_parameters_takes_a_parameter_change_exactly():
    """The tank's exact solution: h(t) = h_inf + (h0 - h_inf) exp(-leak t / area), h_inf = q / leak."""
    sc = Scenario.from_dict({
        "plant": {"kind": "user_plant_example:LeakyTankEnv", "area": 2.0, "leak": 0.5, "dt": 0.5},
        "reference": {"kind": "setpoint", "level": 1.0},
        "controller": {"kind": "lqr_i"},     # not built: the tank has no python-control model
        "events": [{"kind": "parameter_change", "time": 5.0, "factors": {"leak": 2.0}}],
        "run": {"duration": 10.0}})
    env, options = build_imported_plant(sc.plant, sc.run, None)
    q = 0.8
    hold = FunctionController(lambda obs, ref: np.array([q]), input_limits=[[0.0, 4.0]], output_indices=[0],
                              dt=0.5)
    res = simulate(env, hold, lambda t: np.array([1.0]), duration=10.0, seed=0, options=options, events=sc.events)
    t = res.time
    h5 = q / 0.5 * (1 - math.exp(-0.5 * 5.0 / 2.0))
    exact = np.where(t <= 5.0, q / 0.5 * (1 - np.exp(-0.5 * t / 2.0)),
                     q / 1.0 + (h5 - q / 1.0) * np.exp(-1.0 * (t - 5.0) / 2.0))
    np.testing.assert_allclose(res.observations[:, 0], exact, rtol=1e-12, atol=1e-14)
    assert res.meta["events"][0]["after"] == {"leak": 1.0}


def test_lqr_i_needs_a_model_and_says_so_for_a_plain_env():
    sc = Scenario.from_dict({"plant": {"kind": "user_plant_example:LeakyTankEnv"},
                             "reference": {"kind": "setpoint", "level": 1.0}, "controller": {"kind": "lqr_i"},
                             "run": {"duration": 10.0}})
    with pytest.raises(ScenarioError, match=r"\[controller\] \(kind 'lqr_i'\): .*LeakyTankEnv has no `sys`"):
        sc.build(seed=0)


@pytest.mark.parametrize("plant, message", [
    ({"kind": "no_such_module_xyz:Env"},
     r"module 'no_such_module_xyz' cannot be imported \(no module named 'no_such_module_xyz'\); it must be on "
     r"sys.path or installed .*PYTHONPATH"),
    ({"kind": "user_plant_example:Nope"}, r"'user_plant_example' has no attribute 'Nope'; its public names: .*"
                                          r"LeakyTankEnv"),
    ({"kind": "user_plant_example:NOT_A_PLANT"}, r"`plant.kind` 'user_plant_example:NOT_A_PLANT' names a int, "
                                                 r"not a gymnasium.Env subclass"),
    ({"kind": "user_plant_example:NotAnEnv"}, r"names the class NotAnEnv, which is not a gymnasium.Env subclass"),
    ({"kind": "user_plant_example:a:b"}, r"must be named \"package.module:attribute\""),
    ({"kind": "user_plant_example:coupled_lags", "taux": 1.0, "gian": 2.0},
     r"\[plant\]: unknown keys `taux`, `gian` for the plant 'user_plant_example:coupled_lags'; it accepts: gain, "
     r"tau1, tau2, coupling, dt, substeps, setpoint\."),
    ({"kind": "user_plant_example:needs_positional"}, r"requires positional-only arguments \['size'\]"),
])
def test_bad_user_plants_are_named_errors_when_read(plant, message):
    data = {"plant": plant, "reference": {"kind": "setpoint"}, "controller": {"kind": "lqr_i"},
            "run": {"duration": 1.0}}
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict(data, source="user.toml")


def test_values_that_cannot_be_written_to_a_file_are_refused():
    with pytest.raises(ScenarioError, match=r"`gain` must be TOML data .*got a object"):
        Scenario.from_dict({"plant": {"kind": "user_plant_example:coupled_lags", "gain": object()},
                            "reference": {"kind": "setpoint"}, "controller": {"kind": "lqr_i"},
                            "run": {"duration": 1.0}})


@pytest.mark.parametrize("attr, message", [
    ("returns_a_list", r"returned a list, not a gymnasium.Env"),
    ("NoPeriodEnv", r"\(NoPeriodEnv\) must declare its control period: an attribute `dt` in s"),
    ("unbounded_actions", r"must give its action space finite bounds"),
    ("misnamed_outputs", r"`LeakyTankEnv.observation_names` must name each of the 1 observation entries"),
])
def test_envs_lacking_what_the_loop_needs_are_named_errors_when_built(attr, message):
    sc = Scenario.from_dict({"plant": {"kind": f"user_plant_example:{attr}"},
                             "reference": {"kind": "setpoint", "level": 1.0}, "controller": {"kind": "lqr_i"},
                             "run": {"duration": 1.0}}, source="user.toml")
    with pytest.raises(ScenarioError, match=r"user.toml: \[plant\] \(kind 'user_plant_example:" + attr + r"'\): .*"
                       + message):
        sc.build(seed=0)


def test_unknown_plant_kind_mentions_the_import_path_form():
    with pytest.raises(ScenarioError, match=r"registered plant kinds: .*helicopter.*, or a user plant as "
                                            r"\"package.module:attr\""):
        Scenario.from_dict({"plant": {"kind": "tank"}, "reference": {"kind": "setpoint"},
                            "controller": {"kind": "lqr_i"}, "run": {"duration": 1.0}})


def test_a_fresh_worker_process_rebuilds_the_user_plant_from_the_job():
    """Sweep workers get the scenario as TOML text and import the user's module themselves (sys.path inherited)."""
    sc = Scenario.from_toml_text(LAGS).set("run.duration", "3")
    (job,) = make_jobs(sc, [3])
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        remote = pool.apply(run_job, (job,))
    assert remote["metrics"]["outputs"] == run_job(job)["metrics"]["outputs"]


def test_sweep_with_workers_equals_serial_runs():
    sc = Scenario.from_toml_text(LAGS).set("run.duration", "2")
    res = sweep(sc, range(3), workers=2)
    assert [m["outputs"] for m in res.metrics] == [run_scenario(sc, seed=s).metrics["outputs"] for s in range(3)]


def test_compare_with_a_user_plant():
    sc = Scenario.from_toml_text(LAGS).set("run.duration", "5")
    comp = compare(sc, vary={"plant.coupling": [0.0, 0.4]}, seeds=range(2), workers=1)
    assert len(comp.sweeps) == 2


def test_every_command_reads_a_user_plant(lags_file, tmp_path, capsys):
    assert cli.main(["run", str(lags_file), "--seed", "1", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "completed" and run["success"]
    assert cli.main(["sweep", str(lags_file), "--seeds", "0:2", "--workers", "1", "--set", "run.duration=3",
                     "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["seeds"]) == 2
    assert cli.main(["compare", str(lags_file), "--controllers", "lqr_i", "--seeds", "0:2", "--workers", "1",
                     "--set", "run.duration=3", "--json"]) == 0
    assert "lqr_i" in json.dumps(json.loads(capsys.readouterr().out))
    tuned = Scenario.from_toml(lags_file).set("run.duration", "3").set(
        "tune", '{params = {"plant.coupling" = {low = 0.0, high = 0.4}}, seeds = "0:1", trials = 2}')
    tune_file = tmp_path / "tune.toml"
    tune_file.write_text(tuned.to_toml())
    assert cli.main(["tune", str(tune_file), "--out", str(tmp_path / "tune"), "--workers", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["trials"]) == 2 and "plant.coupling" in out["best_params"]
    best = Scenario.from_toml(tmp_path / "tune" / "best.toml")
    assert best.plant.kind == "user_plant_example:coupled_lags"


def test_the_command_line_needs_the_module_on_its_path(lags_file):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    argv = [sys.executable, "-m", "neurocontrol", "run", str(lags_file), "--set", "run.duration=1"]
    missing = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert missing.returncode == 2
    assert "module 'user_plant_example' cannot be imported" in missing.stderr and "PYTHONPATH" in missing.stderr
    found = subprocess.run(argv + ["--json"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                           env={**env, "PYTHONPATH": str(TESTS)})
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["status"] == "completed"


def test_registered_plant_kinds_still_work():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class LagsConfig:
        tau1: float = 2.0

    def build(config, run, rng):
        return user_plant_example.coupled_lags(tau1=config.tau1), None

    register("plant", "test_lags", LagsConfig, build)
    try:
        sc = Scenario.from_dict({"plant": {"kind": "test_lags", "tau1": 1.5},
                                 "reference": {"kind": "setpoint", "y1": 1.0, "y2": 0.5},
                                 "controller": {"kind": "lqr_i", "output_weight": 100.0, "integral_weight": 10.0},
                                 "run": {"duration": 3.0}})
        direct = Scenario.from_toml_text(LAGS).set("plant", '{kind = "user_plant_example:coupled_lags", tau1 = 1.5}')
        np.testing.assert_array_equal(run_scenario(sc, seed=2).observations,
                                      run_scenario(direct.set("run.duration", "3"), seed=2).observations)
    finally:
        registry._REGISTRY["plant"].pop("test_lags", None)
