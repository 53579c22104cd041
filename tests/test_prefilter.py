"""The env model's Kalman filter in front of any controller (``kind = "filtered"``).

Checked against plain implementations written here: the augmented model against python-control's linearisation and
sampling, the gain against the Riccati recursion iterated to its fixed point, the estimates against the Kalman
recursion stepped by hand; then what the filter is for: noise taken out, no steady offset under an unmodelled input
disturbance, a noisy closed loop that the PID alone loses and the filtered PID keeps.
"""

import control
import numpy as np
import pytest

import plants  # noqa: F401
from neurocontrol.controllers.base import FunctionController
from neurocontrol.controllers.generic import trim_linearisation
from neurocontrol.controllers.prefilter import KalmanPrefilter, PrefilterDesign, design_prefilter
from neurocontrol.exceptions import ParameterError, ScenarioError, ShapeError
from neurocontrol.scenario.core import Scenario, run_scenario
from plants.quadtank.env import QuadTankEnv

NOISE = 0.01 * 10.0      # 1 % of the tank's 0-10 V level range


def _hold(u, seen=None):
    """An inner controller that holds ``u`` and records what it is given."""
    def step(obs, ref):
        if seen is not None:
            seen.append(np.array(obs))
        return np.array(u, float)
    return FunctionController(step, input_limits=[[0.0, 10.0]] * 2, output_indices=[0, 1], dt=1.0)


def test_the_augmented_model_and_gain_against_python_control_and_the_riccati_recursion():
    env = QuadTankEnv()
    d = design_prefilter(env, [0, 1], measurement_noise=0.01, process_noise=0.02, disturbance_noise=1e-3)
    tr = trim_linearisation(env, [0, 1])
    sysd = control.c2d(control.ss(tr.lin.A, tr.lin.B, tr.lin.C, tr.lin.D), 1.0, method="zoh")
    n, m = 4, 2
    A = np.block([[sysd.A, sysd.B], [np.zeros((m, n)), np.eye(m)]])
    C = np.hstack([np.asarray(sysd.C)[tr.obs_idx], np.zeros((2, m))])
    np.testing.assert_allclose(d.A, A, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.C, C, rtol=1e-12, atol=1e-12)
    W = np.zeros((6, 6))
    W[:4, :4] = sysd.B @ np.diag((0.02 * 10.0) ** 2 * np.ones(2)) @ sysd.B.T
    W[4:, 4:] = (1e-3 * 10.0) ** 2 * np.eye(2)
    V = NOISE ** 2 * np.eye(2)
    P = np.eye(6)
    for _ in range(20000):          # the prior covariance's recursion to its fixed point
        S = C @ P @ C.T + V
        P = A @ P @ A.T + W - A @ P @ C.T @ np.linalg.solve(S, C @ P @ A.T)
    np.testing.assert_allclose(d.M, P @ C.T @ np.linalg.inv(C @ P @ C.T + V), rtol=1e-6, atol=1e-9)


def test_the_inner_controller_sees_the_kalman_recursion_stepped_by_hand():
    env = QuadTankEnv()
    d = design_prefilter(env, [0, 1])
    seen = []
    ctrl = KalmanPrefilter(_hold([2.5, 3.5], seen), d)
    rng = np.random.default_rng(3)
    ys = d.y_trim + rng.normal(0.0, 0.5, size=(30, 2))
    ctrl.reset(ys[0], [1.0, 1.0])
    x = np.linalg.pinv(d.C) @ (ys[0] - d.y_trim)
    for k in range(1, 30):
        ctrl.step(ys[k], [1.0, 1.0])
        x_post = x + d.M @ (ys[k] - d.y_trim - d.C @ x)
        np.testing.assert_allclose(seen[-1], d.y_trim + d.C @ x_post, rtol=1e-12, atol=1e-12)
        x = d.A @ x_post + d.B @ (np.array([2.5, 3.5]) - d.u_trim)
    # a lost sample: the prediction stands in for it
    ctrl.step([np.nan, 1.0], [1.0, 1.0])
    np.testing.assert_allclose(seen[-1], d.y_trim + d.C @ x, rtol=1e-12, atol=1e-12)


