"""Tests of the neural predictive controller (controllers/neural.py) against plain references."""

from __future__ import annotations

import dataclasses
import math
import statistics

import gymnasium as gym
import numpy as np
import pytest
from restore_check import run_and_restore

import plants  # noqa: F401  (registers the env)
from neurocontrol.controllers.measurement_filter import MeasurementFilter, second_difference_noise_std
from neurocontrol.controllers.neural import (
    GaussNewtonLaw,
    NeuralController,
    NeuralControllerConfig,
    build_neural,
    gauss_newton_step,
)
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from neurocontrol.nets.ekf import IncrementalIdentifier
from neurocontrol.nets.incremental import (
    IncrementalConfig,
    blocked_input_jacobian,
    free_run,
    init_incremental_weights,
)
from neurocontrol.reference_model import SecondOrderReferenceModel
from neurocontrol.scenario.core import Scenario, run_scenario

HOVER = "scenarios/neural_hover.toml"
LOW = (74.25, 0.0, -3.0, 0.0175, -10.0)
HIGH = (180.0, 2.0, 3.0, 0.245, 10.0)


def _plain_gn(pred, J, plan, u_prev, desired, tracked, weights, eval_steps, rho, mu, wr, bound, active=None):
    """Stack every residual and its Jacobian row explicitly; solve the damped least squares with lstsq.

    ``active`` (len(eval_steps), n) of -1/0/1: the entries whose range excess is penalised, on which side
    (default: none).
    """
    m = u_prev.size
    nc = plan.size
    rows, res = [], []
    for s, t in enumerate(eval_steps):
        for q, i in enumerate(tracked):
            rows.append(np.sqrt(weights[q]) * J[t, i])
            res.append(np.sqrt(weights[q]) * (pred[t, i] - desired[t, q]))
        for i in range(pred.shape[1]):
            if active is not None and active[s, i] != 0:
                rows.append(np.sqrt(wr) * J[t, i])
                res.append(np.sqrt(wr) * (pred[t, i] - active[s, i] * bound))
    for b in range(nc // m):
        for c in range(m):
            row = np.zeros(nc)
            row[b * m + c] = 1.0
            prev = u_prev[c]
            if b > 0:
                row[(b - 1) * m + c] = -1.0
                prev = plan[(b - 1) * m + c]
            rows.append(np.sqrt(rho) * row)
            res.append(np.sqrt(rho) * (plan[b * m + c] - prev))
    for a in range(nc):
        row = np.zeros(nc)
        row[a] = np.sqrt(mu)
        rows.append(row)
        res.append(0.0)
    delta, *_ = np.linalg.lstsq(np.array(rows), -np.array(res), rcond=None)
    return plan + delta


def _gn_problem(seed, scale):
    rng = np.random.default_rng(seed)
    N, n, m, B = 12, 5, 2, 3
    pred = rng.normal(0, scale, (N, n))
    J = rng.normal(0, 0.3, (N, n, B * m))
    plan = rng.uniform(-0.5, 0.5, B * m)
    u_prev = rng.uniform(-0.5, 0.5, m)
    tracked = np.array([0, 1, 2])
    weights = np.array([1.0, 3.0, 0.2])
    desired = rng.normal(0, 0.5, (N, 3))
    eval_steps = np.array([1, 3, 5, 7, 9, 11])
    return pred, J, plan, u_prev, desired, tracked, weights, eval_steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gauss_newton_step_matches_plain_least_squares(seed):
    args = _gn_problem(seed, 0.7)
    pred, J, plan, u_prev, desired, tracked, weights, eval_steps = args
    got = gauss_newton_step(pred, J, plan, u_prev, desired, tracked=tracked, weights=weights, eval_steps=eval_steps,
                            move_penalty=0.7, damping=1e-3, range_weight=0.0, bound=1.0)
    want = _plain_gn(*args, 0.7, 1e-3, 0.0, 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def _range_cost(delta, pred, J, plan, u_prev, desired, tracked, weights, eval_steps, rho, mu, wr, bound):
    """The step's whole cost as a function of the move delta, written out term by term (the range excess a hinge)."""
    v = plan + delta
    y = pred + np.einsum("tia,a->ti", J, delta)
    cost = 0.0
    for t in eval_steps:
        cost += float(np.sum(weights * (y[t, tracked] - desired[t]) ** 2))
        cost += wr * float(np.sum(np.maximum(np.abs(y[t]) - bound, 0.0) ** 2))
    m = u_prev.size
    blocks = v.reshape(-1, m)
    prev = np.vstack([u_prev, blocks[:-1]])
    return cost + rho * float(np.sum((blocks - prev) ** 2)) + mu * float(delta @ delta)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_gauss_newton_step_minimises_its_cost_with_the_range_hinge(seed):
    """With the range penalty on, the step is the minimiser of the linearised cost, hinge included.

    The reference is a general-purpose minimiser (scipy's BFGS from zero) of the cost written out with the hinge,
    and an exact least-squares solve on the active set that minimiser ends with.
    """
    from scipy.optimize import minimize

    args = _gn_problem(seed, 1.2)     # many entries beyond the bound 1
    pred, J, plan, u_prev, desired, tracked, weights, eval_steps = args
    assert np.any(np.abs(pred[eval_steps]) > 1.0)
    got = gauss_newton_step(pred, J, plan, u_prev, desired, tracked=tracked, weights=weights, eval_steps=eval_steps,
                            move_penalty=0.7, damping=1e-3, range_weight=50.0, bound=1.0)
    best = minimize(_range_cost, np.zeros(plan.size), args=(*args, 0.7, 1e-3, 50.0, 1.0), method="BFGS",
                    options={"gtol": 1e-10, "maxiter": 10000})
    np.testing.assert_allclose(got, plan + best.x, rtol=0, atol=1e-5)
    y = pred + np.einsum("tia,a->ti", J, best.x)
    active = np.where(y[eval_steps] > 1.0, 1, np.where(y[eval_steps] < -1.0, -1, 0))
    assert active.any()
    want = _plain_gn(*args, 0.7, 1e-3, 50.0, 1.0, active=active)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_gauss_newton_step_range_hinge_is_decided_by_the_step_not_the_held_plan():
    """A held plan whose prediction leaves the range, a step that brings it back: no range term in the step.

    Linearising the hinge at the held plan would pull those entries to the bound; the step's own prediction
    is inside, so the step is the one without the range penalty.
    """
    N, n = 6, 1
    J = np.tile(np.array([[[1.0]]]), (N, 1, 1))          # every prediction moves one-for-one with the one input
    pred = np.full((N, n), 1.5)                          # the held plan predicts 1.5, beyond the bound 1
    desired = np.zeros((N, 1))                           # the tracking alone wants 0
    kw = dict(tracked=np.array([0]), weights=np.array([1.0]), eval_steps=np.arange(N), move_penalty=0.0,
              damping=1e-6)
    without = gauss_newton_step(pred, J, np.zeros(1), np.zeros(1), desired, range_weight=0.0, bound=1.0, **kw)
    got = gauss_newton_step(pred, J, np.zeros(1), np.zeros(1), desired, range_weight=100.0, bound=1.0, **kw)
    np.testing.assert_allclose(without, [-1.5], atol=1e-5)
    np.testing.assert_allclose(got, without, rtol=0, atol=1e-12)
    # the hinge linearised at the held plan (1.5 - bound on every row, weight 100) lands elsewhere
    held = _plain_gn(pred, J, np.zeros(1), np.zeros(1), desired, kw["tracked"], kw["weights"], kw["eval_steps"],
                     0.0, 1e-6, 100.0, 1.0, active=np.ones((N, n), dtype=int))
    assert abs(held[0] - (-1.5)) > 0.4


def test_gauss_newton_step_rejects_bad_shapes():
    with pytest.raises(ShapeError, match="whole blocks of 2 inputs"):
        gauss_newton_step(np.zeros((4, 3)), np.zeros((4, 3, 3)), np.zeros(3), np.zeros(2), np.zeros((4, 1)),
                          tracked=[0], weights=[1.0], eval_steps=[3], move_penalty=1.0, damping=1e-4,
                          range_weight=0.0, bound=1.0)
    with pytest.raises(ShapeError, match="must index the 3 predicted entries"):
        gauss_newton_step(np.zeros((4, 3)), np.zeros((4, 3, 2)), np.zeros(2), np.zeros(2), np.zeros((4, 1)),
                          tracked=[5], weights=[1.0], eval_steps=[3], move_penalty=1.0, damping=1e-4,
                          range_weight=0.0, bound=1.0)


@pytest.mark.parametrize("hidden", [0, 4, 8])
def test_blocked_jacobian_matches_finite_differences_of_the_free_run(hidden):
    cfg = IncrementalConfig(n_outputs=3, n_inputs=2, n_hidden=hidden)
    rng = np.random.default_rng(hidden)
    theta = init_incremental_weights(cfg, rng) + rng.normal(0, 0.2, cfg.n_weights)
    law = GaussNewtonLaw(horizon=20, blocks=(0, 3, 8, 14), stride=2)
    blk = law.block_of()
    v = rng.uniform(-0.6, 0.6, (4, 2))
    y0, h0 = rng.uniform(-0.5, 0.5, 3), rng.uniform(-0.5, 0.5, hidden)
    out, J = blocked_input_jacobian(cfg, theta, y0, v[blk], blk, h0)
    ref_out, _ = free_run(cfg, theta, y0, v[blk], h0)
    np.testing.assert_array_equal(out, ref_out)
    eps = 1e-6
    for c in range(8):
        vp, vm = v.copy(), v.copy()
        vp.flat[c] += eps
        vm.flat[c] -= eps
        fd = (free_run(cfg, theta, y0, vp[blk], h0)[0] - free_run(cfg, theta, y0, vm[blk], h0)[0]) / (2 * eps)
        np.testing.assert_allclose(J[:, :, c], fd, rtol=1e-6, atol=1e-8)


def test_blocked_jacobian_rejects_bad_blocks():
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2)
    theta = init_incremental_weights(cfg, 0)
    with pytest.raises(ShapeError, match="starting at 0 and rising by 0 or 1"):
        blocked_input_jacobian(cfg, theta, [0.0], np.zeros((3, 1)), [0, 2, 2])


def _hover_env():
    return gym.make("neurocontrol/Helicopter-v0", max_episode_steps=100_000)


def _controller(**kw):
    cfg = NeuralControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2),
                                 excitation_amplitude=(40.0, 100.0), **kw)
    return build_neural(cfg, _hover_env())


