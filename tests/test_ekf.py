"""The decoupled EKF rule and the online incremental identifier: plain numpy references, RLS equivalence, robustness."""

from __future__ import annotations

import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets.ekf import DecoupledEKF, GradientRule, IncrementalIdentifier
from neurocontrol.nets.incremental import IncrementalConfig, init_incremental_weights

# ----------------------------------------------------------------- plain references (no kernel shared)


def plain_ekf(theta, blocks, Hm, e, R, q=0.0, max_trace=None):
    """Kalman update with block-diagonal covariance, written with numpy.linalg."""
    theta = theta.copy()
    blocks = [b.copy() for b in blocks]
    sizes = [b.shape[0] for b in blocks]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    Hb = [Hm[:, offs[i]:offs[i + 1]] for i in range(len(blocks))]
    S = sum(h @ P @ h.T for h, P in zip(Hb, blocks)) + np.diag(R)
    Sinv = np.linalg.inv(S)
    for i, (h, P) in enumerate(zip(Hb, blocks)):
        K = P @ h.T @ Sinv
        theta[offs[i]:offs[i + 1]] += K @ e
        P = P - K @ h @ P + q * np.eye(P.shape[0])
        if max_trace is not None and np.trace(P) > max_trace[i]:
            P = P * (max_trace[i] / np.trace(P))
        blocks[i] = P
    return theta, blocks


def plain_nlms(theta, Hm, e, R, rate):
    """Normalised gradient step over the sensitivities, written with numpy."""
    return theta + rate * (Hm.T @ (e / R)) / (1.0 + np.sum(Hm ** 2 / R[:, None]))


def plain_identifier_run(cfg, theta, P_blocks, R, outputs, inputs, rate=None, q=0.0, detector=None,
                         max_trace=None, walk=None):
    """Online teacher-forced RTRL + block EKF (or NLMS with ``rate``), plain numpy (weights change every step).

    ``walk`` (p,): variance added to each output row's bias weight before every EKF update.

    ``detector = (gate, fast, slow)``: q only at the updates after one whose
    fast mean of log(mean(e^2 / R)) exceeded the slow mean by log(gate) (means
    over 1/n until n reaches the memory); returns the per-update on flags too.
    """
    p, H = cfg.n_outputs, cfg.n_hidden
    means, flags, on = np.zeros(2), [], False
    nz, nb = cfg.n_z, cfg.block_size
    theta = theta.copy()
    blocks = [b.copy() for b in P_blocks]
    h = np.zeros(H)
    Sh = np.zeros((H, theta.size))
    for t in range(inputs.shape[0]):
        C = theta[:p * nb].reshape(p, nb)
        W = theta[p * nb:].reshape(H, nb)
        z = np.concatenate([outputs[t], inputs[t], [1.0]])
        x = np.concatenate([h, z])
        hn = np.tanh(W @ x)
        phi = np.concatenate([z, hn])
        y_hat = outputs[t] + C @ phi
        ex = np.zeros((H, theta.size))
        for k in range(H):
            ex[k, p * nb + k * nb: p * nb + (k + 1) * nb] = x
        Sh = (1 - hn ** 2)[:, None] * (W[:, :H] @ Sh + ex)
        Sy = C[:, nz:] @ Sh
        for i in range(p):
            Sy[i, i * nb:(i + 1) * nb] += phi
        e = outputs[t + 1] - y_hat
        if walk is not None:
            for i in range(p):
                if len(blocks) == 1:            # one global block: row i's bias is entry i nb + nz - 1
                    blocks[0][i * nb + nz - 1, i * nb + nz - 1] += walk[i]
                else:
                    blocks[i][nz - 1, nz - 1] += walk[i]
        if rate is None:
            theta, blocks = plain_ekf(theta, blocks, Sy, e, R, q=q if detector is None or on else 0.0,
                                      max_trace=max_trace)
        else:
            theta = plain_nlms(theta, Sy, e, R, rate)
        if detector is not None:
            flags.append(on)
            lz = np.log(np.mean(e ** 2 / R))
            for j, memory in enumerate(detector[1:]):
                means[j] += max(1.0 / memory, 1.0 / (t + 1)) * (lz - means[j])
            on = means[0] > means[1] + np.log(detector[0])
        h = hn
    return (theta, blocks) if detector is None else (theta, blocks, np.array(flags))


