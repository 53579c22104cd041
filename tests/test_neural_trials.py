"""Trials of a repeated task flown by the neural controller: start_trial keeps both networks and skips the warm-up,
a trial previews its commanded set-points, the closed-loop network undoes a pass that spoils its free run, and the
shipped ILC scenario of the neural controller runs its trials through start_trial."""

from __future__ import annotations

import numpy as np
import pytest
from test_ilc_network import DT, REF, PassThrough, PlantEnv, T

import plants  # noqa: F401  (registers the env)
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.ilc import ILCRunner
from neurocontrol.ilc.network import NormOptimalILC
from neurocontrol.ilc.rtrn_model import ClosedLoopNetworkModel
from neurocontrol.ilc.scenario_runner import law_for_setup
from neurocontrol.scenario.core import Scenario, run_scenario
from neurocontrol.simulation.loop import TrialSpec, simulate

ILC_NEURAL = "scenarios/ilc_neural.toml"


def _flown(steps=300, seed=3):
    """A neural controller of the ILC scenario after ``steps`` steps of its staircase (warm-up included)."""
    sc = Scenario.from_toml(ILC_NEURAL)
    setup = sc.build(seed)
    env, ctrl = setup.env, setup.controller
    x0 = setup.options["initial_state"]
    obs, _ = env.reset(seed=seed, options={"initial_state": x0})
    times = np.arange(steps) * DT
    refs = setup.reference(times)
    ctrl.reset(obs, refs[0], seed=seed)
    for k in range(steps):
        obs, *_ = env.step(ctrl.step(obs, refs[k]))
    return env, ctrl, x0, setup.reference


def test_start_trial_keeps_both_networks_restarts_their_state_and_skips_the_warmup():
    env, ctrl, x0, reference = _flown()
    assert ctrl.derived_settings()["warmup_steps"] == 150      # the automatic warm-up's least length
    before = {name: (net.weights.copy(), net.covariance.copy(), net.counts)
              for name, net in (("identifier", ctrl.identifier), ("imitator", ctrl.imitator))}
    noise = ctrl.filter.noise_var.copy()
    obs, _ = env.reset(options={"initial_state": x0})
    ref0 = reference(np.array([0.0]))[0]
    ctrl.start_trial(obs, ref0)
    for name, net in (("identifier", ctrl.identifier), ("imitator", ctrl.imitator)):
        w, P, counts = before[name]
        np.testing.assert_array_equal(net.weights, w)
        np.testing.assert_array_equal(net.covariance, P)
        assert net.counts == counts
        np.testing.assert_array_equal(net.hidden, 0.0)
    np.testing.assert_array_equal(ctrl.filter.noise_var, noise)
    # the first step of the trial is the predictive law's, and it learns no transition across the boundary
    u = ctrl.step(obs, ref0)
    assert ctrl.diagnostics()["mode"] == "predictive"
    assert ctrl.identifier.counts == before["identifier"][2]
    assert np.all(np.isfinite(u))


def test_start_trial_draws_nothing_random_two_equal_controllers_fly_the_same_trial():
    runs = []
    for _ in range(2):
        env, ctrl, x0, reference = _flown(steps=250)
        obs, _ = env.reset(options={"initial_state": x0})
        refs = reference(np.arange(200) * DT)
        ctrl.start_trial(obs, refs[0])
        us = []
        for k in range(200):
            us.append(ctrl.step(obs, refs[k]))
            obs, *_ = env.step(us[-1])
        runs.append(np.array(us))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_start_trial_errors_are_named():
    sc = Scenario.from_toml(ILC_NEURAL)
    ctrl = sc.build(0).controller
    with pytest.raises(ParameterError, match="before start_trial"):
        ctrl.start_trial(np.zeros(5), np.zeros(2))
    _, ctrl, _, _ = _flown(steps=2)
    with pytest.raises(ShapeError):
        ctrl.start_trial(np.zeros(3), np.zeros(2))


def test_reference_lag_is_the_reference_models_delay_less_the_preview_lead():
    _, ctrl, _, reference = _flown(steps=1)
    cfg = ctrl.config
    delay = [2.0 * z / w / DT for z, w in zip(cfg.reference_damping, cfg.reference_bandwidth)]   # 50 and 40 steps
    np.testing.assert_allclose(ctrl.reference_lag_steps, 1.0)      # previewed with the default lead: one step left
    ctrl.set_preview(None)
    np.testing.assert_allclose(ctrl.reference_lag_steps, delay)
    assert ctrl.preview is None