@pytest.mark.parametrize("lead", [(0.0, 0.0), None, (0.3, 0.0)])
def test_desired_trajectory_is_the_reference_models_response_to_the_preview(lead):
    # The reference model's input at horizon step i is the reference at (k + i + lead_j) dt for output j;
    # the default lead is each model's low-frequency delay 2 zeta / omega (0.5 s and 1/3 s here).
    ctrl = _controller(reference_bandwidth=(4.0, 6.0), rate_weights=(0.0, 0.5), imitator="exact", preview_lead=lead)
    env = _hover_env()
    obs, _ = env.reset(seed=0)

    def reference(t):
        t = np.atleast_1d(t)
        return np.column_stack([140.0 + 0.0 * t, 1.0 + 0.2 * np.sin(2.0 * t)])

    ctrl.set_preview(reference)
    ctrl.reset(obs, reference(0.0)[0], seed=0)
    ctrl._k = 37                                   # any time of the run
    got = ctrl._desired(reference(0.37)[0])
    model = SecondOrderReferenceModel(bandwidth_rad_s=(4.0, 6.0), damping=1.0, dt=ctrl.dt)
    model.reset(obs[[0, 1]], [0.0, obs[2]])
    steps = np.round(np.array([0.5, 1.0 / 3.0] if lead is None else lead) / ctrl.dt).astype(int)
    want = []
    for i in range(ctrl.law.horizon):
        value, rate = model.step([reference(0.37 + (i + steps[j]) * ctrl.dt)[0][j] for j in range(2)])
        want.append([(value[0] - 127.125) / 52.875, (value[1] - 1.0) / 1.0, rate[1] / 3.0])
    np.testing.assert_allclose(got, np.array(want), rtol=0, atol=1e-10)


def test_with_the_default_lead_a_previewed_sine_is_followed_without_the_reference_models_lag():
    # Claim: on the 0.3 Hz altitude sine (amplitude 0.2 m) the reference model (critically damped,
    # 5 rad/s) lags by 2 atan(1.885 / 5) = 41 deg, so tracking its response leaves an RMS error of
    # sqrt(2) 0.2 sin(20.7 deg) = 0.100 m; led by its low-frequency delay (0.4 s) only the gain droop
    # 1 / (1 + (1.885 / 5)^2) = 0.876 remains, 0.2 (1 - 0.876) / sqrt(2) = 0.018 m. Measured after 20 s.
    sc = Scenario.from_toml("scenarios/neural_sine_fast.toml")
    rms = {}
    for lead in (None, "[0.0, 0.0]"):
        res = run_scenario(sc if lead is None else sc.set("controller.preview_lead", lead), seed=0)
        late = np.asarray(res.time) >= 20.0
        err = np.asarray(res.outputs)[late, 1] - np.asarray(res.references)[late, 1]
        rms[lead] = float(np.sqrt(np.mean(err ** 2)))
    assert rms[None] < 0.025 and rms["[0.0, 0.0]"] > 0.08, rms


def test_hover_succeeds_and_the_recurrent_identifier_is_what_learns():
    # Claim: from random starts (seeds 0 and 1), the neural controller meets the hover task's bands
    # (rotor speed +-1.4 rad/s, altitude +-2 cm over the last 5 s) while its identifier learns at every
    # step, its hidden units' output weights moving away from their zero start.
    sc = Scenario.from_toml(HOVER)
    for seed in (0, 1):
        res = run_scenario(sc, seed=seed)
        assert res.status == "completed"
        assert res.metrics["success"], res.metrics["outputs"]
    # the learning itself, on one run driven here
    setup = sc.build(1)
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=1, options=setup.options)
    ctrl.reset(obs, np.array([140.0, 1.0]), seed=1)
    for _ in range(400):
        obs, *_ = env.step(ctrl.step(obs, np.array([140.0, 1.0])))
    counts = ctrl.identifier.counts
    assert counts["updated"] >= 390
    C = np.array(ctrl.identifier.weights[:5 * ctrl._id_cfg.block_size]).reshape(5, -1)
    V = C[:, ctrl._id_cfg.n_z:]
    assert np.max(np.abs(V)) > 1e-3


def test_nan_measurement_holds_the_input_and_skips_learning():
    ctrl = _controller()
    env = _hover_env()
    obs, _ = env.reset(seed=3)
    ref = np.array([140.0, 1.0])
    ctrl.reset(obs, ref, seed=3)
    us = []
    for k in range(300):
        meas = obs.copy()
        if k in (150, 151, 220):
            meas[1] = np.nan
        u = ctrl.step(meas, ref)
        assert np.all(np.isfinite(u))
        us.append(u)
        obs, *_ = env.step(u)
    for k in (150, 151, 220):
        np.testing.assert_array_equal(us[k], us[k - 1])
    assert ctrl.identifier.counts["non_finite"] == 0       # the controller never fed the NaN to the learner
    c = ctrl.identifier.counts                              # 299 transitions; none taken in at the NaN steps
    assert c["updated"] + c["dead_zone"] + c["outlier"] == 299 - 5   # 150, 151, 220 and the steps after them