def spd(rng, n, scale):
    a = rng.normal(size=(n, n))
    return scale * (a @ a.T / n + 0.1 * np.eye(n))


# ----------------------------------------------------------------- the rule against numpy

@pytest.mark.parametrize("H", [0, 4])
@pytest.mark.parametrize("decoupled", [True, False])
def test_update_matches_plain_numpy(H, decoupled):
    rng = np.random.default_rng(H + 10 * decoupled)
    cfg = IncrementalConfig(n_outputs=3, n_inputs=2, n_hidden=H)
    rule = DecoupledEKF(measurement_noise=[1e-2, 2e-2, 5e-3], decoupled=decoupled, process_noise=1e-3)
    theta = rng.normal(size=cfg.n_weights)
    P = rule.initial_covariance(cfg)
    for b in range(P.shape[0]):
        P[b] = spd(rng, P.shape[1], 0.5)
    Hm = rng.normal(size=(3, cfg.n_weights))
    e = rng.normal(size=3)
    th_ref, blocks_ref = plain_ekf(theta, list(P), Hm, e, np.array(rule.measurement_noise), q=1e-3,
                                   max_trace=rule.trace_bounds(cfg))
    assert rule.update(cfg, theta, P, Hm, e) == "updated"
    np.testing.assert_allclose(theta, th_ref, rtol=1e-12, atol=1e-12 * np.abs(th_ref).max())
    for b in range(P.shape[0]):
        np.testing.assert_allclose(P[b], blocks_ref[b], rtol=0, atol=1e-12 * np.abs(blocks_ref[b]).max())


def test_trace_bound_scales_a_block_back():
    rng = np.random.default_rng(3)
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=2)
    rule = DecoupledEKF(measurement_noise=1.0, process_noise=0.5, max_trace=2.0)
    theta = np.zeros(cfg.n_weights)
    P = rule.initial_covariance(cfg)
    th_ref, blocks_ref = plain_ekf(theta, list(P), rng.normal(size=(2, cfg.n_weights)) * 0, np.ones(2) * 0.1,
                                   np.ones(2), q=0.5, max_trace=np.full(P.shape[0], 2.0))
    assert rule.update(cfg, theta, P, np.zeros((2, cfg.n_weights)), np.ones(2) * 0.1) == "updated"
    traces = np.trace(P, axis1=1, axis2=2)
    np.testing.assert_allclose(traces, 2.0)   # every block reached q * bs > 2 and was scaled back
    for b in range(P.shape[0]):
        np.testing.assert_allclose(P[b], blocks_ref[b], atol=1e-14)


