"""The adaptive two-RTRN controller: configuration errors, limits and feedforward, windup, state copies, hover.

The compiled step is checked against a plain numpy step in tests/test_control_reference.py.
"""

import copy

import gymnasium as gym
import numpy as np
import pytest

import plants  # noqa: F401  (registers the helicopter)
from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.exceptions import NonFiniteError, ParameterError, ShapeError
from neurocontrol.nets.rules import TwoDRule
from plants.helicopter.baselines import PIDController

LOW = (74.25, 0.0, -3.0, 0.0175, -10.0)
HIGH = (180.0, 2.0, 3.0, 0.245, 10.0)
LIMITS = ((0.0, 400.0), (-600.0, 600.0))
REF = np.array([140.0, 1.0])


def make_controller(**overrides):
    cfg = AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2), **overrides)
    warm = PIDController(trim_input=(170.0, -100.0), trim_collective=0.12, servo_gain=2700.0)
    return AdaptiveController(cfg, input_limits=LIMITS, output_indices=(0, 1), dt=0.01, warmup_controller=warm)


def fly(ctrl, seed, steps, reference=REF, env=None, before_step=None):
    env = env or gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=seed)
    ctrl.reset(obs, reference(0) if callable(reference) else reference, seed=seed)
    X, U = [obs], []
    for k in range(steps):
        r = reference(k) if callable(reference) else reference
        u = ctrl.step(obs, r)
        obs, _, term, _, _ = env.step(u)
        X.append(obs)
        U.append(u)
        assert not term
    return np.array(X), np.array(U)


@pytest.mark.parametrize("seed", [0, 7])
def test_short_hover_succeeds(seed):
    X, U = fly(make_controller(), seed, 3000)
    last = X[-500:]
    assert np.all(np.abs(last[:, 0] - 140.0) <= 1.4)
    assert np.all(np.abs(last[:, 1] - 1.0) <= 0.02)
    assert np.all(np.isfinite(U))


def test_same_seed_same_run_and_different_seed_differs():
    a = fly(make_controller(), 5, 400)[1]
    b = fly(make_controller(), 5, 400)[1]
    np.testing.assert_array_equal(a, b)
    c_ctrl = make_controller()
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=5)
    c_ctrl.reset(obs, REF, seed=6)      # same plant, other controller seed: other excitation
    u0 = [c_ctrl.step(obs, REF) for _ in range(1)]
    assert not np.array_equal(u0[0], a[0])


def test_limits_and_rate_limits_never_exceeded():
    rate = (5.0, 40.0)
    X, U = fly(make_controller(rate_limit=rate), 2, 1500)
    lim = np.array(LIMITS)
    assert np.all(U >= lim[:, 0]) and np.all(U <= lim[:, 1])
    dU = np.abs(np.diff(U[100:], axis=0))      # after warm-up the law is rate limited
    assert np.all(dU <= np.array(rate) + 1e-9)


def test_no_windup_after_long_saturation():
    # 10 s asking for an altitude above the stand (the plant sits on the top stop, the law pushes), then 1 m
    def reference(k):
        return np.array([140.0, 2.5 if 100 <= k < 1100 else 1.0])
    X, U = fly(make_controller(), 4, 2600, reference=reference)
    assert X[1000, 1] > 1.95                     # it really went to the top stop
    last = X[-500:]                              # and 10 s after the request ends it is back in band
    assert np.all(np.abs(last[:, 1] - 1.0) <= 0.02)
    assert np.all(np.abs(last[:, 0] - 140.0) <= 1.4)


def test_bad_measurement_holds_last_input_and_never_returns_nan():
    ctrl = make_controller()
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=1)
    ctrl.reset(obs, REF, seed=1)
    for _ in range(200):
        obs, *_ = env.step(ctrl.step(obs, REF))
    u_before = ctrl.step(obs, REF)
    bad = obs.copy()
    bad[1] = np.nan
    u_bad = ctrl.step(bad, REF)
    np.testing.assert_array_equal(u_bad, u_before)
    assert np.all(np.isfinite(ctrl.step(obs, REF)))


def test_feedforward_is_applied_and_learned_from():
    ctrl = make_controller()
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=1)
    ctrl.reset(obs, REF, seed=1)
    for _ in range(150):
        obs, *_ = env.step(ctrl.step(obs, REF))
    twin = copy.deepcopy(ctrl)
    ff = np.array([3.0, -7.0])
    u_fb = twin.step(obs, REF)                 # the same step without feedforward
    u = ctrl.step(obs, REF, feedforward=ff)
    np.testing.assert_allclose(u, np.clip(u_fb + ff, np.array(LIMITS)[:, 0], np.array(LIMITS)[:, 1]), rtol=1e-15)
    # the identifier's next regressor holds the applied (not the feedback) input
    np.testing.assert_allclose(ctrl._arena["z"][5:7], u * ctrl._u_scale + ctrl._u_offset)
    assert not np.allclose(u_fb, u)


