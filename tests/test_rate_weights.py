"""The synthesiser tracks the reference model's rate where an output's rate is measured (``rate_weights``).

Default (None): 0.3 on each controlled output whose rate the plant measures (``rate_indices``, or the env's
``observation_rates``), 0 on the others. Explicit weights may also use rate lags (the outputs' backward
differences) on a plant measured by its outputs only.
"""

import dataclasses

import numpy as np
import pytest
from scipy.linalg import expm

import plants  # noqa: F401  (registers the envs)
from neurocontrol.controllers._tracking import RATE_WEIGHT_DEFAULT
from neurocontrol.controllers.neural import NeuralController
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario
from neurocontrol.scenario.core import run_scenario
from neurocontrol.simulation.loop import simulate
from tests.test_rest_walk import SCENARIOS, TANK_REF, tank


def neural(name, **controller):
    data = Scenario.from_toml(f"{SCENARIOS}/{name}.toml").to_dict()
    data["controller"] = {"kind": "neural", **controller}
    return Scenario.from_dict(data, source="test", default_name=name)


def test_the_default_weighs_the_measured_rates_only():
    pvtol = neural("pvtol_steps").build(0).controller          # x, y measured with their rates (entries 3, 4)
    assert pvtol._tracked.tolist() == [0, 1, 3, 4]
    assert pvtol._weights.tolist() == [1.0, 1.0, RATE_WEIGHT_DEFAULT, RATE_WEIGHT_DEFAULT]
    said = pvtol.derived_settings()["rate_weights"]
    assert said == "0.3 on output 0's rate (signal 3), 0.3 on output 1's rate (signal 4) (automatic: the " \
                   "outputs' measured rates; from a window of steps after the warm-up, while that signal is noise-free)"
    heli = Scenario.from_toml(f"{SCENARIOS}/neural_hover.toml").build(0).controller
    assert heli._tracked.tolist() == [0, 1, 2]                 # rotor speed has no rate sensor; altitude's is entry 2
    tank_ctrl = tank().build(0).controller                     # two levels, no rate measured: nothing added
    assert tank_ctrl._tracked.tolist() == [0, 1]
    assert "rate_weights" not in tank_ctrl.derived_settings()
    off = neural("pvtol_steps", rate_weights=[0.0, 0.0]).build(0).controller
    assert off._tracked.tolist() == [0, 1] and "rate_weights" not in off.derived_settings()


def test_a_positive_weight_needs_a_rate():
    ctrl = tank().build(0).controller
    no_lags = dataclasses.replace(ctrl.config, output_lags=0, lag_signals="values", rate_weights=(0.3, 0.0))
    with pytest.raises(ParameterError, match="needs the output's rate: its `rate_indices` entry"):
        NeuralController(no_lags, input_limits=ctrl.input_limits, dt=ctrl.dt)


def test_with_rate_lags_the_desired_rate_is_the_reference_models_rate():
    # On the tank (levels only, two rate lags by default) an explicit weight tracks each level's backward
    # difference (signals 2 and 3). Its desired value over the horizon is the reference model's rate, checked
    # against the continuous second-order model solved with a matrix exponential (the reference held: a zero-
    # order hold is exact for it), normalised by the lag signal's range.
    ctrl = tank(rate_weights=[0.3, 0.5], imitator="exact", preview=False).build(0).controller
    assert ctrl._tracked.tolist() == [0, 1, 2, 3]
    assert ctrl._weights.tolist() == [1.0, 1.0, 0.3, 0.5]
    assert "(given; from a window of steps after the warm-up, while that signal is noise-free)" in ctrl.derived_settings()["rate_weights"]
    y0 = np.array([5.0, 4.0])
    obs = y0.copy()
    ctrl.reset(obs, TANK_REF, seed=0)
    got = ctrl._desired(TANK_REF)
    cfg, dt, N = ctrl.config, ctrl.dt, ctrl.law.horizon
    for j in range(2):
        w, z = cfg.reference_bandwidth[j], cfg.reference_damping[j]
        A = np.array([[0.0, 1.0], [-w * w, -2.0 * z * w]])
        B = np.array([0.0, w * w]) * TANK_REF[j]
        x0 = np.array([y0[j], 0.0])
        want = []
        for i in range(1, N + 1):
            E = expm(A * i * dt)
            want.append(E @ x0 + np.linalg.solve(A, (E - np.eye(2)) @ B))
        want = np.array(want)
        lo, hi = ctrl._id_cfg.output_range[:, j], ctrl._id_cfg.output_range[:, 2 + j]
        np.testing.assert_allclose(got[:, j], (want[:, 0] - 0.5 * (lo[0] + lo[1])) / (0.5 * (lo[1] - lo[0])),
                                   rtol=0, atol=1e-9)
        assert hi[0] == -hi[1]                                  # the lag range is symmetric about 0
        np.testing.assert_allclose(got[:, 2 + j], want[:, 1] / hi[1], rtol=0, atol=1e-9)


def test_on_the_pvtol_the_rate_term_damps_the_lateral_ringing():
    # Without the rate term the neural PVTOL's x rings after its step (period about 2.3 s, docs/neural_controller.md,
    # "Tracking the measured rates"); with it the x error after the step settles. Seeds 0-4, x's IAE from 5 s on.
    late = {}
    for label, weights in (("default", None), ("off", [0.0, 0.0])):
        sc = neural("pvtol_steps") if weights is None else neural("pvtol_steps", rate_weights=weights)
        vals = []
        for seed in range(5):
            res = run_scenario(sc, seed=seed)
            assert res.status == "completed"
            t = np.asarray(res.time)
            e = np.abs(np.asarray(res.outputs)[:, 0] - np.asarray(res.references)[:, 0])[t >= 5.0]
            vals.append(float(np.sum(0.5 * (e[1:] + e[:-1]) * np.diff(t[t >= 5.0]))))
        late[label] = np.median(vals)
    assert late["default"] < 0.6 * late["off"], late


@pytest.mark.parametrize("name, noisy", [("neural_hover", False), ("neural_noise_doubled", True)])
def test_a_noisy_rate_is_not_tracked(name, noisy):
    # The climb rate's weight counts once the noise estimate holds no warm-up step (1.5 s + 100 steps here) and
    # finds the signal noise-free; under the doubled sensor noise (0.02 m/s on the climb rate) it stays 0.
    sc = Scenario.from_toml(f"{SCENARIOS}/{name}.toml")
    setup = sc.build(0)
    ctrl = setup.controller
    assert ctrl._weights.tolist() == [1.0, 1.0, RATE_WEIGHT_DEFAULT]
    seen = []
    simulate(setup.env, ctrl, setup.reference, duration=3.0, seed=setup.seed, options=setup.options,
             callback=lambda k, info: seen.append(ctrl._step_weights()[2]))
    start = ctrl._n_warmup + ctrl.filter.window       # the first step whose estimate holds no warm-up step
    assert all(w == 0.0 for w in seen[:start - 1])
    assert all(w == (0.0 if noisy else RATE_WEIGHT_DEFAULT) for w in seen[start:])


def test_a_run_with_rate_lag_weights_completes():
    # The explicit form on a plant measured by its levels only flies the whole shipped task (the gate then reads the
    # noise estimate of the lag signals, which the measurement filter keeps for every network signal).
    res = run_scenario(tank(rate_weights=[0.3, 0.3]), seed=0)
    assert res.status == "completed"
    assert np.all(np.isfinite(np.asarray(res.inputs)))