@pytest.mark.parametrize("walk", [None, (3e-3, 1e-2)])
@pytest.mark.parametrize("decoupled", [True, False])
def test_online_identifier_matches_plain_numpy_run(decoupled, walk):
    # with ``walk``: each output row's bias variance raised before every update (IncrementalIdentifier.bias_walk)
    rng = np.random.default_rng(5)
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=4)
    rule = DecoupledEKF(measurement_noise=[1e-3, 4e-3], decoupled=decoupled)
    T = 40
    outputs = np.cumsum(rng.normal(0, 0.05, size=(T + 1, 2)), axis=0)
    inputs = rng.uniform(-1, 1, size=(T, 1))
    ident = IncrementalIdentifier(cfg, rule, rng=9)
    if walk is not None:
        ident.bias_walk[:] = walk
    theta0 = init_incremental_weights(cfg, 9)
    np.testing.assert_array_equal(ident.weights, theta0)
    th_ref, blocks_ref = plain_identifier_run(cfg, theta0, list(rule.initial_covariance(cfg)),
                                              np.array(rule.measurement_noise), outputs, inputs,
                                              walk=None if walk is None else np.array(walk))
    counts = ident.fit(outputs, inputs)
    assert counts["updated"] == T
    np.testing.assert_allclose(ident.weights, th_ref, rtol=0, atol=1e-11 * np.abs(th_ref).max())
    for b in range(len(blocks_ref)):
        np.testing.assert_allclose(ident.covariance[b], blocks_ref[b], rtol=0,
                                   atol=1e-11 * np.abs(blocks_ref[b]).max())
    if walk is not None:        # the walk acts: the run without it ends elsewhere
        plain, _ = plain_identifier_run(cfg, theta0, list(rule.initial_covariance(cfg)),
                                        np.array(rule.measurement_noise), outputs, inputs)
        assert np.max(np.abs(plain - th_ref)) > 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bias_walk_keeps_a_passing_disturbance_out_of_the_learned_dynamics(seed):
    # y(t+1) = y + a y + b u + d under feedback u = -2 y (+ a little dither), learned to convergence; then an
    # additive pulse d for 50 steps. The feedback makes u follow d, so without a walk the pulse is taken as
    # dynamics (the y coefficient changes sign); with the walk the bias takes it and the dynamics stay.
    a, b = -0.05, 0.1
    learned = {}
    for walk in (0.0, 3e-5):
        rng = np.random.default_rng(seed)
        cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=0)
        ident = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=1e-5, change_gate=0.0,
                                                        process_noise=0.0), rng=0)
        y = np.zeros(1)
        for t in range(1500):
            u = np.array([-2.0 * y[0] + 0.05 * rng.standard_normal()])
            y_next = y + a * y + b * u + (0.02 if 1000 <= t < 1050 else 0.0)
            ident.bias_walk[:] = walk if t >= 500 else 0.0
            ident.update(y, u, y_next)
            y = y_next
        learned[walk] = ident.weights[:2]                 # [y coefficient, u coefficient]
    assert np.max(np.abs(learned[3e-5] - [a, b])) < 0.01
    assert learned[0.0][0] > 0.0                          # the sign of the dynamics lost without the walk


def _changing_plant(rng, T, change_at, p=2):
    """A linear incremental plant whose input gains double at ``change_at``, with measurement noise."""
    y = np.zeros((T + 1, p))
    u = rng.uniform(-1, 1, size=(T, 1))
    a, b = -0.1 * np.eye(p), np.array([[0.2], [-0.1]])
    for t in range(T):
        gain = 2.0 if t >= change_at else 1.0
        y[t + 1] = y[t] + a @ y[t] + gain * (b @ u[t]) + rng.normal(0, 1e-3, size=p)
    return y, u


def test_change_detector_matches_plain_numpy_run():
    # q only after the detector signals the change; weights, covariances and on-steps against plain numpy
    rng = np.random.default_rng(21)
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)
    rule = DecoupledEKF(measurement_noise=[1e-5, 2e-5], process_noise=1e-4, change_gate=5.0, change_memory=(4, 60))
    y, u = _changing_plant(rng, 200, 120)
    ident = IncrementalIdentifier(cfg, rule, rng=2)
    th_ref, blocks_ref, flags = plain_identifier_run(cfg, init_incremental_weights(cfg, 2),
                                                     list(rule.initial_covariance(cfg)), np.array([1e-5, 2e-5]),
                                                     y, u, q=1e-4, detector=(5.0, 4, 60),
                                                     max_trace=rule.trace_bounds(cfg))
    ident.fit(y, u)
    assert ident.counts["changing"] == flags.sum()
    assert flags[120:].any() and not flags[60:120].any()      # it signals the change, not the stationary stretch
    np.testing.assert_allclose(ident.weights, th_ref, rtol=0, atol=1e-10 * np.abs(th_ref).max())
    for b in range(len(blocks_ref)):
        np.testing.assert_allclose(ident.covariance[b], blocks_ref[b], rtol=0,
                                   atol=1e-10 * np.abs(blocks_ref[b]).max())


