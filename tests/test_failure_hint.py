"""A run the env stops says why it may have failed, where the neural controller can tell (``meta["hint"]``).

Three suspects, the first that applies: a warm-up flown without feedback (no warm-up controller given, and
``build_neural`` could not check the plant: the automatic LQR-I needs a python-control model that shows the plant
unstable or integrating); the horizon check's finding (a right-half-plane zero the horizon does not cover); sensor
noise after the hand-over. Sweeps keep each run's hint, and the command line prints it.
"""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from neurocontrol.controllers.neural import NeuralController, NeuralControllerConfig, build_neural
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate

ROOT = Path(__file__).resolve().parents[1] / "scenarios"
REF = MultiSignal(signals=(Constant(value=0.2),))


class Unstable(gym.Env):
    """x(k+1) = 1.3 x(k) + 0.1 u(k), measured; the episode ends when |x| > 1. No python-control model."""

    dt = 0.1

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)
        self.x = 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = 0.2
        return np.array([self.x]), {}

    def step(self, action):
        self.x = 1.3 * self.x + 0.1 * float(np.clip(action[0], -1.0, 1.0))
        return np.array([self.x]), 0.0, bool(abs(self.x) > 1.0), False, {}


def test_an_unstable_plant_without_a_model_is_lost_with_a_hint_that_names_why():
    env = Unstable()
    controller = build_neural(NeuralControllerConfig(output_indices=(0,)), env)
    assert controller.warmup_controller is None
    assert controller.unchecked_note == "the env has no python-control model"
    res = simulate(env, controller, REF, duration=20.0, seed=0, tolerance=0.05)
    assert res.status == "failed" and res.meta["stop_kind"] == "terminated"
    hint = res.meta["hint"]
    t = res.time[-1]
    assert hint.startswith(f"the env stopped the run during the warm-up, at {t:.4g} s;") or \
        hint.startswith(f"the env stopped the run at {t:.4g} s, ")
    assert "(the env has no python-control model)" in hint and "`[controller.warmup_pid]`" in hint


def test_a_warm_up_controller_or_a_checked_plant_gives_no_hint():
    class Hold:                                  # any object with reset/step: here a stabilising P law
        def reset(self, observation, reference, seed=None):
            pass

        def step(self, observation, reference):
            return np.clip(-20.0 * (observation[:1] - reference), -1.0, 1.0)

    cfg = NeuralControllerConfig(output_indices=(0,), observation_low=(-1.0,), observation_high=(1.0,))
    given = NeuralController(cfg, input_limits=((-1.0, 1.0),), dt=0.1, warmup_controller=Hold())
    res = simulate(Unstable(), given, REF, duration=20.0, seed=0, tolerance=0.05)
    assert given.unchecked_note is None and given.failure_hint() is None and "hint" not in res.meta
    given.unchecked_note = "forced"                 # a warm-up controller flew: nothing to suspect, whatever the note
    assert given.failure_hint() is None
    # the tank at P+: its model shows it stable, so the warm-up without feedback was checked
    tank = Scenario.from_toml(ROOT / "quadtank_pplus.toml").set("controller", {"kind": "neural"}).build(0)
    assert tank.controller.warmup_controller is None and tank.controller.unchecked_note is None
    # the PVTOL: the automatic LQR-I flies its warm-up
    pvtol = Scenario.from_toml(ROOT / "pvtol_steps.toml").set("controller", {"kind": "neural"}).build(0)
    assert pvtol.controller.warmup_controller is not None and pvtol.controller.failure_hint() is None


@pytest.mark.parametrize("table, note", [
    ({"auto_warmup": False}, "`auto_warmup = false`"),
    ({"warmup_duration": 0.0}, "no warm-up: `warmup_duration = 0`"),
])
def test_the_reason_names_the_setting_that_turned_the_check_off(table, note):
    sc = Scenario.from_toml(ROOT / "pvtol_steps.toml").set("controller", {"kind": "neural", **table})
    assert sc.build(0).controller.unchecked_note == note