def _open_loop(env, ctrl, steps, seed, params):
    """Hold the inner controller's input; return the true observations and the filter's estimates of them."""
    obs, info = env.reset(seed=seed)
    env.unwrapped.set_params(params)               # from now until the next reset; the filter's model does not know
    ctrl.reset(obs, env.unwrapped.setpoint)
    true, filt = [], []
    for _ in range(steps):
        now = info.get("noiseless_observation", obs)     # a noise-free env: the observation itself
        u = ctrl.step(obs, env.unwrapped.setpoint)
        true.append(now)
        filt.append(ctrl.filtered())
        obs, _, _, _, info = env.step(u)
    return np.asarray(true), np.asarray(filt)


def test_the_filter_takes_out_most_of_the_noise_and_no_offset_remains_under_an_unmodelled_input_gain():
    env = QuadTankEnv(output_noise_std=NOISE)
    _, u0 = env.unwrapped.operating_point
    ctrl = KalmanPrefilter(_hold(u0), design_prefilter(env, [0, 1]))
    true, filt = _open_loop(env, ctrl, 1500, 0, {"k1": 1.3 * env.unwrapped.params["k1"]})
    err = (filt - true)[700:]                    # once the levels have settled (time constants 60-90 s)
    assert np.all(np.sqrt(np.mean(err ** 2, axis=0)) < 0.25 * NOISE), np.sqrt(np.mean(err ** 2, axis=0))
    assert np.all(np.abs(np.mean(err, axis=0)) < 0.1 * NOISE), np.mean(err, axis=0)
    assert abs(true[-1, 0] - env.unwrapped.setpoint[0]) > 1.0       # the change moved the levels: the test has teeth


