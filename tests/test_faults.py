"""Fault wrappers (bias, dropout, delay, stuck actuator, drift), the actuator_fault event and [plant.faults]."""

import gymnasium as gym
import numpy as np
import pytest

import plants  # noqa: F401
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.simulation.faults import ActuatorFault, FaultsConfig
from plants.wrappers import MeasurementDelay, ParameterDrift, SensorBias, SensorDropout, StuckActuator

X0 = [140.0, 1.0, 0.0, 0.12301, 0.0]


def make():
    return gym.make("neurocontrol/Helicopter-v0")


def test_bias_window_and_clipping():
    env = SensorBias(make(), bias=[0, 0.1, 0, 0, 100.0], start=0.02, end=0.04)
    obs0, _ = env.reset(seed=0, options={"initial_state": X0})
    u = env.unwrapped.trim_action
    o1, *_ = env.step(u)
    o2, *_ = env.step(u)
    o4 = [env.step(u)[0] for _ in range(2)][-1]
    assert obs0[1] == pytest.approx(1.0) and o1[1] == pytest.approx(1.0, abs=1e-3)
    assert o2[1] == pytest.approx(1.1, abs=1e-3) and o2[4] == env.observation_space.high[4]
    assert o4[1] == pytest.approx(1.0, abs=1e-3)


