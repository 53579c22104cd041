"""Metrics on the true outputs under sensor noise: the envs report the noiseless observation, the loop judges it.

References are plain: the true outputs are rebuilt from the plant states the env reports (``info["state"]``)
and integrated with a hand-written trapezoid rule; nothing here calls ``compute_metrics``.
"""

import control
import gymnasium as gym
import numpy as np
import pytest

import plants
from neurocontrol.controllers.base import AbstractController
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.results import noiseless_metrics
from neurocontrol.simulation import seed_streams, simulate
from plants.helicopter.baselines import PIDController
from plants.iosys_env import IOSystemEnv

HOVER = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
TOL = {"rotor_speed": 1.4, "altitude": 0.02}


def lag_env(noise, state_bounds=None):
    """x' = -x + u, y = 2 x: a first-order lag whose output differs from its state (an output function)."""
    sys = control.nlsys(lambda t, x, u, p: -x + u, lambda t, x, u, p: 2.0 * x, states=["x"], inputs=["u"],
                        outputs=["y"], name="lag")
    return IOSystemEnv(sys, dt=0.05, substeps=2, x0=np.zeros(1), input_limits=[[-2.0, 2.0]],
                       observation_low=[-10.0], observation_high=[10.0], output_noise_std=noise,
                       state_bounds=state_bounds)


class Hold(AbstractController):
    """Holds one input: the lag settles at y = 2 u whatever the sensors say."""

    def __init__(self, u):
        super().__init__(input_limits=((-2.0, 2.0),), output_indices=(0,), dt=0.05)
        self.u = np.array([u])

    def _reset_impl(self, observation, reference, seed):
        pass

    def _step_impl(self, observation, reference):
        return self.u.copy()


def trapezoid(a, t):
    return float(sum(0.5 * (a[i] + a[i + 1]) * (t[i + 1] - t[i]) for i in range(len(t) - 1)))


def states_of(env, controller, reference, duration, seed, **kw):
    """Run ``simulate`` and keep the plant states the env reported at each step (the reset's included)."""
    states = []
    res = simulate(env, controller, reference, duration=duration, seed=seed,
                   callback=lambda k, info: states.append(np.array(info["env_info"]["state"])), **kw)
    return res, np.array(states)


def test_iosystem_env_reports_the_noiseless_observation_only_with_noise():
    env = lag_env(0.3)
    obs, info = env.reset(seed=1)
    assert info["noiseless_observation"].tolist() == [0.0]
    for _ in range(5):
        obs, _, _, _, info = env.step(np.array([1.0]))
        assert info["noiseless_observation"][0] == pytest.approx(2.0 * info["state"][0], abs=1e-15)
        assert obs[0] != info["noiseless_observation"][0]
    quiet = lag_env(0.0)
    _, info = quiet.reset(seed=1)
    assert "noiseless_observation" not in info
    assert "noiseless_observation" not in quiet.step(np.array([1.0]))[4]


def test_helicopter_env_reports_the_clipped_state_as_noiseless_observation():
    env = gym.make(plants.HELICOPTER_ID, sensor_noise_std=[1.0, 0.01, 0.05, 0.001, 0.1]).unwrapped
    lo, hi = env.observation_space.low, env.observation_space.high
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(info["noiseless_observation"], np.clip(info["state"], lo, hi))
    for _ in range(20):
        obs, _, _, _, info = env.step(np.array([170.0, -100.0]))
        np.testing.assert_array_equal(info["noiseless_observation"], np.clip(info["state"], lo, hi))
    assert np.any(obs != info["noiseless_observation"])
    assert "noiseless_observation" not in gym.make(plants.HELICOPTER_ID).unwrapped.reset(seed=3)[1]


def test_true_outputs_pass_where_the_noisy_measurement_fails():
    # the lag settles at y = 2 * 0.5 = 1 exactly; sensor noise of std 0.3 against a tolerance of 0.05
    ref = MultiSignal(signals=(Constant(value=1.0),))
    res, x = states_of(lag_env(0.3), Hold(0.5), ref, duration=20.0, seed=0, tolerance=0.05, final_window_s=2.0)
    m = res.metrics
    assert res.status == "completed" and not m["success"] and m["noiseless"]["success"]
    y_true = 2.0 * x[:, 0]                          # the states after each step
    e = np.abs(np.concatenate([[0.0], y_true]) - 1.0)   # the reset's output is 2 * 0 = 0
    true = m["noiseless"]["outputs"]["y"]
    assert true["iae"] == pytest.approx(trapezoid(e, res.time), rel=1e-12)
    assert true["rmse"] == pytest.approx(float(np.sqrt(np.mean(e ** 2))), rel=1e-12)
    assert true["max_abs_error"] == pytest.approx(1.0, rel=1e-12)
    assert m["outputs"]["y"]["iae"] > 2 * true["iae"]       # the measured error carries the noise
    assert set(true) == {"iae", "rmse", "max_abs_error", "final_error", "noise_rms"}


