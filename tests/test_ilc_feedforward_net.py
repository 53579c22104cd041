"""The network ILC's correction held in a network of the reference (FeedforwardNetwork): its features and fit
against plain references, the law with it on a linear plant (as fast as the time-indexed signal; its weights carry
to another reference), its memory switch, the runner's continue_learned, and the scenario keys.
"""

import dataclasses

import numpy as np
import pytest
from test_ilc_network import DT, N_TAPS, REF, PassThrough, PlantEnv, T, lifted_norms, run

from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import ParameterError, ScenarioError, ShapeError
from neurocontrol.ilc import ILCRunner, PTypeILC
from neurocontrol.ilc.feedforward_net import FeedforwardNetwork
from neurocontrol.ilc.network import ClosedLoopFIRModel, NormOptimalILC
from neurocontrol.ilc.scenario_runner import _law_from_spec
from neurocontrol.reference import MultiSignal, Sine
from neurocontrol.scenario import Scenario

RANGE = [[-2.0, -2.0], [2.0, 2.0]]
OTHER = MultiSignal(signals=(Sine(amplitude=0.8, frequency_hz=0.4, phase=0.5), Sine(amplitude=0.6, frequency_hz=0.35)))


def plain_features(r, back, ahead, stride, mid, half):
    """phi(t) written out with loops: changes over the window (0 left out, clipped at the ends), levels, 1."""
    T_, p = r.shape
    offsets = [j for j in range(-back, ahead + 1, stride) if j != 0]
    out = np.zeros((T_, len(offsets) * p + p + 1))
    for t in range(T_):
        col = 0
        for j in offsets:
            s = min(max(t + j, 0), T_ - 1)
            for i in range(p):
                out[t, col] = (r[s, i] - r[t, i]) / half[i]
                col += 1
        for i in range(p):
            out[t, col] = (r[t, i] - mid[i]) / half[i]
            col += 1
        out[t, col] = 1.0
    return out


def test_features_equal_the_plain_construction():
    rng = np.random.default_rng(3)
    r = rng.uniform(-1.0, 1.5, (40, 2))
    net = FeedforwardNetwork(back_steps=7, ahead_steps=9, stride=3, output_range=[[-1.0, 0.0], [2.0, 4.0]])
    want = plain_features(r, 7, 9, 3, mid=[0.5, 2.0], half=[1.5, 2.0])
    got = net.features(r)
    # plain_features orders by offset then output; the network by offset block then output: the same order
    assert got.shape == want.shape == (40, net.n_features)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_fit_is_the_ridge_solution_pulled_to_the_last_weights():
    """W = argmin |Phi W - F|^2 + lambda |W - W0|^2, solved here as one stacked least-squares problem."""
    rng = np.random.default_rng(4)
    r1, r2 = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    f1, f2 = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    net = FeedforwardNetwork(back_steps=4, ahead_steps=4, stride=2, output_range=RANGE, ridge=0.05)
    assert np.all(net.predict(r1) == 0.0) and net.weights is None
    net.fit(r1, f1)
    w0 = net.weights.copy()
    net.fit(r2, f2)
    lam = 0.05 * 50
    phi1, phi2 = net.features(r1), net.features(r2)
    n = phi1.shape[1]
    w0_want = np.linalg.lstsq(np.vstack([phi1, np.sqrt(lam) * np.eye(n)]), np.vstack([f1, np.zeros((n, 2))]),
                              rcond=None)[0]
    w1_want = np.linalg.lstsq(np.vstack([phi2, np.sqrt(lam) * np.eye(n)]), np.vstack([f2, np.sqrt(lam) * w0_want]),
                              rcond=None)[0]
    np.testing.assert_allclose(w0, w0_want, atol=1e-10)
    np.testing.assert_allclose(net.weights, w1_want, atol=1e-10)
    np.testing.assert_allclose(net.predict(r2), phi2 @ w1_want, atol=1e-10)


def test_memory_switch_and_errors():
    kept = FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=1, output_range=RANGE)
    lost = FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=1, output_range=RANGE, memory=False)
    r = np.ones((10, 2))
    for net in (kept, lost):
        net.fit(r, np.ones((10, 2)))
        net.start_trial()
    assert kept.weights is not None and lost.weights is None
    with pytest.raises(ParameterError, match="high > low"):
        FeedforwardNetwork(back_steps=1, ahead_steps=1, stride=1, output_range=[[1.0], [0.0]])
    with pytest.raises(ParameterError, match="stride"):
        FeedforwardNetwork(back_steps=1, ahead_steps=1, stride=0, output_range=RANGE)
    with pytest.raises(ShapeError, match="channels"):
        kept.fit(r, np.ones((10, 3)))
    with pytest.raises(ParameterError, match="FeedforwardNetwork or None"):
        NormOptimalILC(ClosedLoopFIRModel(N_TAPS), feedforward_network="yes")


