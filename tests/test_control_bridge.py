import time

import control
import numpy as np
import pytest

import plants  # noqa: F401
from neurocontrol.control_bridge import (
    StateLayout,
    close_loop,
    controller_iosys,
    controller_state_vector,
    helicopter_sampled_iosys,
    sample_iosys,
)
from neurocontrol.controllers.baselines import PIDController
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import seed_streams, simulate
from plants.helicopter import step, to_iosys, trim


def hover_setup(seed, duration):
    sc = Scenario.from_toml("scenarios/helicopter_hover.toml").set("run.duration", str(duration))
    setup = sc.build(seed)
    streams = seed_streams(seed)
    obs, _ = setup.env.reset(seed=streams.plant, options=setup.options)
    T = np.arange(int(round(duration / 0.01)) + 1) * 0.01
    R = setup.reference(T)
    setup.controller.reset(obs, R[0], seed=streams.controller)
    return setup, obs, T, R


def test_adaptive_closed_loop_in_python_control_equals_native_runner_over_10_s():
    setup, obs, T, R = hover_setup(seed=3, duration=10.0)
    ctrl = setup.controller
    csys = controller_iosys(ctrl)
    x0 = np.concatenate([obs, controller_state_vector(ctrl)])
    loop = close_loop(helicopter_sampled_iosys(dt=0.01, substeps=5), csys)
    t0 = time.perf_counter()
    resp = control.input_output_response(loop, T, R.T, x0)
    wall = time.perf_counter() - t0
    res = simulate(setup.env, ctrl, setup.reference, duration=10.0, seed=3, options=setup.options)
    assert res.n_steps == 1000 and res.status == "completed"
    np.testing.assert_allclose(resp.outputs[:5].T, res.observations, rtol=0, atol=1e-9)
    np.testing.assert_allclose(resp.outputs[5:, :-1].T, res.inputs, rtol=0, atol=1e-9)
    assert "adaptive" in {s["mode"] for s in res.meta["modes"]}   # the comparison covers learning and control
    assert wall < 30.0


def test_output_function_is_pure_and_the_controller_untouched():
    setup, obs, T, R = hover_setup(seed=0, duration=1.0)
    ctrl = setup.controller
    before = controller_state_vector(ctrl)
    csys = controller_iosys(ctrl)
    v = np.concatenate([obs, R[0]])
    u1 = csys.output(0.0, before, v)
    for _ in range(3):
        csys.output(0.0, before, np.concatenate([obs + 0.01, R[0]]))   # other points in between
        np.testing.assert_array_equal(csys.output(0.0, before, v), u1)
    x1 = csys.dynamics(0.0, before, v)
    np.testing.assert_array_equal(controller_state_vector(ctrl), before)
    u_native = ctrl.step(obs, R[0])
    np.testing.assert_array_equal(u_native, u1)
    np.testing.assert_array_equal(controller_state_vector(ctrl), x1)


def test_pid_loop_and_signal_names():
    pid = PIDController.from_plant()
    x0 = trim(140.0).x
    pid.reset(x0, [140.0, 1.0])
    csys = controller_iosys(pid)
    assert csys.input_labels[:5] == ["rotor_speed", "altitude", "climb_rate", "collective", "collective_rate"]
    assert csys.input_labels[5:] == ["rotor_speed_ref", "altitude_ref"] and csys.isdtime(strict=True)
    loop = close_loop(helicopter_sampled_iosys(), csys)
    T = np.arange(201) * 0.01
    resp = control.input_output_response(loop, T, np.tile([[140.0], [1.2]], (1, T.size)),
                                         np.concatenate([x0, controller_state_vector(pid)]))
    assert resp.outputs[1, -1] > 1.0