def test_change_gate_keeps_a_stationary_fit_and_reopens_on_a_change():
    # stationary: no q, the covariance closes like q = 0; after the change it re-learns faster than q = 0
    rng = np.random.default_rng(22)
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=0)
    y, u = _changing_plant(rng, 4000, 3000)
    gated = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=2e-6, process_noise=1e-4, change_gate=30.0,
                                                    change_memory=(10, 3000)), rng=0)
    closed = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=2e-6), rng=0)
    gated.fit(y[:3001], u[:3000])
    closed.fit(y[:3001], u[:3000])
    assert gated.counts["changing"] == 0
    np.testing.assert_array_equal(gated.covariance, closed.covariance)
    gated.fit(y[3000:3101], u[3000:3100])
    closed.fit(y[3000:3101], u[3000:3100])
    assert 0 < gated.counts["changing"] < 100
    b_new = np.array([0.4, -0.2])          # the doubled input gains, the weights' input column
    err = {k: np.abs(ident.weights.reshape(2, -1)[:, 2] - b_new).max() for k, ident in
           (("gated", gated), ("closed", closed))}
    assert err["gated"] < 0.01 and err["closed"] > 0.15   # re-learnt, against 3 % of the way without q


def test_change_detector_arguments():
    assert DecoupledEKF(change_gate=0).change_gate is None      # 0: q at every update, as None
    for bad in (0.5, -1.0, "3", True):
        with pytest.raises(ParameterError, match="change_gate"):
            DecoupledEKF(change_gate=bad)
    for bad in ((10,), (10, 5), (0, 10), (1.5, 10), "10,100", (True, 10)):
        with pytest.raises(ParameterError, match="change_memory"):
            DecoupledEKF(change_memory=bad)
    assert DecoupledEKF(change_memory=[5, 50]).change_memory == (5, 50)


def test_rtrl_gradient_rule_matches_plain_numpy_run():
    # The same exact RTRL sensitivities, a normalised gradient step in place of the EKF.
    rng = np.random.default_rng(6)
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=4)
    rule = GradientRule(learning_rate=0.7, measurement_noise=[1e-3, 4e-3])
    T = 40
    outputs = np.cumsum(rng.normal(0, 0.05, size=(T + 1, 2)), axis=0)
    inputs = rng.uniform(-1, 1, size=(T, 1))
    ident = IncrementalIdentifier(cfg, rule, rng=3)
    theta0 = init_incremental_weights(cfg, 3)
    th_ref, _ = plain_identifier_run(cfg, theta0, [], np.array(rule.measurement_noise), outputs, inputs, rate=0.7)
    assert ident.fit(outputs, inputs)["updated"] == T
    assert np.abs(th_ref - theta0).max() > 1e-2                  # it learned something
    np.testing.assert_allclose(ident.weights, th_ref, rtol=0, atol=1e-11 * np.abs(th_ref).max())


def test_rtrl_gradient_rule_guards_and_errors():
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2)
    ident = IncrementalIdentifier(cfg, GradientRule(dead_zone=1.0, measurement_noise=1e-2), rng=0)
    w = np.array(ident.weights)
    assert ident.update([0.1], [0.5], [0.1 + 1e-4]) == "dead_zone"
    assert ident.update([0.1], [0.5], [np.nan]) == "non_finite"
    gated = IncrementalIdentifier(cfg, GradientRule(outlier_gate=2.0, measurement_noise=1e-4), rng=0)
    assert gated.update([0.1], [0.5], [0.9]) == "outlier"
    np.testing.assert_array_equal(ident.weights, w)
    np.testing.assert_array_equal(gated.weights, w)
    for bad in (dict(learning_rate=2.0), dict(learning_rate=0.0), dict(measurement_noise=-1.0)):
        with pytest.raises(ParameterError):
            GradientRule(**bad)


