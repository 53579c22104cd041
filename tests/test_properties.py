"""Property-based tests: random scenario values, random observation corruption, random action sequences."""

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import plants  # noqa: F401
from neurocontrol.exceptions import DivergenceError, NeurocontrolError
from neurocontrol.scenario import Scenario

OBS = np.array([140.0, 1.0, 0.0, 0.12, 0.0])
R = np.array([140.0, 1.0])
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@pytest.fixture(scope="module")
def controllers():
    sc = Scenario.from_toml("scenarios/helicopter_hover.toml")
    d = sc.to_dict()
    guarded = Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": d["controller"]}})
    return sc.build(0).controller, guarded.build(0).controller


@settings(max_examples=10, **SETTINGS)
@given(corrupt=st.lists(st.tuples(st.integers(0, 4), floats), min_size=0, max_size=40), seed=st.integers(0, 50))
def test_corrupted_observations_never_give_a_bad_action(controllers, corrupt, seed):
    """NaN, inf or wild values in the measurements: the action stays finite and within the limits."""
    for ctrl in controllers:
        ctrl.reset(OBS, R, seed=seed)
        lim = ctrl.input_limits
        rng = np.random.default_rng(seed)
        for k in range(120):
            obs = OBS + rng.normal(0, [0.5, 0.01, 0.01, 0.001, 0.01])
            if corrupt and k >= 100:
                i, v = corrupt[k % len(corrupt)]
                obs[i] = v
            try:
                with np.errstate(all="ignore"):
                    u = ctrl.step(obs, R)
            except NeurocontrolError as exc:        # documented: a diverged adaptive controller raises
                assert type(exc).__name__ == "DivergenceError" and ctrl is controllers[0]
                break
            assert np.all(np.isfinite(u)) and np.all(u >= lim[:, 0]) and np.all(u <= lim[:, 1])


def _fly_corrupted(ctrl, env, ref, corrupt, seed, start, steps, *, divergence_ok=False):
    """Fly ``env`` under ``ctrl``, the measurement entries replaced from step ``start`` on (cycling ``corrupt``).

    Every action must be finite and within the limits. With ``divergence_ok`` a DivergenceError (documented: a
    controller whose state overflows) ends the run; any other error fails the test.
    """
    obs, _ = env.reset(seed=seed)
    ctrl.reset(obs, ref, seed=seed)
    lim = ctrl.input_limits
    for k in range(start + steps):
        meas = obs.copy()
        if k >= start:
            i, v = corrupt[k % len(corrupt)]
            meas[i] = v
        try:
            with np.errstate(all="ignore"):
                u = ctrl.step(meas, ref)
        except DivergenceError:
            if divergence_ok:
                return
            raise
        assert np.all(np.isfinite(u)) and np.all(u >= lim[:, 0]) and np.all(u <= lim[:, 1])
        obs, _, terminated, _, _ = env.step(u)
        if terminated:
            break


@pytest.fixture(scope="module")
def neural():
    setup = Scenario.from_toml("scenarios/neural_hover.toml").build(0)
    return setup.controller, setup.env


@settings(max_examples=40, **SETTINGS)
@example(corrupt=[(0, 8.98846567431158e306)], seed=0, start=5)     # found by this test: a glitch in the warm-up
@given(corrupt=st.lists(st.tuples(st.integers(0, 4), floats), min_size=1, max_size=40), seed=st.integers(0, 50),
       start=st.integers(1, 250))
def test_corrupted_measurements_never_give_the_neural_controller_a_bad_action(neural, corrupt, seed, start):
    """NaN, inf or wild values from any step on (the warm-up's included): no error, a finite action within limits."""
    ctrl, env = neural
    _fly_corrupted(ctrl, env, R, corrupt, seed, start, 40)


@pytest.fixture(scope="module")
def baselines():
    data = Scenario.from_toml("scenarios/twin_rotor_steps.toml").to_dict()
    return {kind: Scenario.from_dict({**data, "controller": {**data["controller"], "kind": kind}}).build(0)
            for kind in ("lqr_i", "mrac")}


@settings(max_examples=20, **SETTINGS)
@example(kind="mrac", corrupt=[(0, 2.5267236596194305e307)], seed=0, start=1)   # found: it raised NonFiniteError
@given(kind=st.sampled_from(["lqr_i", "mrac"]), corrupt=st.lists(st.tuples(st.integers(0, 1), floats), min_size=1,
       max_size=20), seed=st.integers(0, 50), start=st.integers(1, 100))
def test_corrupted_measurements_give_a_baseline_a_good_action_or_a_divergence_error(baselines, kind, corrupt, seed,
                                                                                      start):
    """The generic LQR-I and MRAC (twin rotor) take a wild value as a measurement: a finite action within limits, or
    (documented) DivergenceError when their state overflows; no other error."""
    setup = baselines[kind]
    ref = np.asarray(setup.reference(np.array([0.0]))[0], dtype=float)
    _fly_corrupted(setup.controller, setup.env, ref, corrupt, seed, start, 30, divergence_ok=True)


@settings(max_examples=40, **SETTINGS)
@given(actions=st.lists(st.tuples(floats, floats), min_size=1, max_size=30))
def test_random_actions_on_the_env(actions):
    """The env clips finite actions, rejects non-finite ones with NonFiniteError; the state stays finite."""
    env = gym.make("neurocontrol/Helicopter-v0")
    env.reset(seed=0)
    for a in actions:
        a = np.array(a)
        try:
            obs, *_, terminated, _, info = env.step(a)
        except NeurocontrolError as exc:
            assert not np.all(np.isfinite(a)) and type(exc).__name__ == "NonFiniteError"
            continue
        assert np.all(np.isfinite(obs)) and np.all(np.isfinite(info["state"]))
        if terminated:
            break


keys = st.sampled_from(["run.duration", "plant.dt", "plant.faults.delay_steps", "plant.faults.dropout.probability",
                        "plant.faults.sensor_bias.bias", "plant.disturbances.gust_rate", "controller.error_ratio",
                        "controller.inner.normalized_range", "events.0.time", "events.0.effectiveness",
                        "reference.altitude", "plant.initial.altitude"])
values = st.one_of(floats.map(repr), st.integers(-5, 10**6).map(str), st.text(max_size=8).map(repr),
                   st.lists(st.floats(-10, 10), max_size=6).map(str), st.booleans().map(lambda b: str(b).lower()))


@settings(max_examples=40, **SETTINGS)
@given(key=keys, value=values)
def test_random_scenario_values_give_documented_errors_only(key, value):
    """Any value for any key: a valid scenario or a ScenarioError (a NeurocontrolError); nothing else."""
    sc = Scenario.from_toml("scenarios/guarded_actuator_loss.toml")
    try:
        changed = sc.set(key, value)
        changed.build(0)
    except NeurocontrolError:
        return
    assert Scenario.from_toml_text(changed.to_toml()) == changed or any(
        isinstance(v, float) and math.isnan(v) for v in [value])