def test_sampled_helicopter_equals_plant_step_and_sample_iosys_is_rk4():
    tp = trim(140.0)
    sysd = helicopter_sampled_iosys(dt=0.01, substeps=5)
    u = tp.u + [3.0, -5.0]
    np.testing.assert_array_equal(sysd.dynamics(0.0, tp.x, u), step(tp.x, u, dt=0.01, substeps=5))
    sampled = sample_iosys(to_iosys(), dt=0.01, substeps=5)
    np.testing.assert_allclose(sampled.dynamics(0.0, tp.x, u), step(tp.x, u, dt=0.01, substeps=5), rtol=1e-12)


def test_state_layout_round_trip_and_errors():
    lay = StateLayout({"b": True, "a": np.arange(4.0).reshape(2, 2), "k": 3, "e": float("nan")})
    assert lay.keys == ("a", "b", "e", "k") and lay.size == 7 and lay.names[0] == "a[0]"
    s = lay.unflatten(lay.flatten({"a": np.ones((2, 2)), "b": False, "k": 7, "e": 1.5}))
    assert s["b"] is False and s["k"] == 7 and s["e"] == 1.5 and s["a"].shape == (2, 2)
    with pytest.raises(ParameterError, match=r"the state does not fit this layout: missing \['k'\]"):
        lay.flatten({"a": np.ones((2, 2)), "b": False, "e": 1.0})
    with pytest.raises(ShapeError, match=r"state entry 'a' must have shape \(2, 2\), got \(3,\)"):
        lay.flatten({"a": np.ones(3), "b": False, "k": 1, "e": 1.0})
    with pytest.raises(ShapeError, match=r"the state vector must have 7 entries, got 2"):
        lay.unflatten([1.0, 2.0])
    with pytest.raises(ParameterError, match=r"state entry 'x' is a str"):
        StateLayout({"x": "text"})
    with pytest.raises(ParameterError, match=r"a state layout needs a non-empty get_state\(\) dict"):
        StateLayout({})


def test_bridge_errors():
    from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig

    with pytest.raises(ParameterError, match=r"`controller` must be a neurocontrol AbstractController"):
        controller_iosys("pid")
    cfg = AdaptiveControllerConfig(observation_low=(74.25, 0.0, -3.0, 0.0175, -10.0),
                                   observation_high=(180.0, 2.0, 3.0, 0.245, 10.0))
    fresh = AdaptiveController(cfg, input_limits=((0, 400), (-600, 600)), output_indices=(0, 1), dt=0.01)
    with pytest.raises(ParameterError, match=r"the controller has no state yet"):
        controller_iosys(fresh)
    pid = PIDController.from_plant()
    pid.reset(trim(140.0).x, [140.0, 1.0])
    with pytest.raises(ParameterError, match=r"`dt` must be the controller's control period 0.01 s"):
        controller_iosys(pid, dt=0.02)
    with pytest.raises(ParameterError, match=r"`reference_names` must give 2 distinct names"):
        controller_iosys(pid, reference_names=["r"])
    with pytest.raises(ParameterError, match=r"`sys` must be a continuous-time control.NonlinearIOSystem"):
        sample_iosys(helicopter_sampled_iosys(), dt=0.01)
    with pytest.raises(ParameterError, match=r"`dt` must be a positive sampling period"):
        sample_iosys(to_iosys(), dt=0.0)
    with pytest.raises(ParameterError, match=r"`substeps` must be a positive integer"):
        helicopter_sampled_iosys(substeps=0)
    with pytest.raises(ParameterError, match=r"plant and controller must share one sampling period"):
        close_loop(helicopter_sampled_iosys(dt=0.02, substeps=5), controller_iosys(pid))
    with pytest.raises(ParameterError, match=r"none of the controller's inputs"):
        close_loop(helicopter_sampled_iosys(), controller_iosys(pid, observation_names=[f"o{i}" for i in range(5)]))
    with pytest.raises(ParameterError, match=r"must include every plant input; missing \['throttle'"):
        close_loop(helicopter_sampled_iosys(), controller_iosys(pid, input_names=["a", "b"]))