def test_nan_at_the_first_step_is_an_error():
    ctrl = _controller()
    obs, _ = _hover_env().reset(seed=0)
    ctrl.reset(obs, [140.0, 1.0], seed=0)
    bad = obs.copy()
    bad[0] = np.nan
    with pytest.raises(NonFiniteError, match="finite at the first step"):
        ctrl.step(bad, [140.0, 1.0])


def test_learning_freezes_at_learning_until_while_the_hidden_state_moves():
    ctrl = _controller(learning_until=1.5)
    env = _hover_env()
    obs, _ = env.reset(seed=2)
    ref = np.array([140.0, 1.0])
    ctrl.reset(obs, ref, seed=2)
    for _ in range(150):
        obs, *_ = env.step(ctrl.step(obs, ref))
    w0, h0 = np.array(ctrl.identifier.weights), ctrl.identifier.hidden
    for _ in range(50):
        obs, *_ = env.step(ctrl.step(obs, ref))
    np.testing.assert_array_equal(ctrl.identifier.weights, w0)
    assert not np.array_equal(ctrl.identifier.hidden, h0)
    assert ctrl.identifier.counts["frozen"] == 50


def test_identifier_update_without_learning_matches_the_network_step():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)
    a, b = IncrementalIdentifier(cfg, rng=0), IncrementalIdentifier(cfg, rng=0)
    assert a.update([0.1, 0.2], [0.3], [0.12, 0.19], learn=False) == "frozen"
    b.update([0.1, 0.2], [0.3], [0.12, 0.19])
    np.testing.assert_allclose(a.hidden, b.hidden, rtol=0, atol=0)   # same hidden step, no weight change
    np.testing.assert_array_equal(a.weights, init_incremental_weights(cfg, 0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(blocks=(1, 5)), "must start at 0"),
    (dict(observation_low=(0.0,)), "give both `observation_low` and `observation_high`"),
    (dict(reference_bandwidth=(4.0,), reference_damping=(1.0,)), "one entry per controlled output"),
    (dict(excitation_min_hold=(5, 0)), "1 <= min <= max"),
    (dict(excitation_amplitude=(-1.0, 1.0)), "must be non-negative"),
    (dict(preview_lead=(0.1, -0.1)), "`preview_lead` must be non-negative"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NeuralControllerConfig(**kwargs)


def test_controller_errors():
    cfg = NeuralControllerConfig(observation_low=LOW, observation_high=HIGH, rate_weights=(0.0, 1.0))
    with pytest.raises(ParameterError, match="needs the output's rate"):
        NeuralController(cfg, input_limits=[[0, 400], [-600, 600]], dt=0.01)
    with pytest.raises(ParameterError, match="must be given to NeuralController"):
        NeuralController(NeuralControllerConfig(), input_limits=[[0, 400], [-600, 600]], dt=0.01)
    ctrl = _controller()
    with pytest.raises(ParameterError, match="must be callable"):
        ctrl.set_preview(3.0)
    with pytest.raises(ParameterError, match="before step"):
        ctrl._step_impl(np.zeros(5), np.zeros(2))
    with pytest.raises(ParameterError, match="rate_limit` must be positive"):
        build_neural(dataclasses.replace(ctrl.config, rate_limit=(0.0, 1.0)), _hover_env())


CSTR = "scenarios/cstr_setpoint.toml"


def _cstr_neural(**table):
    """The CSTR's shipped scenario flown by the neural controller (defaults, or ``table``), 20 s."""
    data = Scenario.from_toml(CSTR).to_dict()
    data["controller"] = {"kind": "neural", **table}
    data["run"]["duration"] = 20.0
    return Scenario.from_dict(data, source="cstr:neural", default_name="cstr_setpoint")


@pytest.mark.parametrize("min_steps", [1, 5])
def test_warmup_shorter_than_half_the_control_period_lasts_warmup_min_steps(min_steps):
    # Regression: the default 1 s warm-up at the CSTR's 2 s period rounded to zero steps and the hand-over
    # read an input that was never set (TypeError). A positive warm-up lasts at least warmup_min_steps (default 5).
    sc = _cstr_neural(warmup_min_steps=min_steps)
    res = run_scenario(sc, seed=0)
    assert res.status == "completed"
    assert np.all(np.isfinite(res.inputs))
    setup = sc.build(0)
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=0, options=setup.options)
    ref = np.array([1.0, 110.0])
    ctrl.reset(obs, ref, seed=0)
    # around the input the CSTR starts at (its declared operating point: a bumpless start), 20 % of the half ranges
    start, amp = np.array(env.unwrapped.operating_point[1]), 0.2 * np.array([15.0, 4250.0])   # [5, 35], [-8500, 0]
    for _ in range(min_steps):
        u = ctrl.step(obs, ref)
        assert ctrl.diagnostics()["mode"] == "warmup"
        assert np.all(np.abs(u - start) <= amp + 1e-9) and np.any(u != start)
        obs, *_ = env.step(u)
    assert np.all(np.isfinite(ctrl.step(obs, ref)))
    assert ctrl.diagnostics()["mode"] == "predictive"
    with pytest.raises(ParameterError, match="warmup_min_steps"):
        NeuralControllerConfig(warmup_min_steps=0)


@pytest.mark.parametrize("nominal", [(10.0, -7000.0), (30.0, -1000.0)])
def test_zero_warmup_starts_the_predictive_law_from_the_nominal_input(nominal):
    # Claim: with no warm-up the first step is already predictive, and its input stays within one rate
    # limit of `nominal_input` (the two nominal inputs are further apart than two rate limits).
    rate = np.array([1.0, 200.0])
    setup = _cstr_neural(warmup_duration=0.0, nominal_input=list(nominal), rate_limit=rate.tolist()).build(0)
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=0, options=setup.options)
    ref = np.array([1.0, 110.0])
    ctrl.reset(obs, ref, seed=0)
    u0 = ctrl.step(obs, ref)
    assert ctrl.diagnostics()["mode"] == "predictive"
    assert np.all(np.isfinite(u0))
    assert np.all(np.abs(u0 - np.array(nominal)) <= rate + 1e-9), (u0, nominal)


# ---------------------------------------------------------------- sensor noise: estimate, blend, closed loop


@pytest.mark.parametrize("seed", [0, 1])
def test_noise_estimate_recovers_the_true_std_of_a_synthetic_signal(seed):
    # Claim: on a smooth signal (slow sines, a ramp, a few steps) plus white Gaussian noise, the
    # second-difference estimate is within 8 % of the true std (2000 samples).
    rng = np.random.default_rng(seed)
    t = np.arange(2000) * 0.01
    smooth = np.column_stack([np.sin(2 * np.pi * 0.3 * t), 0.2 * t + 0.1 * np.cos(2 * np.pi * 1.1 * t),
                              np.where(t > 7.0, 0.5, 0.0) + np.where(t > 13.0, -0.8, 0.0)])
    sigma = np.array([0.01, 0.003, 0.05])
    est = second_difference_noise_std(smooth + sigma * rng.standard_normal(smooth.shape))
    np.testing.assert_allclose(est, sigma, rtol=0.08)
    # without noise it is the signal's own curvature: for sin(w t), |d2| = 4 sin(w dt / 2)^2 |sin(w t)|, whose
    # median over whole periods is 4 sin(w dt / 2)^2 sin(pi / 4)
    w = 2 * np.pi * 0.3
    want = 1.482602218505602 * 4 * np.sin(w * 0.01 / 2) ** 2 * np.sin(np.pi / 4) / math.sqrt(6)
    np.testing.assert_allclose(second_difference_noise_std(smooth)[0], want, rtol=0.01)
    with pytest.raises(ShapeError, match="at least 3"):
        second_difference_noise_std(smooth[:2])


