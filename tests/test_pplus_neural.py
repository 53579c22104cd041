"""The quadruple tank at P+ under the neural controller: what the identifier learns of the long-run gains.

At P+ the determinant of the step-response gains ``G(k)`` is positive for short ``k`` and negative from about
90 steps on (a right-half-plane zero); a plan that holds the tank must look past that, through a model with
the right long-run gains. ``scenarios/quadtank_pplus_neural.toml`` gets them from a 300 s excitation warm-up
with two input taps and rate lags normalised by ``lag_bandwidth``. The reference is python-control's own step
response of the plant's discretised linearisation at the trim, which shares no code with the controller
(docs/neural_controller.md, "The quadruple tank at P+").
"""

from __future__ import annotations

from pathlib import Path

import control
import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.scenario import Scenario
from plants.quadtank.env import QuadTankEnv

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "quadtank_pplus_neural.toml"
SEEDS = range(5)


def plant_gains(steps: int) -> np.ndarray:
    """python-control: the P+ tank's outputs ``steps`` periods after a held unit step of each input, (2, 2)."""
    env = QuadTankEnv(operating_point="P+")
    x0, u0 = env.operating_point
    lin = control.linearize(env.sys, x0, u0)
    resp = control.step_response(control.c2d(lin, 1.0), T=np.arange(steps + 1))
    return np.asarray(resp.outputs)[:, :, steps]


def learned_gains(controller_changes: dict, seed: int, steps: int) -> np.ndarray:
    """The identifier's gains ``steps`` after a held step, at the end of the scenario's 300 s warm-up, (2, 2)."""
    data = Scenario.from_toml(SCENARIO).to_dict()
    for key, value in controller_changes.items():
        if value is None:
            data["controller"].pop(key, None)
        else:
            data["controller"][key] = value
    built = Scenario.from_dict(data, source=str(SCENARIO), default_name="quadtank_pplus_neural").build(seed)
    env, ctrl = built.env, built.controller
    obs, _ = env.reset(seed=seed, options=built.options)
    ctrl.reset(obs, np.asarray(built.reference(0.0), float), seed=seed)
    for k in range(300):
        obs, *_ = env.step(ctrl.step(obs, np.asarray(built.reference(float(k)), float)))
    return ctrl.learned_step_response(steps=steps, amplitude=0.04)[steps - 1]


def test_the_plant_turns_the_sign_between_50_and_150_steps():
    """The reference itself: det G(50) > 0 > det G(150) (Johansson's P+, docs/plants.md)."""
    assert np.linalg.det(plant_gains(50)) > 0.0 > np.linalg.det(plant_gains(150))


def test_the_scenario_settings_learn_the_long_run_sign_the_defaults_do_not():
    """Seeds 0-4 after the warm-up: det G(150) of the plant's sign on most with the scenario's settings, on at
    most one with either setting left at its default (measured: 3, 1 and 0 of 5)."""
    target = np.linalg.det(plant_gains(150))
    right = {}
    for name, changes in {"scenario": {}, "one input tap": {"input_taps": 1},
                          "reference-bandwidth rate lags": {"lag_bandwidth": None}}.items():
        dets = [np.linalg.det(learned_gains(changes, s, 150)) for s in SEEDS]
        right[name] = sum(d < 0.0 for d in dets)
        if name == "scenario":
            close = [d for d in dets if d < 0.0]
            assert all(abs(d - target) < 0.35 * abs(target) for d in close), (dets, target)
    assert right["scenario"] >= 3 and right["one input tap"] <= 1 and right["reference-bandwidth rate lags"] <= 1, right


def test_lag_bandwidth_sets_the_rate_lags_range():
    """+- half range x lag_bandwidth: the tank's 0-10 V levels at 0.02 rad/s give +-0.1 V/s."""
    ctrl = Scenario.from_toml(SCENARIO).build(0).controller
    lo, hi = ctrl._id_cfg.output_range
    np.testing.assert_allclose(hi[2:], 0.1, rtol=1e-12)
    np.testing.assert_allclose(lo[2:], -0.1, rtol=1e-12)
    assert "normalised by +-[0.1, 0.1]" in ctrl.derived_settings()["lags"]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_lag_bandwidth_must_be_positive(bad):
    with pytest.raises((ParameterError, ScenarioError), match="lag_bandwidth"):
        Scenario.from_toml(SCENARIO).set("controller.lag_bandwidth", bad).build(0)