def _law(net=None, **kw):
    return NormOptimalILC(ClosedLoopFIRModel(N_TAPS, ridge=1e-9), regularization=1.0, feedforward_network=net, **kw)


def test_a_network_held_correction_converges_as_the_signal_and_carries_to_another_reference():
    """Linear plant, pass-through loop: the plant's inverse is a filter of the reference the window covers
    (its impulse response dies within 30 steps; the window is 40 each way), so holding the correction in the
    network loses almost nothing trial by trial (measured: within 0.5 % of the signal law's errors); its weights
    then lower the error on a reference it never saw (measured: 1.84 -> 1.26)."""
    net = FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE)
    law = _law(net)
    held, signal = run(law, trials=10), run(_law(), trials=10)
    a, b = lifted_norms(held), lifted_norms(signal)
    assert a[-1] < 0.2 * a[0]
    np.testing.assert_allclose(a, b, rtol=0.01)
    refs = np.asarray(REF(np.arange(T) * DT))
    np.testing.assert_allclose(held.feedforward, net.predict(refs, 2), atol=1e-12)   # what the next trial applies
    other = np.asarray(OTHER(np.arange(T) * DT))
    errors = {}
    for name, v in (("none", np.zeros((T, 2))), ("network", net.predict(other, 2))):
        one = ILCRunner(PlantEnv(), PassThrough(), OTHER, law=PTypeILC([0.0, 0.0], lead=1), trials=1,
                        duration=T * DT, initial_state=np.zeros(2), seed=0, channel="reference",
                        initial_feedforward=v).run()
        errors[name] = lifted_norms(one)[0]
    assert errors["network"] < 0.8 * errors["none"]


def test_without_memory_the_correction_is_the_last_update_only():
    """memory=False: every update starts from zero, so trial k+1 applies only what trial k's error asked for."""
    net = FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE, memory=False)
    law = _law(net, change_threshold=None, gain_adaptation=False)
    res = run(law, trials=4, keep_trials=True)
    one_step = _law(FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE),
                    change_threshold=None, gain_adaptation=False)
    first = run(one_step, trials=2)
    np.testing.assert_allclose(res.errors[:2], first.errors, rtol=1e-9)    # trials 1-2: no memory needed yet
    kept = run(_law(FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE),
                    change_threshold=None, gain_adaptation=False), trials=4)
    assert lifted_norms(res)[3] > 1.2 * lifted_norms(kept)[3]


def test_the_ablation_with_every_network_new_each_trial_carries_only_a_signal():
    """The ILC benchmark's variant without trial memory in the networks (``FreshEachTrial``): with the correction
    held in a network every trial flies as trial 1 (the law still computed its updates); with the correction kept
    as a signal, the signal carries from trial to trial and the error falls although every network is new."""
    from project_scripts import load_script

    fresh = load_script("benchmarks/bench_ilc.py").FreshEachTrial
    law = _law(FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE))
    held = run(fresh(law), trials=4)
    first = run(_law(FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE)), trials=1)
    np.testing.assert_allclose(held.errors, np.repeat(first.errors, 4, axis=0), rtol=1e-12)
    assert law.last_update["trial"] == 1 and law.last_update["cg_iterations"] > 0    # it learned; nothing carried
    signal = lifted_norms(run(fresh(_law()), trials=4))
    assert signal[-1] < 0.5 * signal[0]


class Learner(AbstractController):
    """A pass-through controller that counts how each trial starts it."""

    def __init__(self):
        super().__init__(input_limits=[[-1e9, 1e9]] * 2, output_indices=(0, 1), dt=DT)
        self.starts = []

    def _reset_impl(self, observation, reference, seed):
        self.starts.append("reset")

    def start_trial(self, observation, reference):
        self.starts.append("start_trial")

    def _step_impl(self, observation, reference):
        return np.asarray(reference, float)


def test_continue_learned_starts_trial_one_without_a_reset():
    ctrl = Learner()
    ctrl.reset(np.zeros(2), np.zeros(2))
    ctrl.starts.clear()
    res = ILCRunner(PlantEnv(), ctrl, REF, law=PTypeILC([0.0, 0.0], lead=1), trials=2, duration=T * DT,
                    initial_state=np.zeros(2), seed=0, continue_learned=True).run()
    assert ctrl.starts == ["start_trial", "start_trial"] and res.meta["continue_learned"]
    with pytest.raises(ParameterError, match="continue_learned"):
        ILCRunner(PlantEnv(), PassThrough(), REF, law=PTypeILC([0.0, 0.0], lead=1), trials=1, duration=T * DT,
                  initial_state=np.zeros(2), continue_learned=True)
    with pytest.raises(ParameterError, match="continue_learned"):
        ILCRunner(PlantEnv(), Learner(), REF, law=PTypeILC([0.0, 0.0], lead=1), trials=1, duration=T * DT,
                  initial_state=np.zeros(2), carry_weights=False, continue_learned=True)