@pytest.mark.parametrize("noise, passes", [(0.3, False), (0.001, True)])
def test_the_sensor_noise_is_judged_as_a_perfect_tracker_would_be(noise, passes):
    # the noise is the measured output less the true one (2 x, rebuilt from the reported states), over the
    # final window: its RMS, and whether every sample of it is within the tolerance
    ref = MultiSignal(signals=(Constant(value=1.0),))
    res, x = states_of(lag_env(noise), Hold(0.5), ref, duration=5.0, seed=3, tolerance=0.05, final_window_s=1.0)
    y_true = np.concatenate([[0.0], 2.0 * x[:, 0]])
    n = res.outputs[:, 0] - y_true
    window = [i for i, t in enumerate(res.time) if t >= 4.0 - 1e-9]
    assert len(window) == 21                                  # 4.0, 4.05, ..., 5.0
    rms = float(np.sqrt(sum(n[i] ** 2 for i in window) / len(window)))
    true = res.metrics["noiseless"]
    assert true["outputs"]["y"]["noise_rms"] == pytest.approx(rms, rel=1e-12)
    assert true["outputs"]["y"]["noise_rms"] == pytest.approx(noise, rel=0.5)      # the env's std, 21 samples
    assert true["perfect_tracking_success"] is passes is all(abs(n[i]) <= 0.05 for i in window)


def test_the_noise_judgement_needs_the_measured_outputs_of_the_same_shape():
    from neurocontrol.exceptions import ShapeError

    t = np.arange(0.0, 1.0, 0.1)
    r = np.ones((t.size, 1))
    m = {"final_window_s": 0.5, "outputs": {"y": {"tolerance": 0.1, "settle_band": 0.1}}}
    args = (m, t, r, r, np.zeros((t.size - 1, 1)), np.zeros((t.size - 1, 1), bool))
    assert "perfect_tracking_success" not in noiseless_metrics(*args)
    # the window is t = 0.4 ... 0.9 (six samples); the measurement is off by 0.2 at its last four
    out = noiseless_metrics(*args, measured=r + 0.2 * (t >= 0.55)[:, None])
    assert out["perfect_tracking_success"] is False
    assert out["outputs"]["y"]["noise_rms"] == pytest.approx(0.2 * np.sqrt(4 / 6), rel=1e-12)
    assert noiseless_metrics(*args, measured=r + 0.2 * (t < 0.35)[:, None])["perfect_tracking_success"] is True
    with pytest.raises(ShapeError, match="measured"):
        noiseless_metrics(*args, measured=np.ones((t.size, 2)))


def test_true_outputs_fail_where_the_plant_is_off():
    ref = MultiSignal(signals=(Constant(value=1.5),))          # the held input settles at 1, off by 0.5
    res = simulate(lag_env(0.01), Hold(0.5), ref, duration=20.0, seed=0, tolerance=0.05, final_window_s=2.0)
    assert not res.metrics["noiseless"]["success"]
    assert res.metrics["noiseless"]["outputs"]["y"]["final_error"] == pytest.approx(0.5, abs=1e-6)


def test_a_terminated_run_fails_on_the_true_outputs_too():
    ref = MultiSignal(signals=(Constant(value=0.0),))           # within tolerance until the state bound stops it
    env = lag_env(0.01, state_bounds=[[-1.0, 0.2]])
    res = simulate(env, Hold(0.5), ref, duration=20.0, seed=0, tolerance=5.0, final_window_s=2.0)
    assert res.status == "failed" and res.meta["stop_kind"] == "terminated"
    assert res.metrics["noiseless"]["success"] is False and res.metrics["success"] is False


def test_noise_free_runs_carry_no_noiseless_metrics_and_noisy_helicopter_runs_do():
    ref = MultiSignal(signals=(Constant(value=1.0),))
    assert "noiseless" not in simulate(lag_env(0.0), Hold(0.5), ref, duration=1.0, seed=0).metrics
    noise = [0.2, 0.005, 0.01, 0.001, 0.05]
    res, x = states_of(gym.make(plants.HELICOPTER_ID, sensor_noise_std=noise), PIDController.from_plant(), HOVER,
                       duration=10.0, seed=2, tolerance=TOL)
    # the initial state: a fresh env reset with the loop's plant seed
    x0 = gym.make(plants.HELICOPTER_ID, sensor_noise_std=noise).reset(seed=seed_streams(2).plant)[1]["state"]
    alt = np.abs(np.concatenate([[x0[1]], x[:, 1]]) - 1.0)
    true = res.metrics["noiseless"]["outputs"]["altitude"]
    assert true["iae"] == pytest.approx(trapezoid(alt, res.time), rel=1e-12)
    assert true["max_abs_error"] == pytest.approx(np.max(alt), rel=1e-12)
    assert res.metrics["outputs"]["altitude"]["iae"] > true["iae"]