def test_without_hidden_units_the_rule_is_recursive_least_squares():
    rng = np.random.default_rng(11)
    p, m, T = 3, 2, 300
    r, p0 = 4e-4, 1.0
    cfg = IncrementalConfig(n_outputs=p, n_inputs=m, n_hidden=0)
    ident = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=r, output_covariance=p0), rng=0)
    A_true = rng.normal(0, 0.1, size=(p, p + m + 1))
    A_true[:, :p] = -0.2 * np.eye(p) + rng.normal(0, 0.02, size=(p, p))   # a stable plant
    y = np.zeros((T + 1, p))
    u = rng.uniform(-1, 1, size=(T, m))
    for t in range(T):
        z = np.concatenate([y[t], u[t], [1.0]])
        y[t + 1] = y[t] + A_true @ z + rng.normal(0, 0.02, size=p)
    ident.fit(y, u)
    # plain RLS, forgetting 1, P(0) = (p0 / r) I, one regression per output on z with target y(t+1) - y(t)
    Wr = np.zeros((p, p + m + 1))
    Pr = np.eye(p + m + 1) * p0 / r
    for t in range(T):
        z = np.concatenate([y[t], u[t], [1.0]])
        k = Pr @ z / (1.0 + z @ Pr @ z)
        Wr += np.outer(y[t + 1] - y[t] - Wr @ z, k)
        Pr = Pr - np.outer(k, z @ Pr)
    np.testing.assert_allclose(ident.weights.reshape(p, -1), Wr, rtol=0, atol=1e-10)
    for i in range(p):
        np.testing.assert_allclose(ident.covariance[i], r * Pr, rtol=0, atol=1e-12 * np.abs(r * Pr).max())
    assert np.abs(Wr - A_true).max() < 0.05   # and it identifies the system


def test_reweighing_the_past_is_rls_run_with_the_new_r_and_a_scaled_prior():
    # Without hidden units the covariance after T updates with R = r is (I / p0 + sum z z^T / r)^-1. Reweighed from
    # r_s to r_b = k r_s (the controller's first R from the noise estimate) it is (I / (k p0) + sum z z^T / r_b)^-1:
    # the data weighed as if R had been r_b throughout, the prior k times wider. Plain numpy reference.
    rng = np.random.default_rng(12)
    p, m, T = 3, 2, 300
    r_s, p0 = 1e-5, 1.0
    r_b = np.array([4e-4, 1e-5, 2.5e-4])          # the second output measured noise-free: its row unchanged
    cfg = IncrementalConfig(n_outputs=p, n_inputs=m, n_hidden=0)
    ident = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=r_s, output_covariance=p0), rng=0)
    y = np.cumsum(rng.normal(0, 0.05, size=(T + 1, p)), axis=0)
    u = rng.uniform(-1, 1, size=(T, m))
    ident.fit(y, u)
    theta = ident.weights.copy()
    ident._R[:] = r_b                              # R as the controller sets it from the noise estimate
    ident.reweigh_past(np.full(p, r_s))
    Z = np.column_stack([y[:-1], u, np.ones(T)])
    for i in range(p):
        k = r_b[i] / r_s
        want = np.linalg.inv(np.eye(Z.shape[1]) / (k * p0) + Z.T @ Z / r_b[i])
        np.testing.assert_allclose(ident.covariance[i], want, rtol=1e-8, atol=0)
    np.testing.assert_array_equal(ident.weights, theta)          # the weights are not touched


def test_reweighing_scales_hidden_blocks_by_the_mean_ratio_within_the_trace_bounds():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)
    ident = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=1e-5), rng=0)
    rng = np.random.default_rng(3)
    ident.fit(np.cumsum(rng.normal(0, 0.05, size=(201, 2)), axis=0), rng.uniform(-1, 1, size=(200, 1)))
    before = ident.covariance.copy()
    ident._R[:] = [3e-5, 1e-4]                     # ratios 3 and 10, mean 6.5
    ident.reweigh_past([1e-5, 1e-5])
    bound = ident._max_trace
    for b, factor in enumerate([3.0, 10.0, 6.5, 6.5, 6.5]):
        want = before[b] * factor
        if np.trace(want) > bound[b]:
            want *= bound[b] / np.trace(want)
        np.testing.assert_allclose(ident.covariance[b], want, rtol=1e-12, atol=0)
    assert np.all(np.trace(ident.covariance, axis1=1, axis2=2) <= bound * (1 + 1e-12))


