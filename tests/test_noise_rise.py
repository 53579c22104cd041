"""A rise of the sensor noise: the fault wrapper, the fast noise estimate that sets the identifier's R, and the
change detector restarted for the new noise regime (docs/neural_controller.md, "A rise of the sensor noise").

References are plain numpy: medians of second differences computed from the raw series with ``np.median``.
"""

import gymnasium as gym
import numpy as np
import pytest

import plants  # noqa: F401
from neurocontrol.controllers.measurement_filter import (
    NOISE_FAST,
    NOISE_RISE,
    NOISE_WHITE,
    NOISE_WINDOW,
    MeasurementFilter,
)
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.nets.ekf import DecoupledEKF, IncrementalConfig, IncrementalIdentifier
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.simulation.faults import SensorNoiseConfig
from plants.wrappers import SensorNoise

X0 = [140.0, 1.0, 0.0, 0.12301, 0.0]
MAD = 1.482602218505602


def plain_var(y, k, last):
    """(1.4826 median |d2|)^2 / 6 over the ``last`` second differences up to sample k (numpy's median)."""
    d2 = np.abs(y[2:k + 1] - 2 * y[1:k] + y[:k - 1])[-last:]
    return (MAD * np.median(d2, axis=0)) ** 2 / 6.0


def test_fast_estimate_and_r_match_a_plain_reference():
    rng = np.random.default_rng(4)
    T, n = 400, 3
    std = np.tile([1e-3, 2e-3, 5e-4], (T, 1))
    std[250:, :2] *= 10.0                          # two of three signals get ten times noisier at sample 250
    y = np.cumsum(1e-3 * rng.standard_normal((T, n)), axis=0) * 0.01 + std * rng.standard_normal((T, n))
    f = MeasurementFilter(n)
    floor, scale = np.full(n, 1e-9), 5.0
    R = np.zeros(n)
    risen_at = []
    lasting = False
    for k in range(T):
        f.measure(y[k])
        if k < NOISE_WINDOW + 2:
            continue
        risen = f.scaled_r(floor, scale, R)
        slow, fast = plain_var(y, k, NOISE_WINDOW), plain_var(y, k, NOISE_FAST)
        np.testing.assert_array_equal(f.noise_var, slow)
        np.testing.assert_array_equal(f.fast_var, fast)
        d = (y[2:k + 1] - 2 * y[1:k] + y[:k - 1])[-NOISE_FAST:]           # signed, oldest first
        white = np.sum(d[1:] * d[:-1], axis=0) < NOISE_WHITE * np.sum(d * d, axis=0)
        sized = (fast > NOISE_RISE * slow) & (scale * fast > floor)
        up = sized & (white | lasting)                  # whiteness starts a rise, size keeps it
        assert risen == (2 * up.sum() > n), k
        lasting = risen
        want = np.where(risen & sized, scale * fast, np.maximum(floor, scale * slow))
        np.testing.assert_array_equal(R, want)
        if risen:
            risen_at.append(k)
    assert risen_at and risen_at[0] <= 250 + NOISE_FAST // 2 + 2      # seen within about half the fast window
    assert all(k < 250 + NOISE_WINDOW for k in risen_at)             # until the window's estimate has caught up
    assert not [k for k in risen_at if k < 250]                         # no false rise on the stationary part


def rise_flags(y):
    """The flag of ``scaled_r`` at every sample of ``y`` (T, n), floor 1e-12, scale 5; and the final R."""
    f = MeasurementFilter(y.shape[1])
    R = np.zeros(y.shape[1])
    flags = []
    for row in y:
        f.measure(row)
        flags.append(f.scaled_r(np.full(y.shape[1], 1e-12), 5.0, R))
    return np.array(flags), R, f


def test_one_signal_alone_does_not_make_a_rise():
    y = 1e-3 * np.random.default_rng(1).standard_normal((300, 3))
    y[200:, 0] *= 20.0                                      # one of three signals only
    flags, R, f = rise_flags(y)
    assert not flags.any()
    np.testing.assert_array_equal(R, np.maximum(1e-12, 5.0 * f.noise_var))