def _plain_filter(ys, ps, window, active):
    """The documented blend step by step with Python lists and statistics.median (K = 1 where not active)."""
    n = len(ys[0])
    raw, d2, S, out, gains = [], [[] for _ in range(n)], [None] * n, [], []
    var = [0.0] * n
    for y, p, act in zip(ys, ps, active):
        raw = (raw + [list(y)])[-3:]
        if len(raw) == 3:
            for i in range(n):
                d2[i] = (d2[i] + [abs(raw[2][i] - 2 * raw[1][i] + raw[0][i])])[-window:]
            if len(d2[0]) == window:
                var = [(1.482602218505602 * statistics.median(d2[i])) ** 2 / 6 for i in range(n)]
        if p is None:
            continue
        x, g = [], []
        for i in range(n):
            nu = y[i] - p[i]
            S[i] = nu * nu if S[i] is None else (1 - 1 / window) * S[i] + nu * nu / window
            k = min(1.0, max(0.0, 1.0 - var[i] / S[i])) if act else 1.0
            x.append(p[i] + k * nu)
            g.append(k)
        out.append(x)
        gains.append(g)
    return np.array(out), np.array(gains)


def test_measurement_filter_matches_a_plain_reference():
    rng = np.random.default_rng(4)
    T, n, W = 300, 3, 20
    truth = np.sin(2 * np.pi * np.outer(np.arange(T) * 0.01, [0.2, 0.5, 0.3]))    # smooth at the sampling rate
    ys = truth + np.array([0.02, 0.001, 0.0]) * rng.standard_normal((T, n))    # noisy, nearly clean, clean
    ps = truth + rng.normal(0, 0.005, (T, n))                                  # a prediction with its own error
    active = np.arange(T) >= 50
    f = MeasurementFilter(n, window=W)
    got, gains = [], []
    for y, p, a in zip(ys, ps, active):
        f.measure(y)
        got.append(f.blend(y, p, active=bool(a)))
        gains.append(f.gain.copy())
    want, want_gains = _plain_filter(ys.tolist(), ps.tolist(), W, active)
    np.testing.assert_allclose(np.array(got), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.array(gains), want_gains, rtol=0, atol=1e-12)
    g = np.array(gains)[100:]
    assert g[:, 0].mean() < 0.3 and np.all(g[:, 2] > 0.99)      # noise-dominated: follow p; clean: follow y


def test_measurement_filter_restarts_its_differences_after_a_lost_sample_and_checks_input():
    f = MeasurementFilter(1, window=3)
    for y in (0.0, 1.0, 0.0, 1.0):
        f.measure([y])
    assert f.noise_std[0] == 0.0                      # two second differences: the window is not full yet
    f.measure([np.nan])
    for y in (0.0, 3.0):
        f.measure([y])
    assert f.noise_std[0] == 0.0                      # no difference spans the lost sample
    f.measure([0.0])
    np.testing.assert_allclose(f.noise_std, 1.482602218505602 * 2.0 / math.sqrt(6.0))   # median of |d2| 2, 2, 6
    with pytest.raises(ShapeError):
        f.blend([0.0, 1.0], [0.0])
    with pytest.raises(ParameterError):
        MeasurementFilter(2, window=2)


NOISY = dict(sensor_noise_std=[0.4, 0.004, 0.02, 0.0004, 0.01])   # scenarios/neural_noise_doubled.toml


def test_the_identifier_and_the_synthesiser_start_from_the_blend():
    # Claim: each step the controller's state is the documented blend of the measurement (normalised)
    # and the identifier's one-step prediction of it, K = 1 during the warm-up (plain reference above).
    ctrl = _controller()
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=100_000, **NOISY)
    obs, _ = env.reset(seed=5)
    ref = np.array([140.0, 1.0])
    ctrl.reset(obs, ref, seed=5)
    mid, half = ctrl._id_cfg.output_mid, ctrl._id_cfg.output_half
    ys, ps, states = [], [], []
    y0 = (obs - mid) / half
    for k in range(250):
        u = ctrl.step(obs, ref)
        if k >= 1:
            ys.append((obs - mid) / half)
            ps.append((ctrl.identifier.last_prediction - mid) / half)
            states.append((ctrl.state - mid) / half)
        obs, *_ = env.step(u)
    # the reference sees every measurement (step 0 too, without a prediction to blend with)
    nw = ctrl.derived_settings()["warmup_steps"]          # 150: the automatic warm-up's least length
    want, gains = _plain_filter([y0] + ys, [None] + ps, 100, [False] + [k >= nw for k in range(1, 250)])
    np.testing.assert_allclose(np.array(states), want, rtol=0, atol=1e-12)
    assert np.all(gains[:99] == 1.0) and np.all(gains[-50:, :3] < 1.0)   # the blend acts after the warm-up


def _true_final_rms(seed, state_filter):
    """neural_noise_doubled.toml, seed: status and RMS of the *true* (noise-free) output errors over the last 5 s."""
    setup = Scenario.from_toml("scenarios/neural_noise_doubled.toml").build(seed)
    env, ctrl = setup.env, setup.controller
    ctrl.state_filter = state_filter
    obs, info = env.reset(seed=setup.seed, options=setup.options)
    ref = np.array([140.0, 1.0])
    ctrl.reset(obs, ref, seed=setup.seed)
    true = []
    for _ in range(3000):
        obs, _, terminated, _, info = env.step(ctrl.step(obs, ref))
        true.append(np.asarray(info["state"])[[0, 1]])
        if terminated:                       # the plant left its envelope
            return False, None
    err = np.array(true[-500:]) - ref
    return True, np.sqrt(np.mean(err ** 2, axis=0))


def test_with_doubled_sensor_noise_the_blend_keeps_the_true_outputs_near_the_set_point():
    # Claim (docs/neural_controller.md): with the sensor noise of neural_noise_doubled.toml, seeds 0-2, every
    # run completes and the true altitude's RMS error over the last 5 s is under half the 2 cm band and the
    # true rotor speed's under 0.5 rad/s (seeds 0-19: at most 3.8 mm and 0.12 rad/s). Without the blend the
    # same check fails on 7 of seeds 0-19, 2 of them lost (section "The range penalty's active set"; which seeds
    # fail moves with any change to the loop, so the test counts them over the 20 and asks for at least 4).
    after = [_true_final_rms(seed, True) for seed in (0, 1, 2)]
    assert all(ok and rms[1] < 0.01 and rms[0] < 0.5 for ok, rms in after), after
    before = [_true_final_rms(seed, False) for seed in range(20)]
    assert sum(not (ok and rms[1] < 0.01 and rms[0] < 0.5) for ok, rms in before) >= 4, before


@pytest.mark.parametrize("window", [6, 7])
def test_measurement_filter_noise_estimate_is_the_median_over_its_window_exactly(window):
    # the filter keeps its second differences sorted as they arrive; the variance must be, bit for bit, the
    # plain formula over numpy's median of the last `window` of them (ties included: values on a coarse grid)
    rng = np.random.default_rng(7)
    ys = np.round(rng.normal(0.0, 1.0, (60, 2)) * 4) / 4 + rng.normal(0.0, 1e-3, (60, 2)) * (rng.random((60, 1)) < 0.5)
    d2 = np.abs(ys[2:] - 2.0 * ys[1:-1] + ys[:-2])
    f = MeasurementFilter(2, window=window)
    for t, y in enumerate(ys):
        f.measure(y)
        if t >= window + 1:                          # t - 1 second differences in, the last `window` of them:
            want = (1.482602218505602 * np.median(d2[t - 1 - window:t - 1], axis=0)) ** 2 / 6.0
            assert np.array_equal(f.noise_var, want), t
        else:
            assert np.all(f.noise_var == 0.0)


