import ast
import inspect
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
    sample_iosys,
)
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import seed_streams, simulate
from plants.helicopter import step, to_iosys, to_sampled_iosys, trim
from plants.helicopter.baselines import PIDController
from plants.iosys_env import IOSystemEnv


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
    csys = controller_iosys(ctrl, plant=setup.env)          # names declared by the (wrapped) env
    assert csys.input_labels[:5] == list(setup.env.unwrapped.observation_names)
    x0 = np.concatenate([obs, controller_state_vector(ctrl)])
    loop = close_loop(to_sampled_iosys(dt=0.01, substeps=5), csys)
    t0 = time.perf_counter()
    resp = control.input_output_response(loop, T, R.T, x0)
    wall = time.perf_counter() - t0
    res = simulate(setup.env, ctrl, setup.reference, duration=10.0, seed=3, options=setup.options)
    assert res.n_steps == 1000 and res.status == "completed"
    np.testing.assert_array_equal(resp.outputs[:5].T, res.observations)        # bit for bit
    np.testing.assert_array_equal(resp.outputs[5:, :-1].T, res.inputs)
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
    plant = to_sampled_iosys()
    csys = controller_iosys(pid, plant=plant)
    assert csys.output_labels == ["throttle", "collective_servo"]
    assert csys.input_labels[:5] == ["rotor_speed", "altitude", "climb_rate", "collective", "collective_rate"]
    assert csys.input_labels[5:] == ["rotor_speed_ref", "altitude_ref"] and csys.isdtime(strict=True)
    loop = close_loop(plant, csys)
    T = np.arange(201) * 0.01
    resp = control.input_output_response(loop, T, np.tile([[140.0], [1.2]], (1, T.size)),
                                         np.concatenate([x0, controller_state_vector(pid)]))
    assert resp.outputs[1, -1] > 1.0


def test_sampled_helicopter_equals_plant_step_and_sample_iosys_is_rk4():
    tp = trim(140.0)
    sysd = to_sampled_iosys(dt=0.01, substeps=5)
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
        controller_iosys(pid, plant=to_sampled_iosys(), reference_names=["r"])
    with pytest.raises(ParameterError, match=r"`sys` must be a continuous-time control.NonlinearIOSystem"):
        sample_iosys(to_sampled_iosys(), dt=0.01)
    with pytest.raises(ParameterError, match=r"`dt` must be a finite number > 0 s, got 0.0"):
        sample_iosys(to_iosys(), dt=0.0)
    with pytest.raises(ParameterError, match=r"`substeps` must be an integer >= 1 and <= 10000, got 0"):
        sample_iosys(to_iosys(), dt=0.01, substeps=0)
    with pytest.raises(ParameterError, match=r"`substeps` must be an integer >= 1 and <= 10000, got 0"):
        to_sampled_iosys(substeps=0)
    with pytest.raises(ParameterError, match=r"`dt` must be a finite number > 0 s, got -0.01"):
        to_sampled_iosys(dt=-0.01)
    plant = to_sampled_iosys()
    with pytest.raises(ParameterError, match=r"plant and controller must share one sampling period"):
        close_loop(to_sampled_iosys(dt=0.02, substeps=5), controller_iosys(pid, plant=plant))
    with pytest.raises(ParameterError, match=r"none of the controller's inputs"):
        close_loop(plant, controller_iosys(pid, plant=plant, observation_names=[f"o{i}" for i in range(5)]))
    with pytest.raises(ParameterError, match=r"must include every plant input; missing \['throttle'"):
        close_loop(plant, controller_iosys(pid, plant=plant, input_names=["a", "b"]))
    with pytest.raises(ParameterError, match=r"cannot tell how many observations the PIDController takes; pass "
                                             r"plant=\.\.\. \(the env or system it controls\)"):
        controller_iosys(pid)
    with pytest.raises(ParameterError, match=r"`plant` must declare its signal names \(an env with "
                                             r"`observation_names` and `input_names`, or a python-control system\), "
                                             r"got str"):
        controller_iosys(pid, plant="helicopter")
    ctrl = cfg_ctrl()
    ctrl.reset([140.0, 1.0, 0.0, 0.12, 0.0], [140.0, 1.0], seed=0)
    with pytest.raises(ParameterError, match=r"`observation_names` must give 5 distinct names, got \['v', 'w'\]"):
        controller_iosys(ctrl, plant=_lag_env(2))          # the declared names do not fit the controller


def _lag_env(n_out=1):
    """A first-order lag plant whose signals are declared by the env (names and units)."""
    outs = ["v", "w"][:n_out]
    sys = control.nlsys(lambda t, x, u, p: -x + u[0], lambda t, x, u, p: np.repeat(x, n_out),
                        states=["v"], inputs=["force"], outputs=outs, name="lag")
    return IOSystemEnv(sys, dt=0.01, input_limits=[[-1.0, 1.0]], units={"v": "m/s", "force": "N"})


def cfg_ctrl():
    from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig

    cfg = AdaptiveControllerConfig(observation_low=(74.25, 0.0, -3.0, 0.0175, -10.0),
                                   observation_high=(180.0, 2.0, 3.0, 0.245, 10.0))
    return AdaptiveController(cfg, input_limits=((0, 400), (-600, 600)), output_indices=(0, 1), dt=0.01)


def test_names_come_from_what_the_plant_declares_or_are_generic():
    pid = PIDController.from_plant()
    pid.reset(trim(140.0).x, [140.0, 1.0])
    generic = controller_iosys(pid, observation_names=[f"s{i}" for i in range(5)])
    assert generic.input_labels == [f"s{i}" for i in range(5)] + ["s0_ref", "s1_ref"]
    assert generic.output_labels == ["u[0]", "u[1]"]
    ctrl = cfg_ctrl()
    ctrl.reset([140.0, 1.0, 0.0, 0.12, 0.0], [140.0, 1.0], seed=0)
    assert controller_iosys(ctrl).input_labels[:5] == [f"y[{i}]" for i in range(5)]   # no plant: no guess
    # the names an IOSystemEnv declares are its system's signal names
    env = _lag_env()
    assert (env.observation_names, env.input_names, env.units) == (("v",), ("force",), {"v": "m/s", "force": "N"})


def test_the_bridge_names_no_plant():
    import neurocontrol.control_bridge as bridge

    tree = ast.parse(inspect.getsource(bridge))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            words += [getattr(node, "module", "") or ""] + [a.name for a in node.names]
    assert not [w for w in words if "helicopter" in w.lower() or "rotor" in w.lower()]