@pytest.mark.parametrize("make", ["adaptive", "lqr"])
def test_feedforward_step_larger_than_the_rate_limit_is_rate_limited(make):
    from plants.helicopter.baselines import LQRController

    rate = np.array([5.0, 40.0])
    ctrl = make_controller(rate_limit=tuple(rate)) if make == "adaptive" else LQRController.from_plant()
    if make == "lqr":
        ctrl._rate_limit = rate                # baselines take the base class's rate limit the same way
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=1)
    ctrl.reset(obs, REF, seed=1)
    for _ in range(150):
        u_prev = ctrl.step(obs, REF)
        obs, *_ = env.step(u_prev)
    ff = np.array([50.0, -300.0])            # 10 and 7.5 times the rate limit
    u = ctrl.step(obs, REF, feedforward=ff)
    np.testing.assert_allclose(np.abs(u - u_prev), rate, rtol=1e-12)
    assert np.all(np.sign(u - u_prev) == np.sign(ff))


def test_dt_must_be_positive():
    cfg = AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2))
    with pytest.raises(ParameterError, match=r"`dt` must be a finite number > 0 s, got -0.01"):
        AdaptiveController(cfg, input_limits=LIMITS, output_indices=(0, 1), dt=-0.01)


def test_start_trial_keeps_weights_and_skips_warmup():
    ctrl = make_controller()
    X, _ = fly(ctrl, 0, 500)
    W = ctrl.identifier_weights.copy()
    ctrl.start_trial(X[0], REF)
    np.testing.assert_array_equal(ctrl.identifier_weights, W)
    assert not ctrl.in_warmup
    ctrl.step(X[0], REF)
    assert ctrl.diagnostics()["mode"] == "adaptive"


def test_any_learning_rule_object_runs_through_the_public_path():
    X, U = fly(make_controller(identifier_rule=TwoDRule(alpha=0.5, delta=0.1, k_max=5)), 0, 200)
    assert np.all(np.isfinite(U))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(observation_low=(0.0, 1.0), observation_high=(1.0, 0.5)), ParameterError, "`observation_high` must exceed"),
    (dict(observation_low=(0.0,), observation_high=(1.0, 2.0)), ShapeError, r"`observation_high` must have shape \(1,\)"),
    (dict(normalized_range=0.95), ParameterError, r"`normalized_range` must be in \(0, 0.9\]"),
    (dict(identifier_rule="rls"), ParameterError, "must be learning-rule objects"),
    (dict(law="predictive"), ParameterError, "`law` must be a law object"),
    (dict(warmup_duration=-1.0), ParameterError, "`warmup_duration` must be a non-negative"),
    (dict(disturbance_filter=1.0), ParameterError, r"`disturbance_filter` must be in \[0, 1\)"),
    (dict(reference_bandwidth=(1.0, -2.0)), ParameterError, "must be positive"),
    (dict(excitation_min_hold=(5, 1), excitation_max_hold=(1, 4)), ParameterError,
     "`excitation_min_hold` and `excitation_max_hold` must give one hold time per input"),
    (dict(imitator_pretrain_steps=-3), ParameterError, "`imitator_pretrain_steps` must be a non-negative"),
])
def test_config_errors(kwargs, error, match):
    base = dict(observation_low=LOW, observation_high=HIGH)
    base.update(kwargs)
    with pytest.raises(error, match=match):
        AdaptiveControllerConfig(**base)


def test_constructor_and_reset_errors():
    cfg = AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2))
    with pytest.raises(ParameterError, match="`rate_indices` must give one entry per controlled output"):
        AdaptiveController(AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(2,)),
                           input_limits=LIMITS, output_indices=(0, 1), dt=0.01)
    with pytest.raises(ParameterError, match=r"`output_indices` must lie in \[0, 5\)"):
        AdaptiveController(cfg, input_limits=LIMITS, output_indices=(0, 7), dt=0.01)
    with pytest.raises(ParameterError, match="`warmup_controller` must be an AbstractController"):
        AdaptiveController(cfg, input_limits=LIMITS, output_indices=(0, 1), dt=0.01, warmup_controller="pid")
    with pytest.raises(ParameterError, match="`rate_limit` must be positive"):
        AdaptiveController(AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_limit=(0.0, 1.0)),
                           input_limits=LIMITS, output_indices=(0, 1), dt=0.01)
    ctrl = AdaptiveController(cfg, input_limits=LIMITS, output_indices=(0, 1), dt=0.01)
    with pytest.raises(ParameterError, match=r"call reset\(observation, reference\) before step"):
        ctrl.step(np.zeros(5), REF)
    with pytest.raises(ParameterError, match=r"`observation` must have shape \(5,\)"):
        ctrl.reset(np.zeros(3), REF)
    with pytest.raises(NonFiniteError, match="`observation` must be finite"):
        ctrl.reset(np.full(5, np.nan), REF)
    with pytest.raises(ParameterError, match="before start_trial"):
        ctrl.start_trial(np.zeros(5), REF)