def test_jacobian_every_reuses_the_jacobian_between_refreshes_only():
    # jacobian_every = 3: the first predictive step is the exact one (same input as the default), the next one
    # reuses that Jacobian (a different input), and the approximate controller still holds the hover band
    sc = Scenario.from_toml(HOVER)
    runs = {}
    for every in (1, 3):
        data = sc.to_dict()
        data["controller"] = dict(data["controller"], jacobian_every=every)
        res = run_scenario(Scenario.from_dict(data, source="test", default_name="neural_hover"), seed=0)
        runs[every] = res
    k0 = int(round(1.0 / 0.01))                         # the first predictive step (1 s warm-up)
    exact, approx = np.asarray(runs[1].inputs), np.asarray(runs[3].inputs)
    assert np.array_equal(exact[:k0 + 1], approx[:k0 + 1])
    assert not np.array_equal(exact[k0 + 1], approx[k0 + 1])
    assert runs[3].metrics["success"]
    with pytest.raises(ParameterError, match="jacobian_every"):
        NeuralControllerConfig(jacobian_every=0)


def test_input_taps_feed_the_identifier_the_applied_input_history():
    ctrl = _controller(input_taps=3)
    env = _hover_env()
    obs, _ = env.reset(seed=2)
    ref = np.array([140.0, 1.0])
    ctrl.reset(obs, ref, seed=2)
    assert ctrl.identifier.config.n_inputs == 6
    applied = []
    for _ in range(120):
        u = ctrl.step(obs, ref)
        applied.append(u)
        obs, *_ = env.step(u)
    np.testing.assert_array_equal(ctrl._u_prev, np.concatenate(applied[-1:-4:-1]))
    assert ctrl.identifier.counts["updated"] >= 110


def test_with_three_input_taps_a_20_ms_measurement_delay_is_flown():
    # Claim (docs/neural_controller.md): with the measurement 2 control steps late the plant's
    # measured response to u(k) appears at k + 3; one input tap cannot represent it and the run
    # leaves the plant's range after the warm-up on 7 of seeds 0-9 (seed 0 among them; 1 reaches the bands),
    # three taps fly all 10 into the bands.
    sc = Scenario.from_toml("scenarios/fault_measurement_delay.toml")
    data = sc.to_dict()
    data["controller"] = Scenario.from_toml(HOVER).to_dict()["controller"]
    sc = Scenario.from_dict(data, source="delay:neural", default_name="fault_measurement_delay")
    one = run_scenario(sc, seed=0)
    assert one.status == "failed" and not one.metrics["success"]
    for seed in (0, 1):
        res = run_scenario(sc.set("controller.input_taps", "3"), seed=seed)
        assert res.status == "completed" and res.metrics["success"], (seed, res.status)


@pytest.mark.parametrize("at,kwargs", [(60, {}), (400, {}), (400, dict(jacobian_every=5, input_taps=2))])
def test_a_checkpoint_continues_the_run_bit_identically(tmp_path, at, kwargs):
    # Saved during the warm-up (step 60) or the predictive law (step 400), loaded into a fresh controller
    # with the same settings, the next 250 inputs equal the uninterrupted run's.
    from neurocontrol.checkpoint import load_checkpoint, save_checkpoint

    ref = np.array([140.0, 1.0])
    env = _hover_env()
    obs, _ = env.reset(seed=5)
    first = _controller(**kwargs)
    first.reset(obs, ref, seed=5)
    for _ in range(at):
        obs, *_ = env.step(first.step(obs, ref))
    path = save_checkpoint(tmp_path / "neural.npz", first)
    state = env.unwrapped.state.copy()
    straight = []
    for _ in range(250):
        u = first.step(obs, ref)
        straight.append(u)
        obs, *_ = env.step(u)
    second = _controller(**kwargs)
    env2 = _hover_env()
    obs2, _ = env2.reset(seed=99)
    second.reset(obs2, ref, seed=99)                  # another seed: everything must come from the file
    load_checkpoint(path, second)
    obs2, _ = env2.reset(options={"initial_state": state})
    resumed = []
    for _ in range(250):
        u = second.step(obs2, ref)
        resumed.append(u)
        obs2, *_ = env2.step(u)
    np.testing.assert_array_equal(np.array(resumed), np.array(straight))
    assert second.identifier.counts == first.identifier.counts


@pytest.mark.parametrize("name,unstable", [("pvtol_steps", True), ("helicopter_hover", True),
                                           ("quadtank_pminus", False), ("cstr_setpoint", False)])
def test_automatic_warmup_is_lqr_i_exactly_for_plants_not_asymptotically_stable(name, unstable):
    # PVTOL: four poles at 0 (position and angle chains); helicopter: altitude integrates the climb rate;
    # the tanks and the CSTR are stable at their trims (every eigenvalue's real part below -0.003).
    from neurocontrol.controllers.generic import LQRIController, automatic_warmup

    setup = Scenario.from_toml(f"scenarios/{name}.toml").build(0)
    warm = automatic_warmup(setup.env, setup.controller.output_indices)
    assert isinstance(warm, LQRIController) if unstable else warm is None


def _pvtol_neural():
    """The planar VTOL's shipped task flown by the neural controller with default settings."""
    return Scenario.from_toml("scenarios/pvtol_steps.toml").set("controller", '{kind = "neural"}')


def test_rate_indices_come_from_the_envs_declared_rates_unless_given():
    # The PVTOL measuring its full state declares xdot, ydot as the rates of x, y; build_neural takes them for the
    # controlled outputs (and says so); measuring only x, y, theta it declares none; given indices win.
    ctrl = _pvtol_neural().build(0).controller
    assert ctrl._rate_idx == (3, 4) and ctrl._walk_rows.tolist() == [3, 4]
    assert "observation_rates" in ctrl.derived_settings()["rate_indices"]
    pose = Scenario.from_toml("scenarios/pvtol_pose_neural.toml").build(0)
    assert pose.env.unwrapped.observation_rates == (-1, -1, -1)
    assert pose.controller._rate_idx == (-1, -1) and "rate_indices" not in pose.controller.derived_settings()
    given = _pvtol_neural().set("controller.rate_indices", "[-1, 4]").build(0).controller
    assert given._rate_idx == (-1, 4) and "rate_indices" not in given.derived_settings()
    from plants.pvtol.env import PVTOLEnv
    assert PVTOLEnv(measured=("x", "y", "ydot", "theta")).observation_rates == (-1, 2, -1, -1)


def _tank_neural(**keys):
    """The quadruple tank's P- task flown by the neural controller (default settings unless ``keys``)."""
    table = ", ".join(["kind = \"neural\""] + [f"{k} = {v}" for k, v in keys.items()])
    return Scenario.from_toml("scenarios/quadtank_pminus.toml").set("controller", "{" + table + "}")


@pytest.mark.parametrize("point", [("x", "u"), (np.zeros(4), np.array([3.0])), (np.zeros(3), np.array([3.0, 3.0])),
                                   (np.zeros(4), np.array([np.nan, 3.0]))])
def test_a_malformed_operating_point_is_a_named_error_for_the_model_based_baselines(point):
    from neurocontrol.controllers.generic import trim_linearisation

    env = _tank_neural().build(0).env
    env.unwrapped.operating_point = point
    with pytest.raises(ParameterError, match="operating_point"):
        trim_linearisation(env, (0, 1))


