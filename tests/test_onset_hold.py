"""The onset of sensor noise: the identifier's test and hold, and the neural controller's hold in closed loop.

docs/neural_controller.md, "The onset of sensor noise".
"""

import math

import numpy as np
import pytest
from restore_check import fly, run_and_restore

from neurocontrol.controllers._noise import ONSET_COOLDOWN, ONSET_COUNT, ONSET_FACTOR
from neurocontrol.controllers.measurement_filter import NOISE_WINDOW
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets import _incremental_kernels as _k
from neurocontrol.nets.ekf import DecoupledEKF, GradientRule, IncrementalIdentifier
from neurocontrol.nets.incremental import IncrementalConfig
from neurocontrol.scenario.core import Scenario
from neurocontrol.simulation import simulate

HOVER = "scenarios/neural_hover.toml"


def plain_onset(e, R, change, factor, least):
    """The rule written out: most signals above their R, the mean jumped `factor` above the slow level."""
    if change[3] < least:
        return False
    z = e ** 2 / R
    return bool(np.sum(z > 1.0) > len(e) / 2 and z.mean() > 0 and np.log(z.mean()) > change[1] + np.log(factor))


def test_onset_kernel_against_the_rule_written_out():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3000):
        p = int(rng.integers(1, 6))
        R = 10.0 ** rng.uniform(-6, -3, p)
        e = np.sqrt(R) * 10.0 ** rng.uniform(-2, 1.5, p) * rng.choice([-1.0, 1.0], p)
        change = np.array([0.0, rng.uniform(-12, 4), 0.0, float(rng.integers(0, 100))])
        factor = 10.0 ** rng.uniform(0, 3)
        want = plain_onset(e, R, change, factor, ONSET_COUNT)
        assert _k.onset_kernel(e, R, change, math.log(factor), float(ONSET_COUNT)) == want
        seen.add(want)
    assert seen == {True, False}


def _identifier(rule=None, n_hidden=2, p=3):
    cfg = IncrementalConfig(n_outputs=p, n_inputs=1, n_hidden=n_hidden, output_range=[[-1.0] * p, [1.0] * p],
                            input_range=[[-1.0], [1.0]])
    return IncrementalIdentifier(cfg, rule or DecoupledEKF(measurement_noise=1e-4, change_gate=30.0), rng=0)


def _clean_run(ident, steps, rng):
    y = np.zeros(ident.config.n_outputs)
    for _ in range(steps):
        u = rng.uniform(-1, 1, 1)
        y_next = 0.9 * y + 0.1 * u
        ident.update(y, u, y_next)
        y = y_next
    return y


def test_a_held_update_leaves_the_weights_and_advances_the_state_as_an_outlier_does():
    held = _identifier()
    skipped = _identifier(DecoupledEKF(measurement_noise=1e-4, change_gate=30.0, outlier_gate=1e-9))
    rng = np.random.default_rng(1)
    y = _clean_run(held, 30, rng)
    skipped._theta[:], skipped._P[...], skipped._h[:], skipped._Sh[...] = held._theta, held._P, held._h, held._Sh
    skipped._change[:] = held._change
    w, P = held.weights.copy(), held.covariance.copy()
    u, y_next = np.array([0.3]), 0.9 * y + 0.05
    assert held.update(y, u, y_next, hold=True) == "held"
    assert skipped.update(y, u, y_next) == "outlier"
    np.testing.assert_array_equal(held.weights, w)
    np.testing.assert_array_equal(held.covariance, P)
    for a in ("_h", "_Sh", "_y_hat", "_change"):
        np.testing.assert_array_equal(getattr(held, a), getattr(skipped, a), err_msg=a)
    assert held.counts["held"] == 1


