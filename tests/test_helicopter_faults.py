"""Actuator loss of effectiveness on the helicopter env."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import plants  # noqa: F401  (registers the env ids)
from neurocontrol.exceptions import ParameterError, ShapeError
from plants.helicopter import dynamics
from plants.helicopter.env import HelicopterEnv
from plants.wrappers import MeasurementDelay, ParameterDrift, SensorBias, SensorDropout, StuckActuator


def test_degraded_actuator_delivers_the_fraction_of_the_clipped_command():
    env = HelicopterEnv()
    env.reset(seed=0)
    x0 = env.state
    env.set_actuator_effectiveness([0.8, 0.5])
    cmd = np.array([500.0, -120.0])          # throttle beyond its limit: clipped first, then scaled
    _, _, _, _, info = env.step(cmd)
    np.testing.assert_allclose(info["action"], [0.8 * 400.0, 0.5 * -120.0])
    np.testing.assert_array_equal(info["saturated"], [True, False])
    ref = dynamics.step(x0, np.array([320.0, -60.0]), env.params, env.dt, env.substeps)
    np.testing.assert_allclose(env.state, ref, rtol=1e-12, atol=1e-12)


def test_reset_restores_healthy_actuators():
    env = HelicopterEnv()
    env.reset(seed=0)
    env.set_actuator_effectiveness([1.0, 0.7])
    env.reset(seed=0)
    np.testing.assert_array_equal(env.actuator_effectiveness, [1.0, 1.0])


@pytest.mark.parametrize("eff, error, match", [
    ([1.0, 1.2], ParameterError, r"`effectiveness` must lie in \[0, 1\]"),
    ([-0.1, 1.0], ParameterError, r"`effectiveness` must lie in \[0, 1\]"),
    ([1.0], ShapeError, r"`effectiveness` must have shape \(2,\)"),
])
def test_bad_effectiveness(eff, error, match):
    env = HelicopterEnv()
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.set_actuator_effectiveness(eff)


# ---------------------------------------------------------------------------- fault wrappers on a gym.make env

def made():
    return gym.make("neurocontrol/Helicopter-v0")


WRAPPED = {
    "bias": lambda: SensorBias(made(), bias=[0.0, 0.05, 0.0, 0.0, 0.0]),
    "dropout_hold": lambda: SensorDropout(made(), probability=0.5, hold_last=True),
    "dropout_inactive": lambda: SensorDropout(made(), probability=0.5, start=100.0),
    "delay": lambda: MeasurementDelay(made(), 3),
    "stuck": lambda: StuckActuator(made(), 1, start=0.0),
    "drift": lambda: ParameterDrift(made(), {"a8": 1.3}, start=0.0, duration=0.05),
}


# check_env warns that a wrapped env differs from its unwrapped one (what it checks then is the wrapper
# chain, which is the point here) and recommends a [-1, 1] action box (physical units are by design).
@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.filterwarnings("ignore:.*For Box action spaces, we recommend")
@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_fault_wrappers_pass_check_env_and_can_be_recreated_from_the_spec(name):
    env = WRAPPED[name]()
    check_env(env)
    again = gym.make(env.spec)                                   # needs RecordConstructorArgs
    assert type(again) is type(env) and again.spec.additional_wrappers == env.spec.additional_wrappers
    a, b = env.reset(seed=4)[0], again.reset(seed=4)[0]
    np.testing.assert_array_equal(a, b)
    u = env.unwrapped.trim_action + [5.0, -20.0]
    for _ in range(6):
        np.testing.assert_array_equal(env.step(u)[0], again.step(u)[0])


def test_active_nan_dropout_is_outside_the_space_and_hold_last_repeats_the_last_sample():
    nan_env = SensorDropout(made(), probability=1.0, start=0.01)
    obs, info = nan_env.reset(seed=0)
    assert nan_env.observation_space.contains(obs) and info["dropped"] is False
    obs, *_, info = nan_env.step(nan_env.unwrapped.trim_action)
    assert np.isnan(obs).all() and not nan_env.observation_space.contains(obs) and info["dropped"] is True
    held = SensorDropout(made(), probability=1.0, start=0.02, hold_last=True)
    obs0, _ = held.reset(seed=0)
    obs1, *_, info1 = held.step(held.unwrapped.trim_action)       # t = 0.01: before the window
    obs2, *_, info2 = held.step(held.unwrapped.trim_action)       # lost: repeats obs1
    assert not info1["dropped"] and info2["dropped"] and held.n_dropped == 1
    np.testing.assert_array_equal(obs2, obs1)
    assert not np.array_equal(obs1, obs0) and held.observation_space.contains(obs2)


@pytest.mark.parametrize("make_bad, error, match", [
    (lambda: SensorBias(made(), bias=[0.0, 1.0]), ShapeError, r"`bias` must have shape \(5,\), got \(2,\)"),
    (lambda: SensorBias(made(), bias=np.zeros(5), start=-1.0), ParameterError,
     r"`start` must be a finite number >= 0 s, got -1\.0\."),
    (lambda: SensorDropout(made(), probability=1.5), ParameterError,
     r"`probability` must be a finite number >= 0 and <= 1, got 1\.5\."),
    (lambda: SensorDropout(made(), probability=0.1, seed=-3), ParameterError,
     r"`seed` must be an integer >= 0, got -3\."),
    (lambda: SensorDropout(made(), probability=0.1, hold_last="yes"), ParameterError,
     r"`hold_last` must be True or False, got 'yes'\."),
    (lambda: MeasurementDelay(made(), -1), ParameterError, r"`steps` must be an integer >= 0, got -1\."),
    (lambda: StuckActuator(made(), 2), ParameterError, r"`input` must be an integer >= 0 and <= 1, got 2\."),
    (lambda: StuckActuator(made(), 0, value=math.inf), ParameterError, r"`value` must be a finite number, got inf"),
    (lambda: StuckActuator(made(), 0, start=2.0, end=1.0), ParameterError,
     r"`end` must be after `start`, got start=2\.0 s, end=1\.0 s; pass end=None"),
    (lambda: ParameterDrift(made(), {"zz": 1.1}), ParameterError, r"unknown or non-numeric plant parameter 'zz'"),
    (lambda: ParameterDrift(made(), {"a8": -1.0}), ParameterError,
     r"`factors\['a8'\]` must be a finite number >= 0, got -1\.0\."),
    (lambda: ParameterDrift(made(), {"a8": 1.1}, duration=0), ParameterError,
     r"`duration` must be a finite number > 0 s, got 0\."),
])
def test_bad_wrapper_arguments(make_bad, error, match):
    with pytest.raises(error, match=match):
        make_bad()