def test_scenario_keys_of_the_feedforward_network():
    sc = Scenario.from_toml("scenarios/ilc_neural.toml")
    names, rng = ["rotor_speed", "altitude"], np.array([[74.25, 0.0], [180.0, 2.0]])

    def law(**gains):
        spec = dataclasses.replace(sc.ilc, gains={**sc.ilc.gains, **gains})
        return _law_from_spec(spec, names, rng, 0, None, None, None)

    net = law().feedforward_network                   # the default: held in a network, twice the model's memory
    assert net is not None and (net.back_steps, net.ahead_steps, net.stride, net.memory) == (300, 300, 10, True)
    assert law(feedforward_network=0).feedforward_network is None
    assert law(memory=0).feedforward_network.memory is False
    custom = law(feedforward_back_steps=50, feedforward_ahead_steps=120).feedforward_network
    assert (custom.back_steps, custom.ahead_steps) == (50, 120)
    assert "FeedforwardNetwork(back_steps=300" in repr(law())
    with pytest.raises(ScenarioError, match="feedforward_network"):
        law(feedforward_network=2)


def test_trial_one_starts_from_the_feedforward_the_run_was_given():
    """A run given an initial feedforward (e.g. a correction learned on another task) updates from it."""
    start = 0.3 * np.asarray(REF(np.arange(T) * DT))
    seen = {}

    def first(k, info):
        seen[k] = info["feedforward"]

    for name, net in (("signal", None),
                      ("network", FeedforwardNetwork(back_steps=40, ahead_steps=40, stride=1, output_range=RANGE))):
        run(_law(net), trials=1, initial_feedforward=start, callback=first)
        seen[name] = seen.pop(1)
    # the network's fit of the signal law's update: equal up to what the window cannot hold
    assert np.linalg.norm(seen["network"] - seen["signal"]) < 0.01 * np.linalg.norm(seen["signal"])
    assert np.linalg.norm(seen["signal"] - start) > 0.1 * np.linalg.norm(start)     # the update moved it


# ---------------------------------------------------------------- hidden units (feedforward_hidden_units)