# ----------------------------------------------------------------- guards

def test_dead_zone_outlier_and_non_finite_leave_everything_unchanged():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)
    rule = DecoupledEKF(measurement_noise=1e-4, dead_zone=1.0, outlier_gate=5.0)
    ident = IncrementalIdentifier(cfg, rule, rng=1)
    w0, P0 = ident.weights.copy(), ident.covariance.copy()
    assert ident.update([0.1, 0.2], [0.3], [0.1 + 1e-3, 0.2]) == "dead_zone"   # 0.7 sd RMS
    h1 = ident.hidden   # a dead-zone step still advances the hidden state (it tracks the data)
    assert np.all(h1 != 0)
    assert ident.update([0.1, 0.2], [0.3], [np.nan, 0.2]) == "non_finite"
    assert ident.update([0.1, 0.2], [np.inf], [0.1, 0.2]) == "non_finite"
    np.testing.assert_array_equal(ident.hidden, h1)   # non-finite data do not move the hidden state
    # an error of 1e3 predicted standard deviations is gated
    rule2 = DecoupledEKF(measurement_noise=1e-4, outlier_gate=5.0, output_covariance=1e-8, hidden_covariance=1e-8)
    ident2 = IncrementalIdentifier(cfg, rule2, rng=1)
    assert ident2.update([0.1, 0.2], [0.3], [10.0, 0.2]) == "outlier"
    np.testing.assert_array_equal(ident.weights, w0)
    np.testing.assert_array_equal(ident.covariance, P0)
    np.testing.assert_array_equal(ident2.weights, w0)
    assert ident.counts == {"updated": 0, "dead_zone": 1, "outlier": 0, "non_finite": 2, "onset": 0, "held": 0,
                            "bounded": 0, "frozen": 0, "unstable": 0, "changing": 0}
    assert ident.update([0.1, 0.2], [0.3], [0.5, 0.2]) == "updated"
    assert not np.array_equal(ident.weights, w0)