def test_noiseless_metrics_keeps_the_measured_judgement_settings():
    t = np.arange(0.0, 4.0, 0.1)
    r = np.ones((t.size, 2))
    y = r + np.array([0.03, 0.0])                  # output 0 off by 0.03, output 1 on the reference
    inputs, sat = np.zeros((t.size - 1, 1)), np.zeros((t.size - 1, 1), bool)
    measured = {"final_window_s": 1.0, "outputs": {"a": {"tolerance": 0.05, "settle_band": 0.05},
                                                   "b": {"tolerance": 0.01, "settle_band": 0.01}}}
    assert noiseless_metrics(measured, t, y, r, inputs, sat)["success"]
    measured["outputs"]["a"]["tolerance"] = 0.02
    out = noiseless_metrics(measured, t, y, r, inputs, sat)
    assert not out["success"] and list(out["outputs"]) == ["a", "b"]
    assert out["outputs"]["a"]["final_error"] == pytest.approx(0.03)


def test_cli_run_and_sweep_summary_report_the_true_outputs(capsys):
    from pathlib import Path

    from neurocontrol import cli
    from neurocontrol.experiments.sweeps import sweep
    from neurocontrol.scenario import Scenario

    hover = str(Path(__file__).parents[1] / "scenarios" / "hover_pid.toml")
    noise = "plant.disturbances.sensor_noise_std=[0.4,0.004,0.02,0.0004,0.01]"
    assert cli.main(["run", hover, "--seed", "2", "--set", noise]) == 0
    out = capsys.readouterr().out
    assert "\ntrue       yes  (judged on the outputs without sensor noise" in out
    noise_line = next(line for line in out.splitlines() if line.startswith("noise      "))
    assert "rotor_speed 0.4" in noise_line and "x tolerance)" in noise_line        # the noise std is 0.4 rad/s
    assert noise_line.endswith("perfect tracking would pass on these measurements") or \
        noise_line.endswith("perfect tracking would fail on these measurements")
    assert cli.main(["run", hover, "--seed", "2", "--set", "run.duration=2"]) == 0
    assert "\ntrue " not in capsys.readouterr().out                  # no noise, no line
    sc = Scenario.from_toml(hover).set("plant.disturbances.sensor_noise_std", [0.4, 0.004, 0.02, 0.0004, 0.01])
    sw = sweep(sc.set("run.duration", 2.0), [0, 1], workers=1)
    s = sw.summary()
    assert s["success_true_rate"] == sum(m["noiseless"]["success"] for m in sw.metrics) / 2
    assert s["perfect_tracking_rate"] == sum(m["noiseless"]["perfect_tracking_success"] for m in sw.metrics) / 2
    from neurocontrol.experiments.sweeps import compare

    row = compare(sc.set("run.duration", 2.0), ["pid"], [0, 1], workers=1).table()[0]
    assert row["success_true_rate"] == s["success_true_rate"] and row["perfect_tracking_rate"] == s["perfect_tracking_rate"]
    assert "success_true_rate" not in compare(Scenario.from_toml(hover).set("run.duration", 2.0), ["pid"], [0],
                                              workers=1).table()[0]
    for m in sw.metrics:                                       # a sweep saved before the noise was judged
        del m["noiseless"]["perfect_tracking_success"]
    assert "perfect_tracking_rate" not in sw.summary() and "success_true_rate" in sw.summary()
    assert "success_true_rate" not in sweep(Scenario.from_toml(hover).set("run.duration", 2.0), [0], workers=1).summary()


def test_a_noiseless_observation_of_the_wrong_shape_is_named():
    from neurocontrol.exceptions import ShapeError

    class Odd(gym.Wrapper):
        def reset(self, **kw):
            obs, info = self.env.reset(**kw)
            return obs, {**info, "noiseless_observation": np.zeros(3)}

    ref = MultiSignal(signals=(Constant(value=1.0),))
    with pytest.raises(ShapeError, match=r"`info\['noiseless_observation'\]` must have shape \(1,\), got \(3,\)"):
        simulate(Odd(lag_env(0.1)), Hold(0.5), ref, duration=1.0, seed=0)
