"""The helicopter PID's start gains (``start_gains`` for ``start_duration`` s after reset): the law written out,
a continuous switch, checkpoints, and named errors (controller and ``[controller.warmup_pid]`` table)."""

import dataclasses

import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario
from plants.helicopter.baselines import PIDController, PIDGains
from plants.helicopter.kinds import WarmupPIDConfig
from tests.test_baselines import SETPOINT, fly

TRIM = dict(trim_input=(170.0, -100.0), trim_collective=0.12, servo_gain=2700.0)
START = PIDGains(kp_rotor=20.0, ki_rotor=40.0, kp_alt=0.124, kd_alt=0.045, ki_alt=0.08)
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def written_out(observations, main: PIDGains, start: PIDGains, start_steps: int, dt: float = 0.01):
    """The PID law with each integral action summed as ``ki(t) e(t) dt`` under the gains in force at t.

    For observations that saturate nothing (checked), so the anti-windup never acts.
    """
    act_w = act_z = 0.0
    out = []
    for k, y in enumerate(observations):
        g = start if k < start_steps else main
        e_w, e_z = SETPOINT[0] - y[0], SETPOINT[1] - y[1]
        u0 = TRIM["trim_input"][0] + g.kp_rotor * e_w + act_w
        th = TRIM["trim_collective"] + g.kp_alt * e_z + act_z - g.kd_alt * y[2]
        assert 0.0175 < th < 0.245 and 0.0 < u0 < 400.0
        u1 = TRIM["trim_input"][1] + TRIM["servo_gain"] * (th - TRIM["trim_collective"]) \
            + g.kp_pitch * (th - y[3]) - g.kd_pitch * y[4]
        assert -600.0 < u1 < 600.0
        act_w += g.ki_rotor * e_w * dt
        act_z += g.ki_alt * e_z * dt
        out.append((u0, u1))
    return np.array(out)


def observations(n, seed=0):
    """Measurements near the hover (140 rad/s, 1 m, collective 0.12 rad), small random moves."""
    rng = np.random.default_rng(seed)
    base = np.array([140.0, 1.0, 0.0, 0.12, 0.0])
    return base + rng.normal(scale=[1.0, 0.05, 0.05, 0.002, 0.05], size=(n, 5))


def pid(**kw):
    return PIDController(**TRIM, **kw)


def test_start_gains_follow_the_law_written_out_and_switch_without_a_jump():
    obs = observations(80)
    ctrl = pid(start_gains=START, start_duration=0.3)
    assert ctrl.start_steps == 30
    ctrl.reset(obs[0], SETPOINT)
    got = np.array([ctrl.step(y, SETPOINT) for y in obs])
    want = written_out(obs, PIDGains(), START, 30)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert ctrl.gains == PIDGains() and ctrl.kp_rotor == 10.0        # after the start: the gains
    # the integral actions carry on: with the error held at zero over the switch, the input does not move
    still = np.tile([140.0, 1.0, 0.0, 0.12, 0.0], (40, 1))
    ctrl = pid(start_gains=START, start_duration=0.3)
    ctrl.reset(obs[0], SETPOINT)
    for y in obs[:20]:
        ctrl.step(y, SETPOINT)
    held = np.array([ctrl.step(y, SETPOINT) for y in still])          # steps 20..59 cross the switch at 30
    assert np.ptp(held, axis=0).max() < 1e-9 and np.any(ctrl.integrators != 0.0)


def test_a_start_with_the_same_gains_flies_exactly_as_none():
    _, plain = fly(pid(), seed=3, seconds=2.0)
    _, same = fly(pid(start_gains=PIDGains(), start_duration=0.5), seed=3, seconds=2.0)
    np.testing.assert_array_equal(plain, same)
    _, stiff = fly(pid(start_gains=START, start_duration=0.5), seed=3, seconds=2.0)
    assert not np.array_equal(plain[:50], stiff[:50])


def test_a_checkpoint_in_the_start_continues_exactly_and_a_state_without_steps_is_after_it():
    obs = observations(90, seed=1)
    a = pid(start_gains=START, start_duration=0.5)
    a.reset(obs[0], SETPOINT)
    for y in obs[:20]:
        a.step(y, SETPOINT)
    state = a.get_state()
    assert state["steps"] == 20 and set(state) == {"integrators", "steps"}
    rest_a = np.array([a.step(y, SETPOINT) for y in obs[20:]])
    b = pid(start_gains=START, start_duration=0.5)
    b.reset(obs[5] + 1.0, SETPOINT)
    b.set_state(state)
    np.testing.assert_array_equal(np.array([b.step(y, SETPOINT) for y in obs[20:]]), rest_a)
    c = pid(start_gains=START, start_duration=0.5)
    c.reset(obs[0], SETPOINT)
    c.set_state({"integrators": np.zeros(2)})             # a checkpoint of a PID without a start
    assert c.kp_rotor == PIDGains().kp_rotor
    assert set(pid().get_state()) == {"integrators"}      # the format without a start is unchanged