def test_automatic_warmup_weight_reaches_the_lqr_i_and_raises_its_gain():
    # The setting is the lqr_i kind's output weight (Bryson's rule); a larger one, a larger stabilising gain.
    from neurocontrol.controllers.generic import LQRIConfig, automatic_warmup, build_lqr_i

    setup = _pvtol_neural().set("controller.auto_warmup_weight", "30.0").build(0)
    idx = setup.controller.output_indices
    own = build_lqr_i(LQRIConfig(output_indices=tuple(idx), output_weight=30.0), setup.env).design
    np.testing.assert_array_equal(setup.controller.warmup_controller.design.K, own.K)
    gains = []
    for w in (1.0, 1000.0):
        d = automatic_warmup(setup.env, idx, output_weight=w).design     # z[k+1] = z - dt Cc x, u = -K x - Ki z
        closed = np.block([[d.Ad - d.Bd @ d.K, -d.Bd @ d.Ki], [-d.dt * d.Cc, np.eye(len(idx))]])
        assert max(abs(np.linalg.eigvals(closed))) < 1.0
        gains.append(np.linalg.norm(d.K))
    assert gains[1] > 3.0 * gains[0]
    with pytest.raises(ParameterError, match="auto_warmup_weight"):
        NeuralControllerConfig(auto_warmup_weight=0.0)


def test_the_automatic_warmup_lasts_at_least_auto_warmup_steps():
    # PVTOL (dt 0.02 s): 1 s raised to 150 steps; 0 keeps the given duration; a given warm-up controller or a
    # longer duration is left alone.
    sc = _pvtol_neural()
    assert sc.build(0).controller.derived_settings()["warmup_steps"] == 150
    assert sc.set("controller.auto_warmup_steps", "0").build(0).controller.derived_settings()["warmup_steps"] == 50
    assert sc.set("controller.warmup_duration", "4.0").build(0).controller.derived_settings()["warmup_steps"] == 200
    assert Scenario.from_toml(HOVER).build(0).controller.derived_settings()["warmup_steps"] == 100   # PID given
    with pytest.raises(ParameterError, match="auto_warmup_steps"):
        NeuralControllerConfig(auto_warmup_steps=-1)


def test_automatic_warmup_needs_a_python_control_model():
    from neurocontrol.controllers.generic import automatic_warmup

    assert automatic_warmup(gym.make("CartPole-v1"), (0,)) is None


def test_with_the_automatic_warmup_the_default_neural_controller_flies_the_pvtol_on_most_seeds():
    # Figure of docs/neural_controller.md ("Warm-up"): the PVTOL is open-loop unstable; with default settings
    # the warm-up on the nominal input loses it on 7 of seeds 0-9 (the env stops the run; 3 reach the bands);
    # with the automatic LQR-I warm-up (output weight 1000, at least 150 steps) 10 of 10 reach the position
    # steps' bands. A change of either count is a change of the documented figure.
    from neurocontrol.controllers.generic import LQRIController

    sc = _pvtol_neural()
    assert isinstance(sc.build(0).controller.warmup_controller, LQRIController)
    auto = [run_scenario(sc, seed=seed) for seed in range(10)]
    off = [run_scenario(sc.set("controller.auto_warmup", "false"), seed=seed) for seed in range(10)]
    assert sum(r.metrics["success"] for r in auto) == 10
    assert all(r.status == "completed" for r in auto if r.metrics["success"])
    assert sum(r.metrics["success"] for r in off) == 3 and sum(r.status != "completed" for r in off) == 7


def test_derived_settings_name_the_warmup_and_reach_the_runs_record(capsys):
    from neurocontrol import cli

    auto = _pvtol_neural().build(0).meta
    assert auto["controller_settings"]["warmup"].startswith("LQR-I (output weight 1000) on the plant's python-control model (automatic")
    assert auto["controller_settings"]["preview_lead_steps"] == [25, 20]      # 2 zeta / omega: 0.5 s, 0.4 s
    given = Scenario.from_toml(HOVER).build(0).meta["controller_settings"]
    assert given["warmup"] == "PIDController (given)" and given["warmup_steps"] == 100
    res = run_scenario(Scenario.from_toml(HOVER).set("run.duration", "1.5"), seed=0)
    assert res.meta["controller_settings"] == given
    assert cli.main(["run", HOVER, "--set", "run.duration=1.5"]) == 0
    assert "controller warmup: PIDController (given)" in capsys.readouterr().out


def test_model_growth_limit_is_the_identifiers_per_step_radius_over_the_horizon():
    obs, ref = np.array([140.0, 1.0, 0.0, 0.12, 0.0]), np.array([140.0, 1.0])
    ctrl = _controller(model_growth_limit=2.0)
    ctrl.reset(obs, ref, seed=0)
    assert ctrl.identifier.growth_limit == pytest.approx(2.0 ** (1 / 50))
    off = _controller()                                  # the default: no check
    off.reset(obs, ref, seed=0)
    assert off.identifier.growth_limit is None
    with pytest.raises(ParameterError, match="model_growth_limit"):
        NeuralControllerConfig(model_growth_limit=0.5)


@pytest.mark.parametrize("std, scale", [(0.01, 5.0), (1e-5, 5.0), (0.01, 0.0), (0.01, 20.0)])
def test_the_identifiers_R_is_at_least_a_multiple_of_the_estimated_sensor_noise(std, scale):
    # R per signal = max(measurement_noise, noise_scaled_r * sigma^2), sigma from second differences of the last
    # 102 normalised measurements (the numpy estimate, not the controller's compiled one), once the estimate's
    # window holds no warm-up step.
    ctrl = _controller(noise_scaled_r=scale)
    lo, hi = np.array(LOW), np.array(HIGH)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    rng = np.random.default_rng(3)
    z = std * rng.standard_normal((300, 5))
    ctrl.reset(mid + half * z[0], np.array([140.0, 1.0]), seed=0)
    for k, row in enumerate(z[1:], start=1):
        ctrl.step(mid + half * row, np.array([140.0, 1.0]))
        if k == 199:             # the 100-step warm-up, then a noise window that still holds its excitation
            assert np.all(ctrl.identifier._R == 1e-5)
    sigma = second_difference_noise_std(z[-102:])
    want = np.maximum(1e-5, scale * sigma ** 2)
    np.testing.assert_allclose(ctrl.identifier._R, want, rtol=1e-9)
    if scale == 0.0 or std == 1e-5:
        assert np.all(ctrl.identifier._R == 1e-5)           # no scaling, or noise far below R


@pytest.mark.parametrize("std, on", [(1e-7, True), (0.01, False)])
def test_the_bias_walk_acts_on_the_declared_rates_of_noise_free_signals_only(std, on):
    # Row 2 (the climb rate, the declared rate of altitude) gets disturbance_walk * R floor per update once the noise
    # window holds no warm-up step, while its estimated noise variance (second differences, the numpy estimate)
    # is below 0.2 % of the R floor; every other row, and every row under noise, gets nothing.
    ctrl = _controller(disturbance_walk=3.0)
    lo, hi = np.array(LOW), np.array(HIGH)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    z = std * np.random.default_rng(4).standard_normal((300, 5))
    ctrl.reset(mid + half * z[0], np.array([140.0, 1.0]), seed=0)
    for k, row in enumerate(z[1:], start=1):
        ctrl.step(mid + half * row, np.array([140.0, 1.0]))
        if k == 199:             # the 100-step warm-up, then a noise window that still holds its excitation
            assert not ctrl.identifier.bias_walk.any()
    quiet = second_difference_noise_std(z[-102:]) ** 2 < 2e-3 * 1e-5
    assert quiet[2] == on
    want = np.zeros(5)
    want[2] = 3.0 * 1e-5 if on else 0.0
    np.testing.assert_array_equal(ctrl.identifier.bias_walk, want)
    off = _controller(disturbance_walk=0.0)
    off.reset(mid, np.array([140.0, 1.0]), seed=0)
    for row in z[1:]:
        off.step(mid + half * row, np.array([140.0, 1.0]))
    assert not off.identifier.bias_walk.any()
    with pytest.raises(ParameterError, match="disturbance_walk"):
        NeuralControllerConfig(disturbance_walk=-1.0)


