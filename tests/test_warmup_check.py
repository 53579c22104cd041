"""The neural controller's warm-up check (``warmup_check``): a check that passes at once changes nothing, one that
fails extends the warm-up 10 steps at a time up to its longest, the ratio it tests against a plain numpy free run of
the incremental network, checkpoints in the middle of an extension, and argument errors."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from naive import incremental_free_run

import plants  # noqa: F401  (registers the env)
from neurocontrol.controllers.neural import NeuralController, NeuralControllerConfig
from neurocontrol.exceptions import ParameterError

LOW = (74.25, 0.0, -3.0, 0.0175, -10.0)
HIGH = (180.0, 2.0, 3.0, 0.245, 10.0)
REF = np.array([140.0, 1.0])
DT = 0.01


def _controller(check=0.0, longest=None, warmup=0.3):
    """The helicopter's neural controller with the nominal input plus excitation as its warm-up (no warm-up
    controller: the warm-up's data are open loop), ``warmup`` seconds planned."""
    cfg = NeuralControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2),
                                 excitation_amplitude=(40.0, 100.0), nominal_input=(170.0, -100.0),
                                 warmup_duration=warmup, auto_warmup=False)
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=100_000)
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    return NeuralController(cfg, input_limits=limits, dt=DT, warmup_check=check, warmup_max_duration=longest), env


def _fly(ctrl, env, steps, seed=0, record=None):
    """Fly ``steps`` steps from the seed's start; return the inputs (steps, m) and the modes."""
    obs, _ = env.reset(seed=seed, options={"initial_state": [140.0, 1.0, 0.0, 0.12, 0.0]})
    ctrl.reset(obs, REF, seed=seed)
    inputs, modes = [], []
    for k in range(steps):
        u = ctrl.step(obs, REF)
        modes.append(ctrl.diagnostics()["mode"])
        if record is not None:
            record(k, obs, u)
        inputs.append(u)
        obs, *_ = env.step(u)
    return np.array(inputs), modes


def test_a_check_that_passes_at_once_changes_nothing():
    plain, env = _controller()
    checked, env2 = _controller(check=1e9)              # any finite fit passes
    u0, modes0 = _fly(plain, env, 80)
    u1, modes1 = _fly(checked, env2, 80)
    np.testing.assert_array_equal(u0, u1)
    assert modes0 == modes1 and modes0.count("warmup") == 30
    assert checked.warmup_fit is not None and plain.warmup_fit is None
    assert checked.derived_settings()["warmup_max_steps"] == 150 and "warmup_max_steps" not in plain.derived_settings()