@pytest.mark.parametrize("at", [49, 50, 51])
def test_a_checkpoint_at_the_switch_continues_exactly(at):
    # the switch (gains, and the integral actions carried over) happens in the step after start_steps of them
    obs = observations(90, seed=2)
    a = pid(start_gains=START, start_duration=0.5)
    a.reset(obs[0], SETPOINT)
    for y in obs[:at]:
        a.step(y, SETPOINT)
    state = a.get_state()
    rest_a = np.array([a.step(y, SETPOINT) for y in obs[at:]])
    b = pid(start_gains=START, start_duration=0.5)
    b.reset(obs[0], SETPOINT)
    b.set_state(state)
    np.testing.assert_array_equal(np.array([b.step(y, SETPOINT) for y in obs[at:]]), rest_a)


def test_the_warmup_table_builds_the_start_and_the_neural_hover_flies_one():
    cfg = WarmupPIDConfig(start_duration=0.3, start_gains={"kp_rotor": 20.0, "kd_alt": 0.045})
    assert cfg.start() == dataclasses.replace(PIDGains(), kp_rotor=20.0, kd_alt=0.045)
    assert WarmupPIDConfig().start() is None and WarmupPIDConfig(start_duration=0.0, start_gains={}).start() is None
    setup = Scenario.from_toml(ROOT / "scenarios" / "neural_hover.toml").build(0)
    warm = setup.controller.warmup_controller
    assert warm.start_steps == 30 and warm.start_gains.kp_alt == 0.124 and warm.start_gains.ki_alt == 0.041
    sc = Scenario.from_toml(ROOT / "scenarios" / "neural_hover.toml")
    assert Scenario.from_dict(sc.to_dict()).sha256 == sc.sha256      # the keys survive a round trip


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_duration=0.3), r"`start_duration` \(0\.3 s\) needs `start_gains`"),
    (dict(start_gains={"kp_rotor": 20.0}, start_duration=0.3), r"`start_gains` must be a PIDGains"),
    (dict(start_gains=START, start_duration=-1.0), r"start_duration"),
])
def test_bad_start_arguments_raise_named_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        pid(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_duration=0.3), r"`start_duration` \(0\.3 s\) needs `start_gains`"),
    (dict(start_duration=0.3, start_gains={"kp_rotr": 20.0}), r"unknown gains \['kp_rotr'\]; the gains are"),
    (dict(start_duration=0.3, start_gains=[20.0]), r"`start_gains` must be a table of gains by name"),
    (dict(start_duration=0.3, start_gains={"kp_rotor": -1.0}), r"start_gains\.kp_rotor"),
    (dict(start_duration=-0.3, start_gains={"kp_rotor": 20.0}), r"start_duration"),
    (dict(start_gains={"kp_rotor": 20.0}), r"`start_gains` needs `start_duration`"),
])
def test_bad_start_keys_of_the_warmup_table_raise_named_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        WarmupPIDConfig(**kwargs)


def test_a_neural_hover_checkpoint_file_in_the_warmup_start_restores_exactly(tmp_path):
    """The warm-up PID's steps travel in the neural controller's checkpoint file (``warmup.steps``)."""
    from neurocontrol.checkpoint import load_checkpoint, save_checkpoint
    from tests.restore_check import fly as fly_scenario

    sc = Scenario.from_toml(ROOT / "scenarios" / "neural_hover.toml")
    ref = SETPOINT
    env, a, obs = fly_scenario(sc, 0, 12, ref)           # inside the PID's 0.3 s start
    save_checkpoint(tmp_path / "c.npz", a)
    b = sc.build(0).controller
    b.reset(obs, ref, seed=0)
    load_checkpoint(tmp_path / "c.npz", b)
    assert b.warmup_controller.get_state()["steps"] == 12
    for _ in range(30):                                   # across the switch at step 30
        u = a.step(obs, ref)
        np.testing.assert_array_equal(b.step(obs, ref), u)
        obs, *_ = env.step(u)