def test_most_signals_jumping_at_once_is_an_onset_and_one_signal_is_not():
    rng = np.random.default_rng(2)
    ident = _identifier()
    y = _clean_run(ident, 200, rng)
    u = np.array([0.2])
    quiet = 0.9 * y + 0.1 * u
    w = ident.weights.copy()
    one = quiet + np.array([0.5, 0.0, 0.0])                  # one signal of three: a change of the plant
    twin = _identifier()
    twin._theta[:], twin._P[...], twin._h[:], twin._Sh[...] = ident._theta, ident._P, ident._h, ident._Sh
    twin._change[:] = ident._change
    assert twin.update(y, u, one, onset_factor=ONSET_FACTOR) != "onset"
    noisy = quiet + np.array([0.05, -0.04, 0.06])            # all three, each far above R's 0.01 std
    assert ident.update(y, u, noisy, onset_factor=ONSET_FACTOR) == "onset"
    np.testing.assert_array_equal(ident.weights, w)
    assert ident.counts["onset"] == 1
    fresh = _identifier()                                    # too little history to judge a jump: learned
    _clean_run(fresh, ONSET_COUNT - 2, np.random.default_rng(3))
    assert fresh.update(y, u, noisy, onset_factor=ONSET_FACTOR) != "onset"


def test_hold_needs_the_ekf_rule_and_onset_its_change_detector():
    y, u = np.zeros(3), np.zeros(1)
    with pytest.raises(ParameterError, match="`hold` needs the EKF rule"):
        _identifier(GradientRule(learning_rate=0.1)).update(y, u, y, hold=True)
    assert _identifier(DecoupledEKF(change_gate=None)).update(y, u, y, hold=True) == "held"
    for rule in (GradientRule(learning_rate=0.1), DecoupledEKF(change_gate=None)):
        with pytest.raises(ParameterError, match="`onset_factor` needs the EKF rule with its change detector"):
            _identifier(rule).update(y, u, y, onset_factor=100.0)
    with pytest.raises(ParameterError, match="onset_factor"):
        _identifier().update(y, u, y, onset_factor=-1.0)
    with pytest.raises(ParameterError, match="onset_count"):
        _identifier().update(y, u, y, onset_factor=100.0, onset_count=-1)


def _noise_fault(**controller):
    data = Scenario.from_toml("scenarios/fault_sensor_noise.toml").to_dict()
    data["controller"] = {**Scenario.from_toml(HOVER).to_dict()["controller"], **controller}
    return Scenario.from_dict(data, source="fault", default_name="fault_sensor_noise")


def test_the_onset_of_sensor_noise_is_held_and_the_hover_kept():
    # Sensor noise from none to five times scenarios/sensor_noise.toml's at 15 s, the hover's neural table, seed 0:
    # without the hold the identifier learns the first noisy samples with the noise-free R (the filter finds the
    # rise 7 samples later), its weights jump and the plan swings both inputs, in the first second of the noise,
    # about ten times as far as with the hold (seeds 0-9: 92-400 / 177-702 against 26-54 / 48-74 rotor / collective
    # input; limit to limit, and until the rate term the env then stopped this seed, before the range penalty's own
    # active set); with it one onset is seen at 15.01 s, learning waits until the rise is over, the inputs stay calm.
    runs = {}
    for hold in (12, 0):
        sc = _noise_fault(onset_hold=hold)
        built = sc.build(0)
        res = simulate(built.env, built.controller, built.reference, duration=sc.run.duration, seed=built.seed,
                       options=built.options)
        u = np.asarray(res.inputs)
        t = np.asarray(res.time)[: u.shape[0]]
        runs[hold] = (res.status, np.ptp(u[(t >= 15.0) & (t < 16.0)], axis=0), built.controller.identifier.counts)
    status, swing, counts = runs[12]
    assert status == "completed" and swing[1] < 100.0, runs[12]
    assert counts["onset"] == 1 and 12 <= counts["held"] < NOISE_WINDOW + 12, counts    # held through the rise
    assert runs[0][2]["onset"] == 0, runs[0]
    assert runs[0][0] == "failed" or np.all(runs[0][1] >= 3.0 * swing), runs[0]    # at least 3x the swing without