def test_dropout_rate_seeding_and_first_sample():
    def drops(seed, p=0.05, n=4000):
        env = SensorDropout(make().env, probability=p)     # without the time limit
        obs, _ = env.reset(seed=seed, options={"initial_state": X0})
        assert np.all(np.isfinite(obs))
        out = [bool(np.isnan(env.step(env.unwrapped.trim_action)[0]).all()) for _ in range(n)]
        return np.array(out)

    a, b, c = drops(3), drops(3), drops(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and 0.035 < a.mean() < 0.065


def test_dropout_does_not_shift_the_plant_noise_stream():
    def noisy(wrap):
        env = gym.make("neurocontrol/Helicopter-v0", sensor_noise_std=[0.1, 0.01, 0, 0, 0])
        env = SensorDropout(env, probability=0.5) if wrap else env
        env.reset(seed=5, options={"initial_state": X0})
        return [env.step(env.unwrapped.trim_action)[4]["state"] for _ in range(20)], env.unwrapped.np_random.random()

    assert noisy(True)[1] == noisy(False)[1]


def test_delay():
    env = MeasurementDelay(make(), 2)
    obs0, _ = env.reset(seed=0, options={"initial_state": [150.0, 1.0, 0.0, 0.12, 0.0]})
    u = env.unwrapped.trim_action
    seen, true = [], [obs0]
    for _ in range(5):
        o, *_, info = env.step(u)
        seen.append(o)
        true.append(info["state"])
    np.testing.assert_array_equal(seen[0], obs0)
    np.testing.assert_array_equal(seen[1], obs0)
    np.testing.assert_allclose(seen[4], true[3])


def test_stuck_actuator_holds_then_frees():
    env = StuckActuator(make(), 1, start=0.02, end=0.05)
    env.reset(seed=0, options={"initial_state": X0})
    got = []
    for k in range(7):
        got.append(env.step(np.array([170.0, -90.0 - k]))[4]["action"][1])
    assert got[:2] == [-90.0, -91.0] and got[2:5] == [-91.0] * 3 and got[5:] == [-95.0, -96.0]


def test_drift_ramps_and_reset_restores():
    env = ParameterDrift(make(), {"a8": 1.5}, start=0.01, duration=0.04)
    env.reset(seed=0, options={"initial_state": X0})
    a8 = env.unwrapped.params.a8
    vals = []
    for _ in range(7):
        env.step(env.unwrapped.trim_action)
        vals.append(env.unwrapped.params.a8 / a8)
    np.testing.assert_allclose(vals, [1.0, 1.0, 1.125, 1.25, 1.375, 1.5, 1.5])
    env.reset(seed=0)
    assert env.unwrapped.params.a8 == a8


def test_actuator_fault_event_in_a_scenario():
    sc = Scenario.from_toml("scenarios/fault_actuator_loss.toml").set("events.0.time", "0.5").set("run.duration", "1")
    res = run_scenario(sc, seed=0)
    assert res.meta["events"][0]["after"] == [1.0, 0.7] and res.status == "completed"


def test_faults_table_round_trips_and_builds_the_wrappers():
    sc = Scenario.from_toml("scenarios/hover_pid.toml")
    for key, value in (("plant.faults.delay_steps", "2"), ("plant.faults.dropout.probability", "0.1"),
                       ("plant.faults.sensor_bias.bias", "[0, 0.01, 0, 0, 0]"),
                       ("plant.faults.stuck_actuator", "{input = 0, start = 1.0, end = 1.5}"),
                       ("plant.faults.drift.factors", "{a8 = 1.2}")):
        sc = sc.set(key, value)
    assert Scenario.from_toml_text(sc.to_toml()) == sc
    env = sc.build(0).env
    chain = []
    while isinstance(env, gym.Wrapper):
        chain.append(type(env).__name__)
        env = env.env
    assert chain[:5] == ["SensorDropout", "MeasurementDelay", "SensorBias", "StuckActuator", "ParameterDrift"]
    res = run_scenario(sc.set("run.duration", "2").set("plant.faults.dropout.probability", "0.0"), seed=1)
    assert res.status == "completed" and np.all(np.isfinite(res.inputs))
    # with lost samples the PID baseline holds its last input (AbstractController.step): the run completes
    res = run_scenario(sc.set("run.duration", "2"), seed=1)
    assert res.status == "completed" and np.all(np.isfinite(res.inputs))


@pytest.mark.parametrize("make_bad, error, match", [
    (lambda: SensorBias(make(), bias=[0.0, 1.0]), Exception, r"`bias` must have shape \(5,\), got \(2,\)"),
    (lambda: SensorDropout(make(), probability=1.5), ParameterError, r"`probability` must be a finite number >= 0 and <= 1, got 1\.5"),
    (lambda: MeasurementDelay(make(), -1), ParameterError, r"`steps` must be an integer >= 0, got -1"),
    (lambda: StuckActuator(make(), 2), ParameterError, r"`input` must be an integer >= 0 and <= 1, got 2"),
    (lambda: StuckActuator(make(), 0, start=2.0, end=1.0), ParameterError, r"`end` must be after `start`"),
    (lambda: ParameterDrift(make(), {"zz": 1.1}), ParameterError, r"unknown or non-numeric plant parameter 'zz'"),
    (lambda: ParameterDrift(make(), {"a8": 1.1}, duration=0), ParameterError, r"`duration` must be a finite number > 0 s, got 0"),
    (lambda: ActuatorFault(time=1.0, effectiveness=(1.0, 1.5)), ParameterError,
     r"`effectiveness\[1\]` must be a finite number >= 0 and <= 1, got 1\.5"),
    (lambda: FaultsConfig(delay_steps=-2), ParameterError, r"`delay_steps` must be an integer >= 0, got -2"),
])
def test_bad_fault_settings(make_bad, error, match):
    with pytest.raises(error, match=match):
        make_bad()


def test_bad_fault_keys_in_files_name_the_key():
    sc = Scenario.from_toml("scenarios/hover_pid.toml")
    with pytest.raises(ScenarioError, match=r"`plant.faults.dropout.probability` must be a finite number >= 0 and <= 1, got 2\.0"):
        sc.set("plant.faults.dropout.probability", "2.0")
    with pytest.raises(ScenarioError, match=r"unknown key `plant.faults.dealy_steps` \(did you mean `delay_steps`\?\)"):
        sc.set("plant.faults.dealy_steps", "2")
    with pytest.raises(ScenarioError, match=r"\[plant\] \(kind 'helicopter'\): `bias` must have shape \(5,\)"):
        sc.set("plant.faults.sensor_bias.bias", "[0.1]").build(0)
    bad = sc.set("events", "[{kind = 'actuator_fault', time = 0.1, effectiveness = [1.0]}]")
    with pytest.raises(ParameterError, match=r"`effectiveness` must have one entry per input \(2\), got 1"):
        run_scenario(bad.set("run.duration", "1"))