def test_long_saturating_run_stays_finite_and_bounded():
    # a nonlinear plant driven by a random input that spends most of its time on the limits,
    # with bursts of outliers and NaN: weights, covariance and predictions stay finite and bounded
    rng = np.random.default_rng(21)
    T = 20000
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=6, output_range=[[-3, -3], [3, 3]],
                            input_range=[[-1], [1]])
    rule = DecoupledEKF(measurement_noise=2 * (0.01 / 3) ** 2, process_noise=1e-6, dead_zone=0.5, outlier_gate=8.0)
    ident = IncrementalIdentifier(cfg, rule, rng=2)
    y = np.zeros((T + 1, 2))
    u = np.clip(3.0 * np.repeat(rng.normal(size=T // 20), 20), -1, 1)[:, None]
    assert np.mean(np.abs(u) == 1) > 0.6
    x = np.zeros(2)
    for t in range(T):
        x = np.array([0.9 * x[0] + 0.2 * np.tanh(3 * u[t, 0]) + 0.05 * np.sin(x[1]),
                      0.8 * x[1] + 0.05 * x[0] ** 2 - 0.1])   # stays inside the declared +-3
        y[t + 1] = x + rng.normal(0, 0.01, 2)
    y[5000:5010] += 50.0                     # sensor glitch
    y[7000, 0] = np.nan
    counts = ident.fit(y, u)
    assert counts["non_finite"] == 2 and counts["outlier"] >= 10
    assert np.all(np.isfinite(ident.weights)) and np.all(np.isfinite(ident.covariance))
    bounds = rule.trace_bounds(cfg)
    assert np.all(np.trace(ident.covariance, axis1=1, axis2=2) <= bounds * (1 + 1e-12))
    assert np.abs(ident.weights).max() < 100.0
    assert np.abs(y[1:5000]).max() < 3.0
    pred = ident.predict(y[-1], u[-200:])   # 200-step free run stays inside the declared ranges
    assert np.all(np.isfinite(pred)) and np.abs(pred).max() < 3.0


# ----------------------------------------------------------------- prediction in physical units

def test_physical_jacobian_matches_finite_differences():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=2, n_hidden=3, output_range=[[0, -1], [200, 1]],
                            input_range=[[0, -600], [400, 600]])
    ident = IncrementalIdentifier(cfg, rng=4)
    rng = np.random.default_rng(0)
    for _ in range(50):
        ident.update([100 + rng.normal(), rng.normal(0, .1)], [200 + rng.normal(0, 50), rng.normal(0, 100)],
                     [100 + rng.normal(), rng.normal(0, .1)])
    inputs = np.array([[200.0, 10.0]] * 6)
    out, J = ident.predict_with_jacobian([120.0, 0.2], inputs)
    np.testing.assert_allclose(out, ident.predict([120.0, 0.2], inputs))
    eps = 1e-3
    for j, a in [(0, 0), (2, 1)]:
        up, um = inputs.copy(), inputs.copy()
        up[j, a] += eps
        um[j, a] -= eps
        fd = (ident.predict([120.0, 0.2], up) - ident.predict([120.0, 0.2], um)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, j, a], fd, rtol=1e-6, atol=1e-9 * np.abs(fd).max())


# ----------------------------------------------------------------- errors

def test_errors():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=1)
    with pytest.raises(ParameterError, match="`measurement_noise` must be a positive number"):
        DecoupledEKF(measurement_noise=-1.0)
    with pytest.raises(ParameterError, match="`hidden_covariance` must be a finite number > 0"):
        DecoupledEKF(hidden_covariance=0.0)
    with pytest.raises(ParameterError, match="`outlier_gate` must be a number > 0"):
        DecoupledEKF(outlier_gate=0.0)
    with pytest.raises(ParameterError, match="`decoupled` must be True or False"):
        DecoupledEKF(decoupled="yes")
    with pytest.raises(ShapeError, match=r"`measurement_noise` must be a number or have shape \(2,\)"):
        IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=[1.0, 2.0, 3.0]), rng=0)
    with pytest.raises(ParameterError, match="`rule` must be a DecoupledEKF"):
        IncrementalIdentifier(cfg, "ekf", rng=0)
    with pytest.raises(ParameterError, match="`config` must be an IncrementalConfig"):
        IncrementalIdentifier("cfg", rng=0)
    rule = DecoupledEKF()
    with pytest.raises(ShapeError, match="`covariance` must have shape"):
        rule.update(cfg, np.zeros(cfg.n_weights), np.zeros((1, 2, 2)), np.zeros((2, cfg.n_weights)), np.zeros(2))
    with pytest.raises(ShapeError, match="`theta` must be a writeable C-contiguous float64 array"):
        rule.update(cfg, [0.0] * cfg.n_weights, rule.initial_covariance(cfg), np.zeros((2, cfg.n_weights)),
                    np.zeros(2))
    ident = IncrementalIdentifier(cfg, rng=0)
    with pytest.raises(ShapeError, match=r"`y` must have shape \(2,\)"):
        ident.update([0.0], [0.0], [0.0, 0.0])


def test_last_prediction_is_the_one_step_prediction_before_the_update():
    # Claim: after update(y, u, y_next) the identifier reports y_hat(t+1) of the weights *before* that update,
    # in physical units: what predict() gave one call earlier from the same state.
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3, output_range=[[0.0, -2.0], [10.0, 2.0]],
                            input_range=[[-1.0], [1.0]])
    ident = IncrementalIdentifier(cfg, DecoupledEKF(measurement_noise=1e-4), rng=3)
    rng = np.random.default_rng(0)
    y = np.array([5.0, 0.3])
    for _ in range(5):
        u = rng.uniform(-1, 1, 1)
        want = ident.predict(y, u[None, :])[0]
        y_next = want + rng.normal(0, 0.05, 2)
        assert ident.update(y, u, y_next) == "updated"
        np.testing.assert_allclose(ident.last_prediction, want, rtol=0, atol=1e-12)
        y = y_next


