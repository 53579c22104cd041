"""GuardedController around the neural predictive controller: unchanged flight without a trip, the fallback's input
learned in shadow, hand-back, state I/O, the scenario key and its errors."""

import numpy as np
import pytest

from neurocontrol.controllers.neural import NeuralController
from neurocontrol.exceptions import ScenarioError
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate
from tests.test_guard import round_trip

NEURAL = "scenarios/neural_hover.toml"


def scenarios(**settings):
    """The neural hover scenario, and the same with its controller under guard (LQR fallback)."""
    plain = Scenario.from_toml(NEURAL)
    d = plain.to_dict()
    d["controller"] = {"kind": "guarded", "inner": d["controller"], "fallback": {"kind": "lqr"}, **settings}
    return plain, Scenario.from_dict(d)


def fly(sc, duration, seed=0, callback=None):
    s = sc.build(seed)
    res = simulate(s.env, s.controller, s.reference, duration=duration, seed=seed, options=s.options,
                   callback=callback)
    return res, s.controller


def test_without_a_trip_the_guarded_neural_controller_flies_bit_identically():
    plain, guarded = scenarios()
    a, _ = fly(plain, 4.0)
    b, ctrl = fly(guarded, 4.0)
    assert isinstance(ctrl.controller, NeuralController)
    assert ctrl.switches == [] and set(b.meta["mode_fractions"]) == {"warmup", "adaptive"}
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert ctrl.preview is not None and ctrl.preview is ctrl.controller.preview      # the scenario's preview passed on


def test_envelope_trip_flies_the_fallback_the_network_learns_its_input_and_gets_the_plant_back():
    # seed 1 starts at 1.26 m, outside the altitude envelope: the LQR flies until the outputs are back in it
    _, guarded = scenarios(envelope_low=[100.0, 0.9], envelope_high=[175.0, 1.1], recover_steps=100)
    seen = []

    def check(k, info):
        ctrl = holder["c"]
        if ctrl.mode == "fallback":      # in shadow: the identifier's newest input tap is the input applied
            m = ctrl.n_inputs
            seen.append(np.array_equal(ctrl.controller._u_prev[:m], ctrl._u_last))

    s = guarded.build(1)
    holder = {"c": s.controller}
    res = simulate(s.env, s.controller, s.reference, duration=10.0, seed=1, options=s.options, callback=check)
    ctrl = s.controller
    assert res.status == "completed" and np.all(np.isfinite(res.inputs))
    to = [w["to"] for w in ctrl.switches]
    assert to[:2] == ["fallback", "adaptive"], ctrl.switches
    assert "outside the envelope" in ctrl.switches[0]["reason"]
    assert seen and all(seen)
    assert ctrl.diagnostics()["mode"] == "adaptive" and res.metrics["success"]


def test_state_round_trip_in_fallback_continues_bit_identically():
    _, guarded = scenarios(envelope_low=[100.0, 0.9], envelope_high=[175.0, 1.1])
    state, a, b = round_trip(guarded.build(1), flown=60, after=30)
    assert state["guard.mode"] == "fallback"
    np.testing.assert_array_equal(a, b)


def test_inner_kind_must_be_a_learning_controller():
    d = Scenario.from_toml(NEURAL).to_dict()
    sc = Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": {"kind": "lqr"}}})
    with pytest.raises(ScenarioError, match=r"\[controller.inner\] must be a learning controller the guard can "
                                            r"watch \(kind 'adaptive' or 'neural'\), got kind 'lqr'"):
        sc.build(0)
    assert Scenario.from_toml_text(sc.to_toml()) == sc


def test_derived_settings_name_the_inner_controller_and_the_fallback():
    _, guarded = scenarios()
    ctrl = guarded.build(0).controller
    ctrl.reset(np.array([140.0, 1.0, 0.0, 0.12, 0.0]), np.array([140.0, 1.0]), seed=0)
    keys = list(ctrl.derived_settings())
    assert keys and all(k.startswith(("inner ", "fallback ")) for k in keys)
    assert "inner warmup_steps" in keys


def test_shipped_guarded_neural_hover_is_neural_hover_under_guard():
    shipped = Scenario.from_toml("scenarios/guarded_neural_hover.toml")
    plain = Scenario.from_toml(NEURAL)
    assert shipped.controller.inner == plain.controller
    assert (shipped.plant, shipped.reference, shipped.run.duration, shipped.run.tolerance) == \
        (plain.plant, plain.reference, plain.run.duration, plain.run.tolerance)
    assert Scenario.from_toml_text(shipped.to_toml()) == shipped


