"""The adaptive controller's compiled step against the plain numpy step of tests/naive_control.py.

The controller flies the helicopter; at chosen steps (the warm-up -> law
hand-over, the steps after it, and steps where the outlier gate closes on a
dead servo) its state is read, :func:`naive_control.adaptive_step` computes
the step from the equations, and the controller's own step must agree:
applied input and weights to 1e-12 relative (relative to the largest entry
of each array, since entries span many magnitudes), covariances to 1e-12
relative to their largest entry.
"""

import gymnasium as gym
import naive_control
import numpy as np
import pytest

import plants  # noqa: F401  (registers the helicopter)
from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.nets.rules import RecursiveLeastSquares
from plants.helicopter.baselines import PIDController

LOW = (74.25, 0.0, -3.0, 0.0175, -10.0)
HIGH = (180.0, 2.0, 3.0, 0.245, 10.0)
LIMITS = ((0.0, 400.0), (-600.0, 600.0))
REF = np.array([140.0, 1.0])
RTOL = 1e-12


def make_controller(**overrides):
    cfg = AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2),
                                   imitator_pretrain_steps=300, **overrides)
    warm = PIDController(trim_input=(170.0, -100.0), trim_collective=0.12, servo_gain=2700.0)
    return AdaptiveController(cfg, input_limits=LIMITS, output_indices=(0, 1), dt=0.01, warmup_controller=warm)


def naive_state(ctrl):
    """Read the controller's state and settings into the plain dict the naive step takes."""
    cfg, law, a = ctrl.config, ctrl.config.law, ctrl._arena
    idr, imr = cfg.identifier_rule, cfg.imitator_rule
    ad, bd = naive_control.second_order_matrices(cfg.reference_bandwidth, cfg.reference_damping, ctrl.dt)
    im = ("rls", imr.forgetting, imr.directional_forgetting, imr.max_trace) \
        if isinstance(imr, RecursiveLeastSquares) else ("2d", imr.alpha, imr.delta, imr.tol, imr.k_max)
    rate = np.full(2, np.inf) if cfg.rate_limit is None else np.array(cfg.rate_limit, dtype=float)
    out = np.array(ctrl.output_indices)
    return dict(
        W=a["W"].copy(), P=a["P"].copy(), Ws=a["Ws"].copy(), Ps=a["Ps"].copy(), z=a["z"].copy(), rm=a["rm"].copy(),
        d=a["d"].copy(), offset=a["offset"].copy(), u=ctrl._u.copy(), u_applied=ctrl._last_u.copy(),
        have_z=bool(a.scalar("have_z")), gate=a.scalar("gate_factor"), level=a.scalar("gate_level"),
        y_scale=ctrl._y_scale, y_offset=ctrl._y_offset, r_scale=ctrl._r_scale, r_offset=ctrl._r_offset,
        out_scale=ctrl._y_scale[out], out_offset=ctrl._y_offset[out], rate_scale=ctrl._rate_scale,
        rate_offset=ctrl._rate_offset, u_scale=ctrl._u_scale, u_offset=ctrl._u_offset,
        lo=np.array(LIMITS)[:, 0], hi=np.array(LIMITS)[:, 1], rate_limit=rate, ad=ad, bd=bd, out_idx=out,
        rate_idx=(-1, 2), dmap=np.array([0, 1, 3, -1, -1]),
        id=(idr.forgetting, idr.directional_forgetting, idr.max_trace), im=im,
        law=dict(q=np.array(law.output_weights), blocks=law.blocks, horizon=law.horizon, stride=law.stride,
                 move_penalty=law.move_penalty),
        dist_a=cfg.disturbance_filter, level_rate=cfg.outlier_level_rate, outlier_gate=cfg.outlier_gate)


def assert_close(got, want, what):
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(got - want)) / scale
    assert err <= RTOL, f"{what}: relative error {err:.3g} > {RTOL}"


def run_and_compare(ctrl, steps, compare, fault_at=None, seed=3):
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=seed)
    ctrl.reset(obs, REF, seed=seed)
    gate_closed = 0
    for k in range(steps):
        if fault_at is not None and k == fault_at:
            env.set_actuator_effectiveness([1.0, 0.0])     # the collective servo dies: the one-step error jumps
        if k in compare:
            want = naive_control.adaptive_step(naive_state(ctrl), obs, REF, handover=k == ctrl._n_warmup)
        u = ctrl.step(obs, REF)
        if k in compare:
            a = ctrl._arena
            assert_close(u, want["u_applied"], f"input at step {k}")
            assert_close(a["W"], want["W"], f"identifier weights at step {k}")
            assert_close(a["P"], want["P"], f"identifier covariance at step {k}")
            assert_close(a["Ws"], want["Ws"], f"imitator weights at step {k}")
            if want["im"][0] == "rls":
                assert_close(a["Ps"], want["Ps"], f"imitator covariance at step {k}")
            assert_close(a["offset"], want["offset"], f"disturbance estimate at step {k}")
            assert_close(a["z"], want["z"], f"next regressor at step {k}")
            if not np.isnan(want["level"]):
                assert_close(a["gate_level"], want["level"], f"gate level at step {k}")
            assert bool(a.scalar("id_iters")) == want["learned"]
            gate_closed += not want["learned"]
        obs, *_ = env.step(u)
    return gate_closed


@pytest.mark.parametrize("imitator_rule", [None, RecursiveLeastSquares(forgetting=1.0, initial_covariance=2.5e4,
                                                                        max_trace=2.5e5)])
def test_handover_and_following_steps_match_the_naive_step(imitator_rule):
    extra = {} if imitator_rule is None else {"imitator_rule": imitator_rule}
    ctrl = make_controller(rate_limit=(5.0, 40.0), **extra)
    n_warmup = 100
    run_and_compare(ctrl, n_warmup + 60, compare={n_warmup, n_warmup + 1, n_warmup + 2, n_warmup + 30,
                                                  n_warmup + 59})


def test_steps_where_the_outlier_gate_closes_match_the_naive_step():
    ctrl = make_controller(outlier_gate=4.0)
    closed = run_and_compare(ctrl, 306, compare=set(range(300, 306)), fault_at=300, seed=1)
    assert closed >= 1                       # the gate really closed at one of the compared steps