def test_walk_signals_put_the_walk_on_the_given_entries_instead_of_the_rates():
    # walk_signals = (0, 2): the rotor speed's bias walks too (the same gating); () none; bad entries are named.
    ctrl = _controller(disturbance_walk=3.0, walk_signals=(0, 2))
    lo, hi = np.array(LOW), np.array(HIGH)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    z = 1e-7 * np.random.default_rng(4).standard_normal((300, 5))
    ctrl.reset(mid + half * z[0], np.array([140.0, 1.0]), seed=0)
    for row in z[1:]:
        ctrl.step(mid + half * row, np.array([140.0, 1.0]))
    np.testing.assert_array_equal(ctrl.identifier.bias_walk, [3.0 * 1e-5, 0.0, 3.0 * 1e-5, 0.0, 0.0])
    assert _controller(walk_signals=())._walk_rows.size == 0
    for bad in ((5,), (-1, 2), ((0, 2),)):
        with pytest.raises(ParameterError, match="walk_signals"):
            _controller(walk_signals=bad)


def test_a_walking_rotor_bias_takes_a_drag_change_the_input_weights_took_before():
    # Rotor drag +30 % at 15 s (the ablation's drag change, the hover's neural table), seed 0: with the rotor
    # speed's bias walking as well (walk_signals = [0, 2], the hover's table) the rotor-speed RMSE after the change
    # is less than half of that with the walk on the declared rate only (walk_signals unset; seeds 0-99, medians
    # before the tighter warm-up PID: 0.067 against 0.26 rad/s).
    table = Scenario.from_toml(HOVER).to_dict()["controller"]
    assert list(table["walk_signals"]) == [0, 2] and list(table["rate_indices"]) == [-1, 2]
    rmse = {}
    for rows in ((0, 2), None):
        data = Scenario.from_toml("scenarios/rotor_drag_change.toml").to_dict()
        data["controller"] = {**table, "walk_signals": rows} if rows else \
            {k: v for k, v in table.items() if k != "walk_signals"}
        res = run_scenario(Scenario.from_dict(data, source="drag", default_name="drag"), seed=0)
        assert res.status == "completed"
        t = np.asarray(res.time)
        e = (np.asarray(res.outputs) - np.asarray(res.references))[t >= 15.0, 0]
        rmse[rows] = float(np.sqrt(np.mean(e ** 2)))
    assert rmse[(0, 2)] < 0.5 * rmse[None], rmse


def test_with_the_bias_walk_the_neural_hover_rides_out_random_gusts_that_lost_it_without():
    # Random vertical gusts (0.1 per s, 2 m/s^2, 0.5 s each), noise-free, seed 5 of benchmarks/bench_gusts.py:
    # without the walk (and without the onset hold, which also skips the gust's first updates when it moves most
    # signals' errors at once) the model takes the gusts into its dynamics and the altitude swings 3.7 cm off
    # after 5 s (0.16 m before the range penalty's own active set; with the move penalty of 1 used before, the law
    # saturated and the altitude ran to the top of its range, 1 m off); with the walk the hover is kept within
    # 1 cm (seeds 0-19: median of the largest errors 0.6 cm with the walk, 1.8 cm without, every run kept).
    kept = {}
    for walk, hold in ((3.0, 12), (0.0, 0)):
        sc = (Scenario.from_toml(HOVER).set("run.duration", "30").set("plant.disturbances.gust_rate", "0.1")
              .set("plant.disturbances.gust_amplitude", "2.0").set("controller.disturbance_walk", str(walk))
              .set("controller.onset_hold", str(hold)))
        res = run_scenario(sc, seed=5)
        t = np.asarray(res.time)
        err = np.abs(np.asarray(res.outputs)[:, 1] - np.asarray(res.references)[:, 1])
        kept[walk] = (res.status, float(err[t > 5.0].max()))
    assert kept[3.0][0] == "completed" and kept[3.0][1] < 0.01, kept
    assert kept[0.0][0] != "completed" or kept[0.0][1] > 3.0 * kept[3.0][1], kept


def test_with_the_noise_scaled_R_a_noisy_hover_is_kept_without_the_growth_check():
    # The default keeps a 60 s hover at the sensor_noise levels (seed 10). With a fixed R that seed was lost at
    # 48.8 s until the imitator learned every transition; now a fixed R keeps it too, so this checks the default
    # only (docs/neural_controller.md, "Long runs under sensor noise": 28 of seeds 0-29 kept for 300 s, measured
    # before that change).
    sc = Scenario.from_toml(HOVER).set("run.duration", "60").set("plant.disturbances.sensor_noise_std",
                                                                  "[0.2, 0.002, 0.01, 0.0002, 0.005]")
    assert sc.controller.noise_scaled_r == 5.0 and sc.controller.model_growth_limit is None
    kept = run_scenario(sc, seed=10)
    assert kept.status == "completed", kept.meta.get("stop_reason")
    with pytest.raises(ParameterError, match="noise_scaled_r"):
        NeuralControllerConfig(noise_scaled_r=-1.0)


# ---------------------------------------------------------------- output lags (outputs-only plants)

TWIN = "scenarios/twin_rotor_steps.toml"


def _twin(lags, **keys):
    sc = Scenario.from_toml(TWIN).set("controller", '{kind = "neural"}').set("controller.output_lags", str(lags))
    for k, v in keys.items():
        sc = sc.set(f"controller.{k}", v)
    return sc


def _started_unblended(sc, ref, seed=0):
    """The scenario's env and neural controller after reset, the measurement blend off (state = signals)."""
    setup = sc.build(seed)
    env, ctrl = setup.env, setup.controller
    ctrl.state_filter = False
    obs, _ = env.reset(seed=seed, options=setup.options)
    ctrl.reset(obs, ref, seed=seed)
    return env, ctrl, obs


def test_output_lags_extend_the_networks_signals_with_the_past_outputs():
    # With the blend off the networks' state x(k) is [y(k), y_out(k-1), ..., y_out(k-L)], checked against the
    # measurements fed in; the warm-up controller (the automatic LQR-I) still gets the env's observation.
    ref = np.array([0.1, 0.5])
    env, ctrl, obs = _started_unblended(_twin(3), ref)
    assert ctrl.identifier.config.n_outputs == 2 + 2 * 3
    seen = [obs] * 4
    for _ in range(60):
        u = ctrl.step(obs, ref)
        seen.insert(0, obs)
        np.testing.assert_array_equal(ctrl.state, np.concatenate(seen[:4]))
        obs, *_ = env.step(u)
    with pytest.raises(ParameterError, match="output_lags"):
        NeuralControllerConfig(output_lags=-1)