def test_cli_run_prints_the_hint(capsys):
    from neurocontrol import cli

    args = ["run", str(ROOT / "pvtol_steps.toml"), "--seed", "2", "--set",
            'controller={kind="neural", auto_warmup=false}']
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("hint       "))
    assert "after the warm-up ended" in line and "(`auto_warmup = false`)" in line
    assert "hint" not in next(x for x in out.splitlines() if x.startswith("status"))
    assert cli.main(["run", str(ROOT / "pvtol_steps.toml"), "--seed", "2", "--set", "run.duration=1"]) == 0
    assert "\nhint " not in capsys.readouterr().out
    assert cli.main([*args, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["hint"] == line.removeprefix("hint       ") and payload["stop_reason"].startswith("terminated")


def _noisy_hover(noise: float) -> Scenario:
    """The neural hover with sensor noise of ``noise`` times each observation's range."""
    sc = Scenario.from_toml(ROOT / "neural_hover.toml")
    space = sc.build(0).env.observation_space
    return sc.set("plant.disturbances.sensor_noise_std", (noise * (space.high - space.low)).tolist())


def _fly(sc: Scenario, seed: int):
    s = sc.build(seed)
    res = simulate(s.env, s.controller, s.reference, duration=s.run.duration, seed=seed, options=s.options,
                   tolerance=dict(s.run.tolerance), final_window_s=s.run.final_window_s)
    return res, s.controller


def test_a_plant_lost_under_sensor_noise_gets_the_noise_hint():
    res, controller = _fly(_noisy_hover(0.01), 4)            # seed 4: lost at 3.05 s (examples/guarded_neural.py)
    assert res.status == "failed" and res.meta["stop_kind"] == "terminated"
    hint = res.meta["hint"]
    assert hint.startswith(f"the env stopped the run at {res.time[-1]:.4g} s under sensor noise: 5 of the 5 signals")
    assert "`[controller] kind = \"guarded\"`" in hint
    # the figure it quotes is the filter's own estimate, over the signals counted noisy
    top = 100.0 * np.sqrt(controller.filter.noise_var.max())
    assert f"up to {top:.2g} % of the signal's half range" in hint


def test_no_noise_hint_from_a_quiet_run():
    res, controller = _fly(Scenario.from_toml(ROOT / "neural_hover.toml").set("run.duration", 3.0), 0)
    assert res.status == "completed" and controller.failure_hint() is None       # asked anyway: quiet signals


def test_a_lost_run_after_a_horizon_check_finding_names_it():
    # the tank at P+: its model is stable (no warm-up hint) but has a right-half-plane zero the 50-step horizon
    # does not cover; with long_run_signals off, seed 0 is stopped by the env at 248 s
    sc = Scenario.from_toml(ROOT / "quadtank_pplus.toml").set("controller", {"kind": "neural",
                                                                         "long_run_signals": False})
    res, controller = _fly(sc, 0)
    assert res.status == "failed" and controller.horizon_note
    assert res.meta["hint"] == (f"the env stopped the run at {res.time[-1]:.4g} s; the horizon check had a finding: "
                                f"{controller.horizon_note}.")


def test_sweeps_keep_each_runs_hint_and_the_cli_prints_the_first(capsys):
    from neurocontrol import cli
    from neurocontrol.experiments.sweeps import sweep

    tank = Scenario.from_toml(ROOT / "quadtank_pplus.toml").set("controller", {"kind": "neural",
                                                                           "long_run_signals": False})
    sw = sweep(tank.set("run.duration", 400.0), [0, 1], workers=1)
    res, _ = _fly(tank.set("run.duration", 400.0), 0)
    assert sw.statuses[0] == "failed" and sw.hints[0] == res.meta["hint"]
    assert [r["hint"] for r in sw.to_dict()["runs"]] == list(sw.hints)
    assert cli.main(["sweep", str(ROOT / "quadtank_pplus.toml"), "--seeds", "0:2", "--workers", "1", "--set",
                     'controller={kind="neural", long_run_signals=false}', "--set", "run.duration=400"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("hint       "))
    given = sum(h is not None for h in sw.hints)
    assert line == f"hint       {given} of 2 runs have one; seed 0's: {sw.hints[0]}"


def _guarded_pvtol(noise_std: list) -> Scenario:
    """The PVTOL steps flown by the neural controller inside the guard (LQR-I fallback, envelope 10 % inside
    the env's x, y and theta ranges), with sensor noise ``noise_std`` per observation."""
    sc = Scenario.from_toml(ROOT / "pvtol_steps.toml").set("plant.output_noise_std", noise_std)
    lo, hi = np.array([-10.0, -10.0, -np.pi / 2]), np.array([10.0, 10.0, np.pi / 2])
    pad = 0.1 * (hi - lo)
    return sc.set("controller", {"kind": "guarded", "inner": {"kind": "neural"}, "fallback": {"kind": "lqr_i"},
                                 "envelope_signals": [0, 1, 2], "envelope_low": (lo + pad).tolist(),
                                 "envelope_high": (hi - pad).tolist()})


def test_a_guarded_run_lost_under_the_fallback_says_when_the_guard_tripped():
    # 1 % sensor noise: the guard trips on the envelope, and the LQR-I cannot catch the vehicle in time
    res, guard = _fly(_guarded_pvtol([0.4, 0.4, 0.0628, 0.4, 0.4, 0.4]), 0)
    assert res.status == "failed" and res.meta["modes"][-1]["mode"] == "fallback"
    trip = [sw for sw in guard.switches if sw["to"] == "fallback"][-1]
    t = res.time[-1]
    assert res.meta["hint"].startswith(f"the env stopped the run at {t:.4g} s while the fallback flew, "
                                       f"{t - trip['time']:.4g} s after the guard handed it the plant "
                                       f"({trip['reason']}). A late trip")
    assert "`envelope_margin`" in res.meta["hint"]


def test_a_guarded_neural_controller_lost_while_it_flew_gives_its_own_hint_without_the_guard_advice():
    inner = _fly(_noisy_hover(0.01), 1)[1]                   # lost under noise, alone (the test above)
    assert "the guard" in inner.failure_hint() and "the guard" not in inner.failure_hint(guarded=True)
    assert inner.failure_hint(guarded=True).endswith("\"Sensor noise at 1 % of range: what fails\").")