# ----------------------------------------------------------------- the growth check


def plain_state_map(cfg, theta, y, u, h):
    """(y(t+1), h(t+1)) of the incremental network from (y, h), plain numpy, normalised units."""
    p, H, nb = cfg.n_outputs, cfg.n_hidden, cfg.block_size
    C = theta[:p * nb].reshape(p, nb)
    W = theta[p * nb:].reshape(H, nb)
    z = np.concatenate([y, u, [1.0]])
    hn = np.tanh(W @ np.concatenate([h, z]))
    return np.concatenate([y + C @ np.concatenate([z, hn]), hn])


@pytest.mark.parametrize("H", [0, 4])
def test_state_jacobian_and_spectral_radius_match_finite_differences_of_a_plain_network(H):
    cfg = IncrementalConfig(n_outputs=3, n_inputs=2, n_hidden=H)
    ident = IncrementalIdentifier(cfg, rng=0)
    rng = np.random.default_rng(1)
    for _ in range(30):
        ident.update(rng.normal(0, 0.3, 3), rng.normal(0, 0.3, 2), rng.normal(0, 0.3, 3))
    y, u, h = rng.normal(0, 0.3, 3), rng.normal(0, 0.3, 2), ident.hidden
    ident.update(y, u, rng.normal(0, 0.3, 3), learn=False)        # the latest transition: from (y, h) with u
    yn, un = (y - cfg.output_mid) / cfg.output_half, (u - cfg.input_mid) / cfg.input_half
    z0, eps = np.concatenate([yn, h]), 1e-6
    J = np.column_stack([(plain_state_map(cfg, ident.weights, *np.split(z0 + d, [3])[:1], un, (z0 + d)[3:])
                          - plain_state_map(cfg, ident.weights, *np.split(z0 - d, [3])[:1], un, (z0 - d)[3:]))
                         / (2 * eps) for d in eps * np.eye(3 + H)])
    np.testing.assert_allclose(ident.state_jacobian(), J, atol=1e-8)
    assert ident.spectral_radius() == pytest.approx(np.max(np.abs(np.linalg.eigvals(J))), rel=1e-7)


def test_growth_limit_keeps_a_linear_model_of_a_growing_system_within_it():
    # y(t+1) = 1.05 y(t) + u(t): the least-squares model grows 5 % per step; the limit is 1 % per step
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=0, output_range=[[-10.0], [10.0]],
                            input_range=[[-10.0], [10.0]])
    rng = np.random.default_rng(0)
    y, u = rng.uniform(-5.0, 5.0, 400), rng.normal(0.0, 1.0, 400)     # transitions from random points
    free = IncrementalIdentifier(cfg, rng=0)
    guarded = IncrementalIdentifier(cfg, rng=0, growth_limit=1.01, check_every=5)
    for t in range(400):
        free.update([y[t]], [u[t]], [1.05 * y[t] + u[t]])
        guarded.update([y[t]], [u[t]], [1.05 * y[t] + u[t]])
    assert free.spectral_radius() > 1.02                  # unguarded, it learns the growth
    assert guarded.counts["unstable"] > 0
    assert guarded.spectral_radius() <= 1.01              # linear: the radius does not depend on the point
    assert free.counts["unstable"] == 0


def test_growth_limit_argument_errors():
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2)
    with pytest.raises(ParameterError, match="growth_limit"):
        IncrementalIdentifier(cfg, rng=0, growth_limit=-1.0)
    with pytest.raises(ParameterError, match="check_every"):
        IncrementalIdentifier(cfg, rng=0, growth_limit=1.1, check_every=0)