def test_a_smooth_fast_move_is_not_taken_for_noise_and_white_noise_as_rough_is():
    """Three signals swing fast and smoothly from sample 300 (roughness without noise): no rise. White noise
    whose second differences are as large: a rise."""
    t = np.arange(400) * 0.01
    base = 1e-4 * np.random.default_rng(2).standard_normal((400, 3))
    smooth = base.copy()                                   # starting smoothly: a measured output does not jump
    smooth[300:] += (1.0 - np.cos(40.0 * (t[300:, None] - t[300]) * (1.0 + 0.1 * np.arange(3)))) * 0.05
    flags, _, f = rise_flags(smooth)
    assert not flags[300:330].any()
    rough = f.fast_var.copy()
    assert rough.min() > NOISE_RISE * 1e-7                 # it is rough: only the whiteness tells it from noise
    noisy = base.copy()
    noisy[300:] += np.sqrt(rough) * np.random.default_rng(3).standard_normal((100, 3))
    flags, _, _ = rise_flags(noisy)
    assert flags[300:330].any()


def test_restart_change_detector_starts_the_means_afresh():
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=0, output_range=[[-1.0], [1.0]],
                            input_range=[[-1.0], [1.0]])
    ident = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=1e-4, change_gate=30.0), rng=0)
    rng = np.random.default_rng(0)
    y = 0.0
    for _ in range(200):
        u = rng.uniform(-1, 1)
        y_next = 0.9 * y + 0.1 * u
        ident.update([y], [u], [y_next])
        y = y_next
    assert ident._change[3] == 200
    ident.restart_change_detector()
    assert not ident._change.any()
    u = 0.5
    y_next = 0.9 * y + 0.1 * u + 0.3                     # a large error: z far above the history
    ident.update([y], [u], [y_next])
    fast, slow, on, n = ident._change
    assert n == 1 and fast == slow and on == 0.0         # a fresh start: no history to exceed


def test_sensor_noise_wrapper_window_seeding_and_true_observation():
    def run(seed, start=0.05, end=0.1):
        env = SensorNoise(gym.make("neurocontrol/Helicopter-v0").env, std=[1.0, 0.01, 0.05, 0.001, 0.02],
                          start=start, end=end)
        obs, info = env.reset(seed=seed, options={"initial_state": X0})
        out = [(obs, info)]
        for _ in range(14):
            obs, _, _, _, info = env.step(env.unwrapped.trim_action)
            out.append((obs, info))
        return out

    a, b, c = run(3), run(3), run(4)
    for k, (obs, info) in enumerate(a):
        clean = info["noiseless_observation"]
        np.testing.assert_array_equal(clean, np.clip(info["state"], *(
            gym.make("neurocontrol/Helicopter-v0").observation_space.low,
            gym.make("neurocontrol/Helicopter-v0").observation_space.high)))
        noisy = 5 <= k < 10                             # t = k * 0.01 s in [0.05, 0.1)
        assert np.any(obs != clean) == noisy, k
        np.testing.assert_array_equal(obs, b[k][0])
    assert not np.array_equal(a[6][0], c[6][0])


def test_sensor_noise_in_a_scenario_and_its_errors():
    sc = Scenario.from_toml("scenarios/hover_pid.toml").set("plant.faults.sensor_noise.std", "[0.4, 0.004, 0.02, 0.0004, 0.01]")
    sc = sc.set("plant.faults.sensor_noise.start", "1.0").set("run.duration", "2")
    assert Scenario.from_toml_text(sc.to_toml()) == sc
    res = run_scenario(sc, seed=0)
    assert res.status == "completed" and "noiseless" in res.metrics
    healthy = run_scenario(Scenario.from_toml("scenarios/hover_pid.toml").set("run.duration", "2"), seed=0)
    np.testing.assert_array_equal(res.observations[:100], healthy.observations[:100])   # the same before 1 s
    assert np.all(res.observations[100:] != healthy.observations[100:])
    with pytest.raises(ScenarioError, match=r"`plant.faults.sensor_noise.std` must be >= 0 per observation entry"):
        Scenario.from_toml("scenarios/hover_pid.toml").set("plant.faults.sensor_noise.std", "[-1, 0, 0, 0, 0]")
    with pytest.raises(ScenarioError, match=r"\[plant\] \(kind 'helicopter'\): `std` must have shape \(5,\)"):
        Scenario.from_toml("scenarios/hover_pid.toml").set("plant.faults.sensor_noise.std", "[0.1]").build(0)
    with pytest.raises(ParameterError, match=r"`end` must be after `start`"):
        SensorNoiseConfig(std=(0.1,), start=2.0, end=1.0)
    with pytest.raises(ParameterError, match=r"`std` must be >= 0"):
        SensorNoise(gym.make("neurocontrol/Helicopter-v0"), std=[0, 0, -0.1, 0, 0])