def test_a_plant_change_is_learned_without_a_hold():
    # Rotor drag +30 % at 15 s: the rotor speed's error jumps, the others' do not; no onset, the change is learned.
    data = Scenario.from_toml("scenarios/rotor_drag_change.toml").to_dict()
    data["controller"] = Scenario.from_toml(HOVER).to_dict()["controller"]
    sc = Scenario.from_dict(data, source="drag", default_name="drag")
    built = sc.build(0)
    res = simulate(built.env, built.controller, built.reference, duration=sc.run.duration, seed=built.seed,
                   options=built.options, events=built.events)
    assert res.status == "completed"
    counts = built.controller.identifier.counts
    assert counts["onset"] == 0 and counts["held"] == 0 and counts["changing"] > 0, counts


def test_a_controller_restored_during_a_hold_continues_bit_identically():
    def holding(ctrl):                                      # the onset at step 1501, held since
        assert ctrl._status == "held" and ctrl._hold[0] > 0

    run_and_restore(_noise_fault(), 1, 1503, 40, np.array([140.0, 1.0]), ready=holding)


def test_a_hold_ends_on_the_rise_or_after_its_steps_then_cools_down():
    built = Scenario.from_toml(HOVER).build(0)
    ctrl = built.controller
    obs, _ = built.env.reset(seed=0, options=built.options)
    ctrl.reset(obs, np.array([140.0, 1.0]), seed=0)
    late = ctrl._n_warmup + ctrl.filter.window + 1
    assert ctrl._onset_plan(late - 1) == (False, None)          # the noise window still holds the warm-up
    assert ctrl._onset_plan(late) == (False, ONSET_FACTOR)      # armed
    ctrl._hold[:] = (1.0, 0.0)                                  # an onset was seen: one more held step
    assert ctrl._onset_plan(late) == (True, None) and ctrl._hold[1] == ONSET_COOLDOWN
    cooling = [ctrl._onset_plan(late) for _ in range(ONSET_COOLDOWN)]
    assert cooling == [(False, None)] * ONSET_COOLDOWN          # no new hold while cooling down
    assert ctrl._onset_plan(late) == (False, ONSET_FACTOR)
    ctrl._hold[:] = (5.0, 0.0)
    ctrl.filter._rise[0] = 1.0                                  # the filter finds the noise risen: held on
    held = [ctrl._onset_plan(late) for _ in range(20)]
    assert held == [(True, None)] * 20 and ctrl._hold[0] == -1.0
    ctrl.filter._rise[0] = 0.0                                  # the rise is over: learn on, no cool-down
    assert ctrl._onset_plan(late) == (False, None) and ctrl._hold[0] == 0.0 and ctrl._hold[1] == 0.0
    assert ctrl._onset_plan(late) == (False, ONSET_FACTOR)


def test_a_state_saved_before_the_hold_existed_still_restores():
    # A checkpoint of the version before: no "hold" entry and no onset/held counts. It restores as a controller of
    # that time was (no hold on), and continues as one restored from the full state does.
    sc, ref = Scenario.from_toml(HOVER), np.array([140.0, 1.0])
    _, ctrl, obs = fly(sc, 0, 300, ref)
    full = ctrl.get_state()
    old = {k: v for k, v in full.items() if k != "hold" and not k.endswith((".counts.onset", ".counts.held"))}
    assert len(old) == len(full) - 5
    a, b = sc.build(0).controller, sc.build(0).controller
    for c, state in ((a, full), (b, old)):
        c.reset(obs, ref, seed=5)
        c.set_state(state)
    np.testing.assert_array_equal([a.step(obs, ref) for _ in range(5)], [b.step(obs, ref) for _ in range(5)])
    with pytest.raises(ParameterError, match=r"missing \['k'\]"):
        b.set_state({k: v for k, v in old.items() if k != "k"})


def test_the_onset_test_needs_three_measured_signals():
    # On the quadruple tank (two levels measured) a pump-gain change moves both levels at once, as new noise would.
    tank = Scenario.from_toml("scenarios/quadtank_pminus.toml").set("controller", '{kind = "neural"}').build(0)
    assert tank.controller._onset_hold == 0
    assert Scenario.from_toml(HOVER).build(0).controller._onset_hold == 12
