"""Baseline controllers on the helicopter: LQR gain vs a direct Riccati solution, the hover task,
actuator limits, anti-windup and argument errors."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import scipy.linalg

import plants
from neurocontrol.exceptions import ParameterError, ShapeError
from plants.helicopter import linearize, trim
from plants.helicopter.baselines import LQRController, PIDController, PIDGains

SETPOINT = np.array([140.0, 1.0])


def fly(ctrl, seed, seconds=30.0, **env_kwargs):
    env = gym.make(plants.HELICOPTER_ID, **env_kwargs)
    obs, info = env.reset(seed=seed)
    ctrl.reset(obs, info["setpoint"])
    states, inputs = [info["state"]], []
    for _ in range(int(round(seconds / env.unwrapped.dt))):
        u = ctrl.step(obs, info["setpoint"])
        obs, _, terminated, _, info = env.step(u)
        assert not terminated
        states.append(info["state"])
        inputs.append(u)
    return np.array(states), np.array(inputs)


def zoh(A, B, dt):
    """Zero-order-hold discretisation by the block-matrix exponential (independent of control.c2d)."""
    n, m = B.shape
    M = np.zeros((n + m, n + m))
    M[:n, :n], M[:n, n:] = A, B
    E = scipy.linalg.expm(M * dt)
    return E[:n, :n], E[:n, n:]


def test_lqr_gain_matches_direct_riccati_solution():
    dt = 0.01
    Q = np.diag(1.0 / np.array([5.0, 0.1, 0.2, 0.02, 2.0, 2.0, 0.05]) ** 2)
    R = np.diag(1.0 / np.array([50.0, 150.0]) ** 2)
    ctrl = LQRController.from_plant(dt=dt)
    tp = trim(140.0)
    A, B, _, _ = linearize(tp.x, tp.u)
    Ad, Bd = zoh(A, B, dt)
    Aa = np.block([[Ad, np.zeros((5, 2))], [dt * np.eye(2, 5), np.eye(2)]])
    Ba = np.vstack([Bd, np.zeros((2, 2))])
    P = scipy.linalg.solve_discrete_are(Aa, Ba, Q, R)
    K = np.linalg.solve(R + Ba.T @ P @ Ba, Ba.T @ P @ Aa)
    np.testing.assert_allclose(ctrl.K, K, rtol=1e-6, atol=1e-9 * np.abs(K).max())
    assert np.all(np.abs(np.linalg.eigvals(Aa - Ba @ K)) < 1.0)
    # design() with the same weights gives the same gain and exposes the model it used
    K2, Ad2, Bd2, _, _ = LQRController.design(A, B, dt, Q, R)
    np.testing.assert_allclose(Ad2, Ad, atol=1e-12)
    np.testing.assert_allclose(K2, ctrl.K, rtol=1e-12)
    np.testing.assert_array_equal(ctrl.trim_input, tp.u)


@pytest.mark.parametrize("make", [PIDController.from_plant, LQRController.from_plant], ids=["pid", "lqr"])
@pytest.mark.parametrize("seed", [0, 3, 8])
def test_hover_task_is_held_over_the_last_5_seconds(make, seed):
    ctrl = make()
    x, u = fly(ctrl, seed)
    x0 = x[0]
    assert 120 <= x0[0] <= 160 and 0.2 <= x0[1] <= 1.5
    last = x[-501:]
    assert np.abs(last[:, 0] - 140.0).max() <= 1.4
    assert np.abs(last[:, 1] - 1.0).max() <= 0.02
    lim = ctrl.input_limits
    assert np.all(u >= lim[:, 0]) and np.all(u <= lim[:, 1])
    iae = 0.01 * np.abs(x[1:, 1] - 1.0).sum()
    assert iae < 0.6


def test_lqr_holds_hover_with_sensor_noise_and_gusts():
    ctrl = LQRController.from_plant()
    x, _ = fly(ctrl, 1, gust_rate=0.5, gust_amplitude=0.5, sensor_noise_std=[0.2, 0.002, 0.005, 2e-4, 0.01])
    last = x[-501:]
    assert np.abs(last[:, 0] - 140.0).mean() < 1.4 and np.abs(last[:, 1] - 1.0).mean() < 0.05


@pytest.mark.parametrize("make", [PIDController.from_plant, LQRController.from_plant], ids=["pid", "lqr"])
def test_outputs_respect_limits_and_integrators_do_not_wind_up(make):
    ctrl = make()
    obs = trim(140.0).x
    obs[0] = 80.0                            # rotor far too slow: throttle saturates high
    obs[1] = 0.0
    ctrl.reset(obs, SETPOINT)
    for _ in range(500):
        u = ctrl.step(obs, SETPOINT)
        assert ctrl.input_limits[0, 0] <= u[0] <= ctrl.input_limits[0, 1]
        assert ctrl.input_limits[1, 0] <= u[1] <= ctrl.input_limits[1, 1]
    assert u[0] == ctrl.input_limits[0, 1]
    wound = ctrl.integrators
    assert abs(wound[0]) < 1.0                # frozen while saturated (60 rad/s error * 5 s would be 300)
    # once the error reverses, the throttle leaves saturation at once
    obs[0] = 150.0
    assert ctrl.step(obs, SETPOINT)[0] < ctrl.input_limits[0, 1]


def test_controllers_track_another_rotor_setpoint():
    for ctrl in (PIDController.from_plant(), LQRController.from_plant()):
        env = gym.make(plants.HELICOPTER_ID)
        obs, info = env.reset(seed=2, options={"setpoint": (125.0, 0.8)})
        ctrl.reset(obs, info["setpoint"])
        for _ in range(3000):
            obs, *_, info = env.step(ctrl.step(obs, info["setpoint"]))
        assert abs(info["state"][0] - 125.0) < 0.1 and abs(info["state"][1] - 0.8) < 0.005


def test_bad_arguments_raise_named_errors():
    with pytest.raises(ParameterError, match=r"`kp_alt` must be a finite number >= 0, got -1\.0\."):
        PIDController.from_plant(gains=PIDGains(kp_alt=-1.0))
    with pytest.raises(ParameterError, match=r"`gains` must be a PIDGains \(e\.g\. PIDGains\(kp_alt=0\.05\)\), got dict\."):
        PIDController.from_plant(gains={"kp_alt": 0.05})
    with pytest.raises(ParameterError, match=r"`pitch_limits` must have lower < upper, got \[0\.2, 0\.1\]\."):
        PIDController(trim_input=[170, -96], trim_collective=0.12, servo_gain=2745.0, pitch_limits=(0.2, 0.1))
    with pytest.raises(ParameterError, match=r"`servo_gain` must be a finite number > 0, got 0\.0\."):
        PIDController(trim_input=[170, -96], trim_collective=0.12, servo_gain=0.0)
    with pytest.raises(ShapeError, match=r"`K` must have shape \(2, 7\), got \(2, 5\)\."):
        LQRController(K=np.zeros((2, 5)), trim_state=trim(140.0).x, trim_input=trim(140.0).u)
    with pytest.raises(ParameterError, match=r"`Q` must be symmetric positive semi-definite\."):
        LQRController.from_plant(Q=-np.ones(7))
    with pytest.raises(ParameterError, match=r"`R` must be symmetric positive definite\."):
        LQRController.from_plant(R=[1.0, 0.0])
    with pytest.raises(ParameterError, match=r"`integrator_limit` must be positive, got \[0\.0, 1\.0\]\."):
        LQRController.from_plant(integrator_limit=(0.0, 1.0))
    ctrl = LQRController.from_plant()
    with pytest.raises(ParameterError, match=r"`observation` must be the full helicopter state of shape \(5,\), got \(3,\)\."):
        ctrl.reset(np.zeros(3), SETPOINT)
    with pytest.raises(ShapeError, match=r"`reference` must have shape \(2,\), got \(3,\)\."):
        ctrl.reset(trim(140.0).x, np.zeros(3))


def test_docstring_examples_run():
    import doctest

    import plants.helicopter.baselines

    result = doctest.testmod(plants.helicopter.baselines, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_pid_gains_are_one_dataclass_with_the_published_defaults():
    published = {"kp_rotor": 10.0, "ki_rotor": 20.0, "kp_alt": 0.062, "ki_alt": 0.041, "kd_alt": 0.03,
                 "kp_pitch": 1000.0, "kd_pitch": 20.0}
    assert dataclasses.asdict(PIDGains()) == published
    from plants.helicopter.kinds import PIDConfig, WarmupPIDConfig

    for cls in (PIDConfig, WarmupPIDConfig):     # the scenario configs take their gains from PIDGains
        assert issubclass(cls, PIDGains) and cls().gains == PIDGains()
    ctrl = PIDController.from_plant()
    assert ctrl.gains == PIDGains() and (ctrl.kp_alt, ctrl.kd_pitch) == (0.062, 20.0)
    g = PIDGains(kp_alt=1)                       # stored as a float
    assert isinstance(g.kp_alt, float) and g.kp_alt == 1.0
    with pytest.raises(ParameterError, match=r"`kd_pitch` must be a finite number >= 0, got nan\."):
        PIDGains(kd_pitch=float("nan"))