def test_neural_identifier_follows_a_noise_rise_without_signalling_a_plant_change():
    """The neural hover with five times scenarios/sensor_noise.toml's noise from 10 s: R follows within the fast
    window, the detector restarts while the rise lasts and is off after it (before this, q opened on the rise)."""
    sc = Scenario.from_toml("scenarios/neural_hover.toml").set("run.duration", "13")
    sc = sc.set("plant.faults.sensor_noise.std", "[1.0, 0.01, 0.05, 0.001, 0.025]").set(
        "plant.faults.sensor_noise.start", "10.0")
    built = sc.build(0)
    c = built.controller
    log = []

    def watch(k, info):
        log.append((k + 1, c.identifier._R.copy(), c.identifier._change.copy(), c.identifier.counts["changing"]))

    from neurocontrol.simulation import simulate
    res = simulate(built.env, c, built.reference, duration=13.0, seed=built.seed, options=built.options,
                   callback=watch)
    assert res.status == "completed"
    onset = 1000
    R0 = c._R0
    before = [r for k, r, _, _ in log if k < onset]
    assert all(np.array_equal(r, R0) for r in before[-100:])          # noise-free: the floor
    raised = [k for k, r, _, _ in log if k >= onset and np.sum(r > 10 * R0) * 2 > r.size]
    assert raised and raised[0] <= onset + NOISE_FAST                   # most signals' R raised within the fast window
    restarted = [k for k, _, ch, _ in log if k >= onset and ch[3] == 0.0]
    assert restarted and restarted[0] <= onset + NOISE_FAST
    changing = {k: n for k, _, _, n in log}
    assert changing[onset + 300] - changing[raised[0]] <= 10             # no process noise in the new regime


def test_scaled_r_names_a_bad_buffer():
    from neurocontrol.exceptions import ShapeError

    f = MeasurementFilter(2)
    with pytest.raises(ShapeError, match=r"`out` must be a contiguous float64 array of shape \(2,\)"):
        f.scaled_r(np.zeros(2), 5.0, np.zeros(3))
    with pytest.raises(ShapeError, match=r"`floor` must be a contiguous float64 array of shape \(2,\)"):
        f.scaled_r([0.0, 0.0], 5.0, np.zeros(2))


def test_the_updates_before_r_is_set_from_the_noise_are_reweighed_once():
    # docs/neural_controller.md, "The default: R from the estimated noise": at the first step whose noise window
    # holds no warm-up step, R moves from its floor to the measured noise and the covariance of the updates made
    # before is scaled with it (IncrementalIdentifier.reweigh_past, checked against plain RLS in test_ekf.py); once,
    # not again at a later trial's start, and never without noise. Two lags of bench_unseen_plants, flown by the
    # neural controller's defaults.
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_unseen_plants.py"
    spec = importlib.util.spec_from_file_location("bench_unseen_plants", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for noise, want in ((0.005, 1), (0.0, 0)):
        task = bench.discrete(noise)
        ctrl = bench.controller(task, "neural")
        calls = []
        obs, _ = task.env.reset(seed=0)
        ref = task.reference()
        ctrl.reset(obs, ref(0.0))
        ident = ctrl.identifier
        plain = ident.reweigh_past

        def spy(R_before, ident=ident, plain=plain):
            calls.append((ctrl._k, np.array(R_before), ident._R.copy()))
            plain(R_before)

        ident.reweigh_past = spy
        for k in range(200):
            obs, *_ = task.env.step(ctrl.step(obs, ref(k * task.env.dt)))
        assert len(calls) == want
        if want:
            k, R_before, R = calls[0]
            assert k - 1 == ctrl._n_warmup + ctrl.filter.window          # the step counter is past that step
            np.testing.assert_array_equal(R_before, ctrl._R0)
            assert np.all(R > 10 * R_before)                             # 0.5 % of the range: far above the floor
        ctrl.start_trial(obs, ref(0.0))       # a later trial: R is already the noise's, nothing is reweighed again
        for k in range(200):
            obs, *_ = task.env.step(ctrl.step(obs, ref(k * task.env.dt)))
        assert len(calls) == want