def _noisy(kind_table, seed):
    data = Scenario.from_toml("scenarios/quadtank_pminus.toml").to_dict()
    data["plant"]["output_noise_std"] = NOISE
    data["controller"] = kind_table
    return run_scenario(Scenario.from_dict(data, source="test", default_name="noisy"), seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_filtered_pid_keeps_the_noisy_tank_in_its_bands_where_the_pid_alone_does_not(seed):
    alone = _noisy({"kind": "pid_auto"}, seed)
    filtered = _noisy({"kind": "filtered", "inner": {"kind": "pid_auto"}, "measurement_noise": 0.01}, seed)
    assert alone.status == filtered.status == "completed"
    assert not alone.metrics["noiseless"]["success"]
    assert filtered.metrics["noiseless"]["success"], filtered.metrics["noiseless"]["outputs"]
    assert "prefilter" in filtered.meta["controller_settings"]


def test_state_round_trip_continues_bit_identically_and_attributes_reach_the_inner_controller():
    env = QuadTankEnv(output_noise_std=NOISE)
    from neurocontrol.controllers.pid_auto import PIDAutoConfig, build_pid_auto

    def make():
        return KalmanPrefilter(build_pid_auto(PIDAutoConfig(), env), design_prefilter(env, [0, 1]))

    a, b = make(), make()
    obs, _ = env.reset(seed=4)
    sp = env.unwrapped.setpoint
    a.reset(obs, sp)
    b.reset(obs, sp)
    for _ in range(20):
        obs, *_ = env.step(a.step(obs, sp))
    b.set_state(a.get_state())
    b._last_u = a._last_u
    b.controller._last_u = a.controller._last_u
    for _ in range(5):
        ua, ub = a.step(obs, sp), b.step(obs, sp)
        assert np.array_equal(ua, ub)
        obs, *_ = env.step(ua)
    assert a.loop_shapes.__self__ is a.controller             # the inner controller's attributes
    assert not hasattr(a, "start_trial")                      # ... and only those it has


def test_errors_are_named():
    env = QuadTankEnv()
    d = design_prefilter(env, [0, 1])
    with pytest.raises(ParameterError, match="`controller` must be a neurocontrol controller"):
        KalmanPrefilter(lambda o, r: o, d)
    with pytest.raises(ParameterError, match="`design` must be a PrefilterDesign"):
        KalmanPrefilter(_hold([3.0, 3.0]), "kalman")
    one = FunctionController(lambda o, r: np.ones(1), input_limits=[[0.0, 1.0]], output_indices=[0], dt=1.0)
    with pytest.raises(ParameterError, match="the filter's model has 2 inputs and the controller 1"):
        KalmanPrefilter(one, d)
    with pytest.raises(ParameterError, match="`measurement_noise` must be"):
        design_prefilter(env, [0, 1], measurement_noise=0.0)
    ctrl = KalmanPrefilter(_hold([3.0, 3.0]), d)
    ctrl.reset(d.y_trim, [1.0, 1.0])
    with pytest.raises(ShapeError, match=r"`observation` must have shape \(2,\)"):
        ctrl.step([1.0, 2.0, 3.0], [1.0, 1.0])
    with pytest.raises(ParameterError, match=r"`state` does not fit this controller: missing \['filter.post', "
                                             r"'filter.prior'\]"):
        ctrl.set_state({})
    with pytest.raises(ScenarioError, match="must be another kind than 'filtered'"):
        _noisy({"kind": "filtered", "inner": {"kind": "filtered", "inner": {"kind": "pid_auto"}}}, 0)
    assert isinstance(d, PrefilterDesign)


def test_the_filtered_neural_kind_keeps_the_noisy_tank_in_its_bands():
    """The default inner kind, as in benchmarks/records/plants_noise_filtered_100.json (100 of 100 there)."""
    res = _noisy({"kind": "filtered", "inner": {}, "measurement_noise": 0.01}, 0)      # inner kind left out
    assert res.status == "completed" and res.metrics["noiseless"]["success"], res.metrics["noiseless"]["outputs"]
    assert "identifier_hidden_units" in res.meta["controller_settings"]        # the neural kind's own settings


def test_an_estimated_noise_designs_the_gain_the_stated_noise_would():
    env = QuadTankEnv(output_noise_std=NOISE)
    d = design_prefilter(env, [0, 1], measurement_noise=0.05)          # a wrong level, replaced by the estimate
    ctrl = KalmanPrefilter(_hold(env.unwrapped.operating_point[1]), d, noise_window=50)
    obs, _ = env.reset(seed=2)
    ctrl.reset(obs, env.unwrapped.setpoint)
    for k in range(80):
        # the reset's measurement and 48 steps' are the window; the 49th step's completes it
        assert np.all(np.isnan(ctrl.estimated_noise)) == (k < 49)
        obs, *_ = env.step(ctrl.step(obs, env.unwrapped.setpoint))
    est = ctrl.estimated_noise
    np.testing.assert_allclose(est, NOISE, rtol=0.35)                    # 50 samples of a 0.1 V noise
    told = design_prefilter(env, [0, 1], measurement_noise=0.01)
    np.testing.assert_allclose(d.with_noise(np.full(2, NOISE)).M, told.M, rtol=1e-12)
    assert "estimated from the first 50 measurements" in ctrl.derived_settings()["prefilter"]


def test_without_noise_the_estimating_filter_passes_the_measurements_nearly_as_they_are():
    env = QuadTankEnv()
    ctrl = KalmanPrefilter(_hold(env.unwrapped.operating_point[1]), design_prefilter(env, [0, 1]), noise_window=20)
    true, filt = _open_loop(env, ctrl, 300, 0, {"k1": 1.3 * env.unwrapped.params["k1"]})
    np.testing.assert_array_equal(ctrl.estimated_noise, KalmanPrefilter.NOISE_FLOOR * 10.0)   # at the floor
    # within 0.1 % of the 10 V range, a tenth of the 1 % noise the filter is for (measured: 0.002 V at most)
    assert np.max(np.abs(filt - true)[20:]) < 0.001 * 10.0, np.max(np.abs(filt - true)[20:])


@pytest.mark.parametrize("stop", [10, 40])     # within the window, after it
def test_the_estimating_filter_state_round_trip_continues_bit_identically(stop):
    env = QuadTankEnv(output_noise_std=NOISE)
    d = design_prefilter(env, [0, 1])
    a, b = (KalmanPrefilter(_hold([3.0, 3.1]), d, noise_window=25) for _ in range(2))
    obs, _ = env.reset(seed=5)
    sp = env.unwrapped.setpoint
    for c in (a, b):
        c.reset(obs, sp)
    for _ in range(stop):
        obs, *_ = env.step(a.step(obs, sp))
    b.set_state(a.get_state())
    for _ in range(30):
        a.step(obs, sp)
        b.step(obs, sp)
        assert np.array_equal(a.filtered(), b.filtered())
        obs, *_ = env.step(np.array([3.0, 3.1]))