# --------------------------------------------------------------------------- a trial previews its commands


class Previewing(PassThrough):
    """u = r_c, and at every step it records what its preview says about the present time."""

    def __init__(self):
        super().__init__()
        self.preview, self.seen, self._k = (lambda t: np.full((len(t), 2), -7.0)), [], 0

    def set_preview(self, reference):
        self.preview = reference

    def _reset_impl(self, observation, reference, seed):
        self._k = 0

    def _step_impl(self, observation, reference):
        ahead = self.preview(np.array([self._k * DT, (self._k + 3) * DT]))
        self.seen.append((np.asarray(reference, float).copy(), ahead.copy()))
        self._k += 1
        return np.asarray(reference, float)


def test_a_trial_previews_its_commanded_set_points_and_restores_the_controllers_preview():
    ctrl = Previewing()
    own = ctrl.preview
    commands = np.column_stack([np.arange(T) * 0.01, -np.arange(T) * 0.02])
    simulate(PlantEnv(), ctrl, REF, duration=T * DT, seed=0, options={"initial_state": np.zeros(2)},
             trial=TrialSpec(references=commands))
    assert ctrl.preview is own                           # restored after the run
    for k, (ref, ahead) in enumerate(ctrl.seen):
        np.testing.assert_array_equal(ref, commands[k])
        np.testing.assert_array_equal(ahead[0], commands[k])
        np.testing.assert_array_equal(ahead[1], commands[min(k + 3, T - 1)])     # held after the last row
    # a plain run (no trial) leaves the controller's own preview alone
    ctrl.seen.clear()
    simulate(PlantEnv(), ctrl, REF, duration=5 * DT, seed=0, options={"initial_state": np.zeros(2)})
    assert all(np.all(ahead == -7.0) for _, ahead in ctrl.seen)


# --------------------------------------------------------------------------- the closed-loop network's guard


def test_a_pass_that_spoils_the_free_run_is_undone_and_counted(monkeypatch):
    model = ClosedLoopNetworkModel([[-3.0, -3.0], [3.0, 3.0]], n_hidden=4, block_steps=1, taps=1,
                                   output_covariance=1.0, seed=0)
    law = NormOptimalILC(model, regularization=1.0)
    runner = ILCRunner(PlantEnv(), PassThrough(), REF, law=law, trials=2, duration=T * DT,
                       initial_state=np.zeros(2), seed=0)
    runner.run()
    assert model.rejected == 0                         # ordinary trials: every pass kept
    kept = model.network.snapshot()
    real_fit = model.network.fit

    def spoiling_fit(outputs, inputs):
        real_fit(outputs, inputs)
        model.network._theta *= 50.0                    # an update that makes the output recursion explode

    monkeypatch.setattr(model.network, "fit", spoiling_fit)
    y = np.cumsum(np.full((T + 1, 2), 0.01), axis=0)
    model.learn(np.full((T, 2), 0.5), y)
    assert model.rejected == 1
    np.testing.assert_array_equal(model.network.weights, kept[0])
    np.testing.assert_array_equal(model.network.covariance, kept[1])
    assert np.isfinite(law.model.norm_bound())


# --------------------------------------------------------------------------- the shipped scenario


def test_ilc_scenario_of_the_neural_controller_starts_later_trials_with_start_trial():
    sc = Scenario.from_toml(ILC_NEURAL).set("ilc.trials", "2").set("run.duration", "4")
    res = run_scenario(sc, seed=1)
    assert res.metrics["ilc"]["status"] == "running" and res.metrics["ilc"]["trials"] == 2
    assert res.meta["ilc"]["trials"] == 2
    setup = sc.build(1)
    law = law_for_setup(sc.ilc, setup, 1, dict(sc.run.tolerance))
    # the closed-loop network's prior is the previewed loop's lag: one control step per output
    assert law.model.prior_lag == (1.0, 1.0)
    runner = ILCRunner(setup.env, setup.controller, setup.reference, law=law, trials=2, duration=4.0,
                       initial_state=setup.options["initial_state"], seed=1, keep_trials=True)
    out = runner.run()
    assert out.meta["later_trials_start"] == "start_trial"
    modes = [r.meta["mode_fractions"] for r in out.trial_results]
    assert modes[0]["warmup"] == pytest.approx(150 / 400) and "warmup" not in modes[1]