def _nonlinear_task(seed=5, T_=240):
    """Set-point steps at random levels; the target correction depends on the level nonlinearly."""
    rng = np.random.default_rng(seed)
    r = np.repeat(rng.uniform(-1.8, 1.8, (T_ // 20, 2)), 20, axis=0)
    f = np.column_stack([0.4 * np.tanh(2.0 * r[:, 0]) * r[:, 1], 0.3 * np.sin(1.5 * r[:, 1])])
    return r, f


def _plain_cost(net, phi, f, prior_w, prior_v, prior_u, lam):
    """|phi W + tanh(phi U) V - f|^2 + lam (|W - W0|^2 + |V - V0|^2 + |U - U0|^2), written out."""
    out = phi @ net.weights + np.tanh(phi @ net.hidden_in) @ net.hidden_out
    return (np.sum((out - f) ** 2) + lam * (np.sum((net.weights - prior_w) ** 2)
                                           + np.sum((net.hidden_out - prior_v) ** 2)
                                           + np.sum((net.hidden_in - prior_u) ** 2)))


def test_hidden_units_fit_a_nonlinear_correction_the_linear_network_cannot():
    r, f = _nonlinear_task()
    linear = FeedforwardNetwork(back_steps=0, ahead_steps=0, stride=1, output_range=RANGE, ridge=1e-4)
    miss_linear = np.sqrt(np.mean((linear.fit(r, f) - f) ** 2))
    phi, lam = linear.features(r), 1e-4 * r.shape[0]
    for seed in range(5):                             # every draw of the hidden units, not one
        hidden = FeedforwardNetwork(back_steps=0, ahead_steps=0, stride=1, output_range=RANGE, ridge=1e-4,
                                    hidden_units=6, seed=seed, fit_iterations=60)
        u0 = hidden.hidden_in.copy()
        fitted = hidden.fit(r, f)
        assert np.sqrt(np.mean((fitted - f) ** 2)) < 0.3 * miss_linear
        assert np.array_equal(hidden.predict(r), fitted)
        # the cost it reports is the regularised cost of the weights it ends with, below where it started
        plain = _plain_cost(hidden, phi, f, np.zeros_like(hidden.weights), np.zeros_like(hidden.hidden_out), u0,
                            lam)
        assert hidden.fit_info["cost_after"] == pytest.approx(plain, rel=1e-10)
        assert hidden.fit_info["cost_after"] < hidden.fit_info["cost_before"]


def test_one_round_is_the_gauss_newton_step_of_a_finite_difference_jacobian():
    """fit_iterations = 1: the output layer solved for the first draw, then per unit the damped step
    -(J^T J + (lam + mu) I)^-1 J^T r with J from central differences of the residual (V fixed)."""
    r, f = _nonlinear_task(T_=120)
    net = FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=2, output_range=RANGE, ridge=1e-3,
                             hidden_units=3, seed=11, fit_iterations=1)
    phi = net.features(r)
    T_, nf = phi.shape
    lam, u0 = 1e-3 * T_, net.hidden_in.copy()
    x = np.hstack([phi, np.tanh(phi @ u0)])
    wv = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ f)     # priors zero at the first fit
    w, v = wv[:nf], wv[nf:]

    def residual(u):
        return (phi @ w + np.tanh(phi @ u) @ v - f).ravel()

    mu = 1e-3 * lam + 1e-8 * T_
    want = u0.copy()
    for k in range(3):
        jac = np.empty((T_ * f.shape[1], nf))
        for i in range(nf):
            up, dn = u0.copy(), u0.copy()
            up[i, k] += 1e-6
            dn[i, k] -= 1e-6
            jac[:, i] = (residual(up) - residual(dn)) / 2e-6
        want[:, k] = u0[:, k] - np.linalg.solve(jac.T @ jac + (lam + mu) * np.eye(nf), jac.T @ residual(u0))
    net.fit(r, f)
    assert net.fit_info["kept"] == 1                   # this step lowers the cost (else U would be the draw)
    np.testing.assert_allclose(net.hidden_in, want, rtol=0, atol=1e-7 * np.abs(want).max())
    # and the output layer is then solved again for the new U
    x1 = np.hstack([phi, np.tanh(phi @ want)])
    wv1 = np.linalg.solve(x1.T @ x1 + lam * np.eye(x1.shape[1]), x1.T @ f)
    np.testing.assert_allclose(np.vstack([net.weights, net.hidden_out]), wv1, atol=1e-6 * np.abs(wv1).max())


def test_hidden_units_draw_reset_and_memory():
    r, f = _nonlinear_task()

    def net(seed, **kw):
        return FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=1, output_range=RANGE, hidden_units=4,
                                  seed=seed, **kw)

    a, b, c = net(7), net(7), net(8)
    assert np.array_equal(a.hidden_in, b.hidden_in) and not np.array_equal(a.hidden_in, c.hidden_in)
    first = a.hidden_in.copy()
    fa, fb = a.fit(r, f), b.fit(r, f)
    assert np.array_equal(fa, fb) and not np.array_equal(a.hidden_in, first)       # the same seed: the same fit
    a.start_trial()                                                               # memory: kept
    assert a.hidden_out is not None and not np.array_equal(a.hidden_in, first)
    lost = net(7, memory=False)
    lost.fit(r, f)
    lost.start_trial()                                                            # no memory: back to the draw
    assert lost.weights is None and lost.hidden_out is None and np.array_equal(lost.hidden_in, first)
    assert np.all(lost.predict(r) == 0.0)
    assert "hidden_units=4" in repr(a) and "hidden_units" not in repr(FeedforwardNetwork(
        back_steps=2, ahead_steps=2, stride=1, output_range=RANGE))
    with pytest.raises(ParameterError, match="needs `seed`"):
        FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=1, output_range=RANGE, hidden_units=2)
    with pytest.raises(ParameterError, match="hidden_units"):
        FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=1, output_range=RANGE, hidden_units=-1, seed=0)
    with pytest.raises(ParameterError, match="fit_iterations"):
        net(0, fit_iterations=0)


def test_scenario_key_of_the_hidden_units():
    sc = Scenario.from_toml("scenarios/ilc_neural.toml")
    names, rng = ["rotor_speed", "altitude"], np.array([[74.25, 0.0], [180.0, 2.0]])

    def law(seed=0, **gains):
        spec = dataclasses.replace(sc.ilc, gains={**sc.ilc.gains, **gains})
        return _law_from_spec(spec, names, rng, seed, None, None, None)

    assert law().feedforward_network.hidden_units == 0
    net = law(feedforward_hidden_units=5).feedforward_network
    again = law(feedforward_hidden_units=5).feedforward_network
    other = law(seed=1, feedforward_hidden_units=5).feedforward_network
    assert net.hidden_units == 5 and np.array_equal(net.hidden_in, again.hidden_in)
    assert not np.array_equal(net.hidden_in, other.hidden_in)
    with pytest.raises(ScenarioError, match="feedforward_hidden_units"):
        law(feedforward_hidden_units=2, feedforward_network=0)
    with pytest.raises(ScenarioError, match="feedforward_hidden_units"):
        law(feedforward_hidden_units=-1)