def test_bench_guard_builds_the_guarded_noisy_task_and_summarises_runs():
    import importlib.util
    import sys
    from pathlib import Path

    bench_dir = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench_dir))          # the benchmark imports its siblings
    try:
        spec = importlib.util.spec_from_file_location("bench_guard", bench_dir / "bench_guard.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(bench_dir))
    sc = bench.scenario("twin_rotor_steps", "guarded", 0.25, 0)
    c = sc.controller
    assert c.inner.kind == "neural" and c.fallback.kind == "lqr_i" and c.max_recoveries == 0
    np.testing.assert_allclose(c.envelope_low, [-np.pi / 4, -np.pi / 2])
    np.testing.assert_allclose(c.envelope_high, [np.pi / 4, np.pi / 2])
    assert sc.plant.output_noise_std and bench.scenario("twin_rotor_steps", "neural", 0.25, 0).controller.kind == \
        "neural"
    rows = [{"plant": "p", "kind": "guarded", "seed": s, "stopped": s == 1, "success": False,
             "success_true": s == 0, "fallback_share": 0.1 * s, "trips": s, "nonfinite_actions": 0} for s in range(3)]
    f = bench.summarise(rows)["p"]["guarded"]
    assert (f["n"], f["stopped"], f["success_true"], f["stopped_seeds"]) == (3, 1, 1, [1])
    assert f["fallback_share_median"] == pytest.approx(0.1) and f["trips_median"] == 1.0
    with pytest.raises(SystemExit):
        bench.main(["--plants", "nowhere", "--no-record"])


def test_envelope_margin_takes_the_envelope_from_the_declared_ranges():
    from neurocontrol.controllers.guard import GuardedController, GuardSettings
    from neurocontrol.exceptions import ParameterError

    _, guarded = scenarios(envelope_margin=0.1)
    ctrl = guarded.build(0).controller
    # neural_hover declares rotor speed 74.25-180 rad/s and altitude 0-2 m
    np.testing.assert_allclose(ctrl._env_lo, [74.25 + 10.575, 0.2])
    np.testing.assert_allclose(ctrl._env_hi, [180.0 - 10.575, 1.8])
    with pytest.raises(ParameterError, match=r"either `envelope_margin` .* or `envelope_low` and `envelope_high`"):
        GuardSettings(envelope_margin=0.1, envelope_low=(0.0, 0.0), envelope_high=(1.0, 1.0))
    for bad in (0.5, -0.1, True, "0.1"):
        with pytest.raises(ParameterError, match=r"`envelope_margin` must be a fraction in \[0, 0.5\)"):
            GuardSettings(envelope_margin=bad)
    with pytest.raises(ScenarioError, match="envelope_margin"):
        scenarios(envelope_margin=0.7)[1].build(0)
    pid = Scenario.from_toml("scenarios/hover_pid.toml").build(0).controller
    assert GuardedController(ctrl.controller, pid, envelope_margin=0.0)._env_hi.tolist() == [180.0, 2.0]


def test_envelope_signals_watch_observation_entries_that_are_not_controlled_outputs():
    from neurocontrol.controllers.guard import GuardedController, GuardSettings
    from neurocontrol.exceptions import ParameterError

    # the climb rate (entry 2) kept within +-0.05 m/s: the climb from a low start leaves it at once
    _, guarded = scenarios(envelope_signals=[2], envelope_low=[-0.05], envelope_high=[0.05])
    res, ctrl = fly(guarded, 3.0, seed=1)
    assert ctrl._env_idx == [2] and ctrl.switches and "outside the envelope" in ctrl.switches[0]["reason"]
    assert res.status == "completed" and "fallback" in res.meta["mode_fractions"]
    # watching the controlled outputs by name is the default, bit for bit
    a, _ = fly(scenarios(envelope_low=[100.0, 0.9], envelope_high=[175.0, 1.1])[1], 2.0, seed=1)
    b, _ = fly(scenarios(envelope_signals=[0, 1], envelope_low=[100.0, 0.9], envelope_high=[175.0, 1.1])[1], 2.0,
               seed=1)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    # the margin takes the watched entries' declared ranges: climb rate -3..3 m/s less 10 % at each end
    ctrl = scenarios(envelope_signals=[2], envelope_margin=0.1)[1].build(0).controller
    np.testing.assert_allclose([ctrl._env_lo[0], ctrl._env_hi[0]], [-2.4, 2.4])
    for bad in ([], [-1], [0, 0], [1.5], "2", [True]):
        with pytest.raises(ParameterError, match=r"`envelope_signals` must be distinct observation indices"):
            GuardSettings(envelope_signals=bad, envelope_margin=0.1)
    with pytest.raises(ParameterError, match=r"`envelope_signals` needs an envelope"):
        GuardSettings(envelope_signals=[2])
    inner, lqr = ctrl.controller, ctrl.fallback
    with pytest.raises(ParameterError, match=r"`envelope_signals` \[7\] are not observation entries"):
        GuardedController(inner, lqr, envelope_signals=[7], envelope_margin=0.1)
    with pytest.raises(ParameterError, match=r"one value per watched signal \(envelope_signals\) \(1\), got 2"):
        GuardedController(inner, lqr, envelope_signals=[2], envelope_low=[0.0, 0.0], envelope_high=[1.0, 1.0])


def test_a_fallback_that_does_not_fit_the_plant_is_named_and_lqr_i_is_suggested():
    tank = Scenario.from_toml("scenarios/quadtank_pminus.toml").to_dict()
    tank["controller"] = {"kind": "guarded", "inner": {"kind": "neural"}}          # the default fallback: "lqr"
    with pytest.raises(ScenarioError, match=r"\[controller.fallback\] \(kind 'lqr'\): the 'lqr' baseline is "
                                            r"designed for the helicopter plant.*kind = \"lqr_i\""):
        Scenario.from_dict(tank).build(0)
    tank["controller"]["fallback"] = {"kind": "lqr_i"}
    tank["run"]["duration"] = 30.0
    res, ctrl = fly(Scenario.from_dict(tank), 30.0)
    assert res.status == "completed" and isinstance(ctrl.controller, NeuralController) and ctrl.switches == []