def test_a_check_that_never_passes_runs_the_warm_up_to_its_longest_and_its_ratio_is_the_plain_one():
    """Threshold 1e-12: every check fails, so the warm-up ends at warmup_max_duration (0.6 s = 60 steps); each
    check's ratio (at steps 30, 40, 50) is recomputed with a plain numpy free run from the recorded measurements,
    hidden states and applied inputs, with the weights the identifier had at that step."""
    ctrl, env = _controller(check=1e-12, longest=0.6)
    seen = {"x": [], "h": [], "u": [], "fit": {}}

    def record(k, obs, u):
        seen["x"].append(np.array(obs, float))         # noise-free warm-up: the blended state is the measurement
        seen["h"].append(ctrl.identifier.hidden)
        seen["u"].append(np.array(u, float))
        if k in (30, 40, 50):
            seen["fit"][k] = (ctrl.warmup_fit, np.array(ctrl.identifier.weights))

    _, modes = _fly(ctrl, env, 90, record=record)
    assert modes.count("warmup") == 60 and modes[59] == "warmup" and modes[60] == "predictive"
    cfg = ctrl._id_cfg
    X, U, Hh = cfg.normalize_outputs(np.array(seen["x"])), cfg.normalize_inputs(np.array(seen["u"])), seen["h"]
    n = ctrl.law.horizon
    for k, (fit, theta) in seen["fit"].items():
        w = min(n, k)
        err = base = 0.0
        for a in range(0, k - w + 1, max(w // 2, 1)):
            pred = incremental_free_run(cfg, theta, X[a], U[a:a + w], Hh[a])
            err += np.sum((pred - X[a + 1:a + w + 1]) ** 2)
            base += np.sum((X[a + 1:a + w + 1] - X[a]) ** 2)
        assert fit == pytest.approx(np.sqrt(err / base), rel=1e-9)
        assert fit > 1e-12


def test_the_warm_up_ends_at_the_first_check_that_passes():
    """A threshold at the fit of step 40: the warm-up ends at the first check (30, 40, ...) whose fit is at most
    that, read from a run whose checks all fail (the two runs are the same until then)."""
    ctrl, env = _controller(check=1e-12, longest=1.0)
    fits = {}
    _fly(ctrl, env, 95, record=lambda k, obs, u: fits.update({k: ctrl.warmup_fit}) if k in range(30, 100, 10) else None)
    threshold = fits[40] * (1.0 + 1e-9)
    end = next(k for k in sorted(fits) if fits[k] <= threshold)
    ctrl2, env2 = _controller(check=threshold, longest=1.0)
    _, modes = _fly(ctrl2, env2, 60)
    assert modes.count("warmup") == end and end in (30, 40)


def test_a_checkpoint_in_the_middle_of_an_extension_continues_the_run():
    ctrl, env = _controller(check=1e-12, longest=0.6)
    obs, _ = env.reset(seed=1, options={"initial_state": [140.0, 1.0, 0.0, 0.12, 0.0]})
    ctrl.reset(obs, REF, seed=1)
    for _ in range(45):
        obs, *_ = env.step(ctrl.step(obs, REF))
    state = ctrl.get_state()
    assert "warmup_check.x" in state and state["n_warmup"] == 50
    feed, want = [], []
    for _ in range(30):
        feed.append(obs)
        want.append(ctrl.step(obs, REF))
        obs, *_ = env.step(want[-1])
    fresh, _ = _controller(check=1e-12, longest=0.6)
    fresh.reset(feed[0], REF, seed=7)
    fresh.set_state(state)
    np.testing.assert_array_equal(np.array([fresh.step(o, REF) for o in feed]), np.array(want))


def test_argument_errors():
    with pytest.raises(ParameterError, match="warmup_check"):
        _controller(check=-1.0)
    with pytest.raises(ParameterError, match=r"`warmup_max_duration` \(0.2 s\) must be at least the warm-up's 0.3 s"):
        _controller(check=0.5, longest=0.2)


@pytest.mark.parametrize("check", [0.0, 1e-12])
def test_a_non_finite_measurement_at_the_hand_over_step_still_hands_over(check):
    """The measurement at the planned end of the warm-up (step 30) is NaN: the input is held there, and the next
    finite step is the predictive law's first, with the reference model restarted and the law's rate limit; with
    a check that never passes, the warm-up goes on to its longest (60 steps) all the same."""
    ctrl, env = _controller(check=check, longest=0.6)
    obs, _ = env.reset(seed=2, options={"initial_state": [140.0, 1.0, 0.0, 0.12, 0.0]})
    ctrl.reset(obs, REF, seed=2)
    modes = []
    for k in range(80):
        seen = np.full_like(obs, np.nan) if k == 30 else obs
        u = ctrl.step(seen, REF)
        modes.append(ctrl.diagnostics()["mode"])
        obs, *_ = env.step(u)
    end = 30 if check == 0.0 else 60
    first = end + 1 if check == 0.0 else end        # the NaN step itself holds the input in warm-up mode
    assert modes[:first] == ["warmup"] * first and modes[first:] == ["predictive"] * (80 - first)
    assert ctrl._rate_limit is ctrl._law_rate


def test_the_scenario_keys_set_the_check_and_the_arguments_override_them():
    """``warmup_check`` / ``warmup_max_duration`` in the config fly as the constructor's arguments do."""
    by_args, env = _controller(check=1e-12, longest=0.6)
    cfg = dataclasses.replace(by_args.config, warmup_check=1e-12, warmup_max_duration=0.6)
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    by_keys = NeuralController(cfg, input_limits=limits, dt=DT)
    overridden = NeuralController(cfg, input_limits=limits, dt=DT, warmup_check=0.0)
    env2 = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=100_000)
    u_args, modes = _fly(by_args, env, 80)
    u_keys, _ = _fly(by_keys, env2, 80)
    np.testing.assert_array_equal(u_args, u_keys)
    assert modes.count("warmup") == 60 and by_keys.derived_settings()["warmup_max_steps"] == 60
    assert overridden.warmup_check == 0.0 and "warmup_max_steps" not in overridden.derived_settings()
    with pytest.raises(ParameterError, match="warmup_check"):
        dataclasses.replace(cfg, warmup_check=-1.0)
    with pytest.raises(ParameterError, match="warmup_max_duration"):
        dataclasses.replace(cfg, warmup_max_duration=0.0)