def test_rate_lags_are_every_measured_signals_backward_differences_per_second():
    # lag_signals = "rates": the extra signals are (x(k-i+1) - x(k-i)) / dt, i = 1..L, of every measured signal
    # (PVTOL measured by its pose: x, y, theta), checked against a plain difference of the measurements fed in;
    # their ranges are +- the half range times the output's reference bandwidth (the slowest for the others).
    sc = Scenario.from_toml("scenarios/pvtol_pose.toml").set("controller", '{kind = "neural"}')
    sc = sc.set("controller.output_lags", "2").set("controller.lag_signals", '"rates"')
    ref = np.array([1.0, 0.5])
    env, ctrl, obs = _started_unblended(sc, ref)
    assert ctrl.identifier.config.n_outputs == 3 + 3 * 2
    lo, hi = ctrl.identifier.config.output_range
    bw = np.array(sc.controller.reference_bandwidth)
    half = np.array([20.0, 20.0, np.pi])
    np.testing.assert_allclose(hi[3:], np.tile(half * np.array([bw[0], bw[1], bw.min()]), 2))
    np.testing.assert_allclose(lo[3:], -hi[3:])
    seen = [obs] * 3
    for _ in range(40):
        u = ctrl.step(obs, ref)
        seen.insert(0, obs)
        dt = env.unwrapped.dt
        want = np.concatenate([seen[0], (seen[0] - seen[1]) / dt, (seen[1] - seen[2]) / dt])
        np.testing.assert_allclose(ctrl.state, want, rtol=0, atol=1e-12)
        obs, *_ = env.step(u)
    with pytest.raises(ParameterError, match="lag_signals"):
        NeuralControllerConfig(lag_signals="differences")
    with pytest.raises(ParameterError, match="output_lags"):
        NeuralControllerConfig(lag_signals="rates")


def test_a_plant_measured_by_its_outputs_only_gets_rate_lags_by_default():
    # The twin rotor measures pitch and yaw only: with the defaults the networks see AUTO_RATE_LAGS steps of their
    # rates; explicit lags or lag_signals = "values" keep the former behaviour; the helicopter (five signals,
    # two controlled) gets none.
    from neurocontrol.controllers.neural import AUTO_RATE_LAGS

    base = Scenario.from_toml(TWIN).set("controller", '{kind = "neural"}')
    ctrl = base.build(0).controller
    assert ctrl._id_cfg.n_outputs == 2 + 2 * AUTO_RATE_LAGS and ctrl._lag_rates
    assert "automatic" in ctrl.derived_settings()["lags"]
    values = base.set("controller.lag_signals", '"values"').build(0).controller
    assert values._id_cfg.n_outputs == 2 and "lags" not in values.derived_settings()
    three = base.set("controller.output_lags", "3").build(0).controller
    assert three._id_cfg.n_outputs == 2 + 2 * 3 and not three._lag_rates
    heli = Scenario.from_toml(HOVER).build(0).controller
    assert heli._id_cfg.n_outputs == 5 and "lags" not in heli.derived_settings()


def test_the_identifier_learns_the_shift_of_the_lagged_outputs_and_a_checkpoint_keeps_them():
    setup = _twin(2, warmup_duration="5").build(1)
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=1, options=setup.options)
    ref = np.array([0.1, 0.5])
    ctrl.reset(obs, ref, seed=1)
    errs = []
    for k in range(300):
        prev = ctrl.state
        u = ctrl.step(obs, ref)
        if k > 200:                     # the one-step prediction of the lag-1 entries is the last outputs
            errs.append(np.abs(ctrl.identifier.last_prediction[2:4] - prev[0:2]))
        obs, *_ = env.step(u)
    assert np.max(errs) < 0.01 * np.pi           # 1 % of the half range (pitch +-pi/2, yaw +-pi)
    state = ctrl.get_state()
    assert state["lags"].shape == (2, 2)
    feed, first = [], []
    for _ in range(40):
        feed.append(obs)
        first.append(ctrl.step(obs, ref))
        obs, *_ = env.step(first[-1])
    ctrl.set_state(state)
    again = [ctrl.step(o, ref) for o in feed]
    np.testing.assert_array_equal(np.array(again), np.array(first))


def test_with_output_lags_the_twin_rotor_is_flown_from_its_two_angles():
    # Only pitch and yaw are measured; with a 5 s warm-up (the automatic LQR-I) the neural controller loses the
    # plant on seeds 0-5 without lags (lag_signals = "values": no automatic rate lags) and flies all 6 with 3 lags,
    # 3 of them into the bands (2 before the range penalty's own active set, 3 with the move penalty of 1 used
    # before, 5 with q at every update, the default before the change detector; docs/neural_controller.md,
    # "Output lags").
    with_lags = [run_scenario(_twin(3, warmup_duration="5", auto_warmup_steps="0"), seed=s) for s in range(6)]
    assert all(r.status == "completed" for r in with_lags)
    assert sum(r.metrics["success"] for r in with_lags) == 3
    without = [run_scenario(_twin(0, warmup_duration="5", lag_signals='"values"'), seed=s) for s in range(6)]
    assert [r.status for r in without] == ["failed"] * 6


def test_a_fresh_controller_restored_from_a_noisy_run_continues_bit_identically():
    # Past the warm-up and the first clean noise window the identifier's R is scaled to the noise; a new
    # controller given the state (R and the past outputs included) acts exactly as the original would.
    sc = Scenario.from_toml(HOVER).set("plant.disturbances.sensor_noise_std", "[0.2, 0.002, 0.01, 0.0002, 0.005]")
    sc = sc.set("controller.output_lags", "2")

    def scaled(ctrl):
        assert np.any(ctrl.identifier._R > 1e-5)

    run_and_restore(sc, 3, 260, 60, np.array([140.0, 1.0]), ready=scaled)


def test_while_the_change_detector_is_on_the_step_plans_with_the_move_penalty_times_change_caution(tmp_path):
    # A rotor-drag change of +30 % mid-hover turns the identifier's change detector on. The state of the
    # default controller (change_caution = 3) at those steps, loaded into a controller with three times the
    # default move_penalty and no caution, gives the same input; loaded into one with the default and no caution,
    # another.
    # Before the change, the default controller flies exactly as one without caution.
    from neurocontrol.checkpoint import load_checkpoint, save_checkpoint

    ref = np.array([140.0, 1.0])
    env, plain_env = _hover_env(), _hover_env()
    obs, _ = env.reset(seed=5)
    plain_obs, _ = plain_env.reset(seed=5)
    ctrl, plain = _controller(), _controller(change_caution=1.0)
    ctrl.reset(obs, ref, seed=5)
    plain.reset(plain_obs, ref, seed=5)
    for _ in range(600):
        u = ctrl.step(obs, ref)
        np.testing.assert_array_equal(u, plain.step(plain_obs, ref))
        obs, *_ = env.step(u)
        plain_obs, *_ = plain_env.step(u)
    assert not ctrl.identifier.changing and ctrl.identifier.counts["changing"] == 0
    p = env.unwrapped.params
    env.unwrapped.set_params(dataclasses.replace(p, a8=1.3 * p.a8, a9=1.3 * p.a9))
    checked = 0
    for _ in range(60):
        if ctrl.identifier.changing and checked < 3:
            path = save_checkpoint(tmp_path / f"c{checked}.npz", ctrl)
            stepped = {}
            for name, kw in (("penalty x3", dict(move_penalty=3.0 * NeuralControllerConfig().move_penalty,
                                                   change_caution=1.0)),
                             ("penalty", dict(change_caution=1.0))):
                other = _controller(**kw)
                other.reset(obs, ref, seed=0)
                load_checkpoint(path, other)
                stepped[name] = other.step(obs, ref)
            u = ctrl.step(obs, ref)
            np.testing.assert_array_equal(u, stepped["penalty x3"])
            assert not np.array_equal(u, stepped["penalty"])
            checked += 1
        else:
            u = ctrl.step(obs, ref)
        obs, *_ = env.step(u)
    assert checked == 3
    for bad in (0.5, 0.0, float("nan")):
        with pytest.raises(ParameterError, match="change_caution"):
            NeuralControllerConfig(change_caution=bad)
