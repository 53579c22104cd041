"""GuardedController: divergence -> rollback + fallback, prediction-error and envelope trips, hand-back, state I/O."""

import numpy as np
import pytest

from neurocontrol.controllers.guard import GuardedController, GuardSettings
from neurocontrol.exceptions import ParameterError, ScenarioError, ShapeError
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate

HOVER = "scenarios/helicopter_hover.toml"


def guarded_scenario(**settings):
    d = Scenario.from_toml(HOVER).to_dict()
    d["controller"] = {"kind": "guarded", "inner": d["controller"], "fallback": {"kind": "lqr"}, **settings}
    return Scenario.from_dict(d)


def run(sc, *, duration=14.0, callback=None, seed=0):
    setup = sc.build(seed)
    res = simulate(setup.env, setup.controller, setup.reference, duration=duration, seed=seed, options=setup.options,
                   callback=callback)
    return res, setup.controller


@pytest.mark.parametrize("poison", ["nan", "huge"])
def test_divergent_weights_roll_back_hand_to_fallback_and_come_back(poison):
    sc = guarded_scenario()
    holder = {}

    def sabotage(k, info):
        if k == 600:
            ctrl = holder["c"]
            st = ctrl.controller.get_state()
            st["W"] = st["W"] * (np.nan if poison == "nan" else 1e4)
            ctrl.controller.set_state(st)

    setup = sc.build(0)
    holder["c"] = ctrl = setup.controller
    res = simulate(setup.env, ctrl, setup.reference, duration=14.0, seed=0, options=setup.options, callback=sabotage)
    assert res.status == "completed" and np.all(np.isfinite(res.inputs))
    sw = ctrl.switches
    assert [s["to"] for s in sw] == ["fallback", "adaptive"]
    assert "rolled back to the snapshot of t=" in sw[0]["reason"] and sw[0]["time"] == pytest.approx(6.01)
    assert ("non-finite" if poison == "nan" else "weight norm") in sw[0]["reason"]
    assert np.all(np.isfinite(ctrl.controller.identifier_weights))
    assert res.metrics["success"]
    assert "fallback" in res.meta["mode_fractions"] and ctrl.diagnostics()["mode"] == "adaptive"


def test_prediction_error_trip_and_envelope_trip():
    sc = guarded_scenario(envelope_low=[100.0, 0.9], envelope_high=[175.0, 1.1])
    res, ctrl = run(sc, duration=6.0, seed=1)          # seed 1 starts outside [0.9, 1.1] m
    assert ctrl.switches and "outside the envelope" in ctrl.switches[0]["reason"]
    assert np.all(np.isfinite(res.inputs))


def test_healthy_hover_never_trips_and_modes_are_reported():
    res, ctrl = run(guarded_scenario(), duration=8.0)
    assert ctrl.switches == [] and set(res.meta["mode_fractions"]) == {"warmup", "adaptive"}
    assert 0 < ctrl.error_level < 1e-3


def round_trip(setup, *, flown: int, after: int, env_seed: int = 1):
    """Fly ``flown`` steps at the hover set-point, save the guard's state; return it and two continuations."""
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=env_seed, options=setup.options)
    r = np.array([140.0, 1.0])
    ctrl.reset(obs, r, seed=2)
    for _ in range(flown):
        obs, *_ = env.step(ctrl.step(obs, r))
    state = ctrl.get_state()
    a = [ctrl.step(obs, r) for _ in range(after)]
    ctrl.set_state(state)
    b = [ctrl.step(obs, r) for _ in range(after)]
    return state, a, b


def test_state_round_trip_continues_bit_identically():
    _, a, b = round_trip(guarded_scenario().build(0), flown=300, after=50)
    np.testing.assert_array_equal(a, b)


def test_errors():
    sc = guarded_scenario()
    ctrl = sc.build(0).controller
    with pytest.raises(ShapeError, match=r"`observation` must have shape \(5,\), got \(3,\)"):
        ctrl.reset([140.0, 1.0, 0.0], [140.0, 1.0])
    ctrl.reset([140.0, 1.0, 0.0, 0.12, 0.0], [140.0, 1.0])
    with pytest.raises(ShapeError, match=r"`observation` must have shape \(5,\), got \(4,\)"):
        ctrl.step([140.0, 1.0, 0.0, 0.12], [140.0, 1.0])
    with pytest.raises(ParameterError, match=r"`controller` must be an AdaptiveController or a NeuralController, "
                                             r"got LQRController"):
        GuardedController(ctrl.fallback, ctrl.fallback)
    with pytest.raises(ParameterError, match=r"unknown guard setting\(s\) \['eror_ratio'\]"):
        GuardedController(ctrl.controller, ctrl.fallback, eror_ratio=3.0)
    with pytest.raises(ParameterError, match=r"`recover_ratio` \(20.0\) must not exceed `error_ratio`"):
        GuardSettings(recover_ratio=20.0)
    with pytest.raises(ParameterError, match=r"`envelope_low` and `envelope_high` must be given together"):
        GuardSettings(envelope_low=(0.0, 0.0))
    with pytest.raises(ParameterError, match=r"`trip_steps` must be an integer >= 1, got 0"):
        GuardSettings(trip_steps=0)
    with pytest.raises(ParameterError, match=r"`envelope_low` and `envelope_high` must give one value per controlled"):
        GuardedController(ctrl.controller, ctrl.fallback, envelope_low=(0.0,), envelope_high=(1.0,))
    d = Scenario.from_toml(HOVER).to_dict()
    with pytest.raises(ScenarioError, match=r"unknown kind 'mpc' at `controller\.fallback\.kind`; allowed: adaptive, "
                                            r"filtered, guarded, lqr, lqr_i, mrac, neural, pid, pid_auto, pid_gains\."):
        Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": d["controller"],
                                                "fallback": {"kind": "mpc"}}})
    with pytest.raises(ScenarioError, match=r"missing key `controller\.fallback\.kind`; set it to one of"):
        Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": d["controller"], "fallback": {}}})


def test_fallback_is_any_registered_controller_kind_default_lqr():
    from plants.helicopter.baselines import LQRController, PIDController
    from plants.helicopter.kinds import LQRConfig, PIDConfig

    d = Scenario.from_toml(HOVER).to_dict()
    default = Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": d["controller"]}})
    assert default.controller.fallback == LQRConfig()
    assert isinstance(default.build(0).controller.fallback, LQRController)
    pid = Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": d["controller"],
                                                  "fallback": {"kind": "pid", "kp_alt": 0.05}}})
    assert pid.controller.fallback == PIDConfig(kp_alt=0.05)
    assert Scenario.from_toml_text(pid.to_toml()) == pid
    ctrl = pid.build(0).controller.fallback
    assert isinstance(ctrl, PIDController) and ctrl.kp_alt == 0.05


def test_shipped_guarded_scenario_round_trips():
    sc = Scenario.from_toml("scenarios/guarded_actuator_loss.toml")
    assert Scenario.from_toml_text(sc.to_toml()) == sc
    assert sc.controller.envelope_low == (100.0, 0.05)