def test_state_roundtrip_continues_bit_identically():
    ctrl = make_controller()
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=2)
    ctrl.reset(obs, REF, seed=2)
    for _ in range(60):                       # stop inside the warm-up: the PID's integrators matter too
        obs, *_ = env.step(ctrl.step(obs, REF))
    state = ctrl.get_state()
    plant = env.state
    U_ref = []
    for _ in range(200):
        u = ctrl.step(obs, REF)
        obs, *_ = env.step(u)
        U_ref.append(u)
    # a fresh controller, same settings, restored mid-run
    other = make_controller()
    env2 = gym.make("neurocontrol/Helicopter-v0").unwrapped
    env2.reset(seed=2, options={"initial_state": plant})
    obs2 = env2.state
    other.reset(obs2, REF, seed=99)          # a different seed: everything random comes from the state
    other.set_state(state)
    U = []
    for _ in range(200):
        u = other.step(obs2, REF)
        obs2, *_ = env2.step(u)
        U.append(u)
    np.testing.assert_array_equal(np.array(U), np.array(U_ref))


def test_set_state_rejects_foreign_state():
    ctrl = make_controller()
    X, _ = fly(ctrl, 0, 10)
    state = ctrl.get_state()
    state.pop("W")
    with pytest.raises(ParameterError, match=r"`state` does not fit this controller: missing \['W'\]"):
        ctrl.set_state(state)
    state = ctrl.get_state()
    state["W"] = np.zeros((2, 2))
    with pytest.raises(ShapeError, match=r"`state\['W'\]` must have shape \(5, 8\)"):
        ctrl.set_state(state)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_keep_their_state_wired_to_the_compiled_step(how):
    import pickle

    ctrl = make_controller()
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=4)
    ctrl.reset(obs, REF, seed=4)
    for _ in range(150):                       # past the warm-up: the fused step is in use
        obs, *_ = env.step(ctrl.step(obs, REF))
    twin = copy.deepcopy(ctrl) if how == "deepcopy" else pickle.loads(pickle.dumps(ctrl))
    assert np.shares_memory(twin._arena["W"], twin._arena.buffer)
    assert not np.shares_memory(twin._arena.buffer, ctrl._arena.buffer)
    plant = env.state
    U = []
    for _ in range(100):
        u = ctrl.step(obs, REF)
        obs, *_ = env.step(u)
        U.append(u)
    env.reset(seed=4, options={"initial_state": plant})
    obs2 = env.state
    U2 = []
    for _ in range(100):
        u = twin.step(obs2, REF)
        obs2, *_ = env.step(u)
        U2.append(u)
    np.testing.assert_array_equal(np.array(U2), np.array(U))
    state = twin.get_state()                   # and set_state on the copy reaches its compiled step
    state["W"] = state["W"] * 0.0
    twin.set_state(state)
    assert np.all(twin.identifier_weights == 0.0)
    assert not np.all(ctrl.identifier_weights == 0.0)


def test_wrong_shape_observation_is_a_named_error():
    ctrl = make_controller()
    X, _ = fly(ctrl, 0, 5)
    with pytest.raises(ShapeError, match=r"`observation` must have shape \(5,\), got \(4,\)"):
        ctrl.step(X[-1][:4], REF)
    with pytest.raises(ShapeError, match=r"`observation` must have shape \(5,\), got \(6,\)"):
        ctrl.step(np.append(X[-1], 0.0), REF)


@pytest.mark.parametrize("make", [PIDController.from_plant, "lqr"])
def test_baselines_hold_their_last_input_on_a_lost_sample(make):
    from plants.helicopter.baselines import LQRController

    ctrl = LQRController.from_plant() if make == "lqr" else make()
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=0)
    ctrl.reset(obs, REF)
    with pytest.raises(NonFiniteError, match="`observation` must be finite at the first step"):
        ctrl.step(np.full(5, np.nan), REF)
    for _ in range(50):
        u = ctrl.step(obs, REF)
        obs, *_ = env.step(u)
    held = ctrl.step(np.full(5, np.nan), REF)
    np.testing.assert_array_equal(held, u)


def test_outlier_gate_skips_a_jump():
    # the gate closed at the jump: the identifier made fewer updates than there were samples after the warm-up
    ctrl = make_controller(outlier_gate=4.0)
    env = gym.make("neurocontrol/Helicopter-v0").unwrapped
    obs, _ = env.reset(seed=1)
    ctrl.reset(obs, REF, seed=1)
    for k in range(400):
        if k == 300:
            env.set_actuator_effectiveness([1.0, 0.0])
        obs, *_ = env.step(ctrl.step(obs, REF))
        if k == 299:
            assert ctrl._arena.scalar("id_updates") == 299      # every sample before the jump was learned
    assert ctrl._arena.scalar("id_updates") < 399


@pytest.mark.parametrize("kwargs, match", [
    (dict(outlier_gate=0.5), r"`outlier_gate` must be 0 \(off\) or a factor > 1"),
    (dict(outlier_level_rate=0.0), r"`outlier_level_rate` must be in \(0, 1\]"),
])
def test_outlier_gate_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, **kwargs)
