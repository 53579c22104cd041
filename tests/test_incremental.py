"""The incremental identifier network: forward runs and exact RTRL sensitivities against plain BPTT and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets.incremental import (
    IncrementalConfig,
    free_run,
    incremental_step,
    init_incremental_weights,
    input_jacobian,
    one_step_predictions,
    output_sensitivities,
    split_weights,
)

P_OUT, M_IN = 3, 2


# ----------------------------------------------------------------- plain references (no kernel shared)

def unpack(theta, p, m, H):
    nz = p + m + 1
    nb = H + nz
    C = theta[:p * nb].reshape(p, nb)
    W = theta[p * nb:].reshape(H, nb)
    return C[:, :nz], C[:, nz:], W


def plain_forward(theta, p, m, H, measured, inputs, h0, teacher):
    """Return the per-step records of a plain numpy run (y_in, z, x, h_next, y_next)."""
    A, V, W = unpack(theta, p, m, H)
    h = h0.copy()
    y = measured[0].copy()
    rec = []
    for t in range(inputs.shape[0]):
        y_in = measured[t] if teacher else y
        z = np.concatenate([y_in, inputs[t], [1.0]])
        x = np.concatenate([h, z])
        hn = np.tanh(W @ x)
        yn = y_in + A @ z + V @ hn
        rec.append((z, x, hn, yn))
        h, y = hn, yn
    return rec


def plain_bptt(theta, p, m, H, measured, inputs, h0, teacher, g):
    """Gradient of L = sum_t g[t] . y_hat(t+1) w.r.t. theta and the inputs, by backpropagation through time."""
    A, V, W = unpack(theta, p, m, H)
    rec = plain_forward(theta, p, m, H, measured, inputs, h0, teacher)
    dA, dV, dW = np.zeros_like(A), np.zeros_like(V), np.zeros_like(W)
    du = np.zeros_like(inputs)
    carry_y, carry_h = np.zeros(p), np.zeros(H)
    for t in range(len(rec) - 1, -1, -1):
        z, x, hn, _ = rec[t]
        gy = g[t] + carry_y
        gh = carry_h + V.T @ gy
        dA += np.outer(gy, z)
        dV += np.outer(gy, hn)
        ga = gh * (1.0 - hn ** 2)
        dW += np.outer(ga, x)
        gx = W.T @ ga
        gz = gx[H:] + A.T @ gy
        carry_h = gx[:H]
        carry_y = (gy + gz[:p]) if not teacher else np.zeros(p)
        du[t] = gz[p:p + m]
    grad = np.concatenate([np.hstack([dA, dV]).ravel(), dW.ravel()])
    return grad, du


def random_problem(H, T, seed, scale=0.05):
    rng = np.random.default_rng(seed)
    cfg = IncrementalConfig(n_outputs=P_OUT, n_inputs=M_IN, n_hidden=H)
    theta = init_incremental_weights(cfg, rng)
    C, _ = split_weights(cfg, theta)
    C[:] = rng.normal(0.0, scale, size=C.shape)
    measured = rng.uniform(-1, 1, size=(T, P_OUT))
    inputs = rng.uniform(-1, 1, size=(T, M_IN))
    h0 = rng.uniform(-0.5, 0.5, size=H)
    g = rng.normal(size=(T, P_OUT))
    return cfg, theta, measured, inputs, h0, g


def rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# ----------------------------------------------------------------- forward

@pytest.mark.parametrize("H", [0, 4, 8])
def test_free_run_and_one_step_match_plain_forward(H):
    cfg, theta, measured, inputs, h0, _ = random_problem(H, 30, 1)
    out, hid = free_run(cfg, theta, measured[0], inputs, h0)
    rec = plain_forward(theta, P_OUT, M_IN, H, measured, inputs, h0, teacher=False)
    np.testing.assert_allclose(out, np.array([r[3] for r in rec]), rtol=0, atol=1e-13)
    np.testing.assert_allclose(hid, np.array([r[2] for r in rec]).reshape(30, H), rtol=0, atol=1e-13)
    pred, hid_tf = one_step_predictions(cfg, theta, measured, inputs, h0)
    rec_tf = plain_forward(theta, P_OUT, M_IN, H, measured, inputs, h0, teacher=True)
    np.testing.assert_allclose(pred, np.array([r[3] for r in rec_tf]), rtol=0, atol=1e-13)
    np.testing.assert_allclose(hid_tf[0], h0)
    y1, h1 = incremental_step(cfg, theta, measured[0], inputs[0], h0)
    np.testing.assert_allclose(y1, rec[0][3], atol=1e-14)
    np.testing.assert_allclose(h1, rec[0][2], atol=1e-14)


def test_zero_weights_predict_no_change():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)
    out, _ = free_run(cfg, np.zeros(cfg.n_weights), [0.3, -0.2], np.ones((5, 1)))
    np.testing.assert_array_equal(out, np.tile([0.3, -0.2], (5, 1)))


def test_init_weights_layout_and_seed():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=4)
    a = init_incremental_weights(cfg, 7)
    b = init_incremental_weights(cfg, 7)
    np.testing.assert_array_equal(a, b)
    C, W = split_weights(cfg, a)
    assert np.all(C == 0) and W.shape == (4, cfg.block_size)
    assert np.all(W != 0)
    C[0, 0] = 5.0   # views share memory with theta
    assert a[0] == 5.0


# ----------------------------------------------------------------- RTRL vs BPTT and finite differences

@pytest.mark.parametrize("H", [0, 4, 8])
@pytest.mark.parametrize("teacher", [True, False])
@pytest.mark.parametrize("T", [1, 60])
def test_rtrl_matches_bptt(H, teacher, T):
    cfg, theta, measured, inputs, h0, g = random_problem(H, T, 10 + H + T)
    out, sens = output_sensitivities(cfg, theta, measured if teacher else measured[0], inputs, h0,
                                     teacher_forcing=teacher)
    grad_rtrl = np.einsum("tp,tpn->n", g, sens)
    grad_bptt, _ = plain_bptt(theta, P_OUT, M_IN, H, measured, inputs, h0, teacher, g)
    assert rel(grad_rtrl, grad_bptt) <= 1e-10
    rec = plain_forward(theta, P_OUT, M_IN, H, measured, inputs, h0, teacher)
    np.testing.assert_allclose(out, np.array([r[3] for r in rec]), atol=1e-13)


@pytest.mark.parametrize("H", [0, 4, 8])
@pytest.mark.parametrize("teacher", [True, False])
def test_rtrl_matches_finite_differences(H, teacher):
    T = 15
    cfg, theta, measured, inputs, h0, g = random_problem(H, T, 3 + H)
    _, sens = output_sensitivities(cfg, theta, measured if teacher else measured[0], inputs, h0,
                                   teacher_forcing=teacher)
    grad = np.einsum("tp,tpn->n", g, sens)

    def loss(th):
        rec = plain_forward(th, P_OUT, M_IN, H, measured, inputs, h0, teacher)
        return sum(g[t] @ rec[t][3] for t in range(T))

    eps = 1e-6
    fd = np.empty_like(theta)
    for i in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += eps
        tm[i] -= eps
        fd[i] = (loss(tp) - loss(tm)) / (2 * eps)
    assert rel(grad, fd) <= 1e-6


def test_teacher_forced_sensitivity_ignores_output_weights_in_hidden_path():
    # with teacher forcing only the output row i's own weights move y_i directly
    cfg, theta, measured, inputs, h0, _ = random_problem(4, 5, 2)
    _, sens = output_sensitivities(cfg, theta, measured, inputs, h0)
    nb = cfg.block_size
    for i in range(P_OUT):
        for j in range(P_OUT):
            block = sens[:, i, j * nb:(j + 1) * nb]
            assert np.any(block != 0) if i == j else np.all(block == 0)


@pytest.mark.parametrize("H", [0, 4, 8])
def test_input_jacobian_matches_bptt_and_finite_differences(H):
    N = 25
    cfg, theta, measured, inputs, h0, g = random_problem(H, N, 40 + H)
    out, J = input_jacobian(cfg, theta, measured[0], inputs, h0)
    _, du = plain_bptt(theta, P_OUT, M_IN, H, measured, inputs, h0, False, g)
    assert rel(np.einsum("ip,ipjm->jm", g, J), du) <= 1e-10
    rec = plain_forward(theta, P_OUT, M_IN, H, measured, inputs, h0, teacher=False)
    np.testing.assert_allclose(out, np.array([r[3] for r in rec]), atol=1e-13)
    # causality: no output depends on a later input
    for i in range(N):
        assert np.all(J[i, :, i + 1:, :] == 0)
    # a column by central differences
    eps = 1e-6
    j, a = 7, 1
    up, um = inputs.copy(), inputs.copy()
    up[j, a] += eps
    um[j, a] -= eps
    yp = np.array([r[3] for r in plain_forward(theta, P_OUT, M_IN, H, measured, up, h0, False)])
    ym = np.array([r[3] for r in plain_forward(theta, P_OUT, M_IN, H, measured, um, h0, False)])
    assert rel(J[:, :, j, a], (yp - ym) / (2 * eps)) <= 1e-6


def test_hidden_units_are_nonlinear_at_normalised_scale():
    # inputs of order one put the hidden units in tanh's nonlinear range: sensitivities change with the input
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=4)
    theta = init_incremental_weights(cfg, 0)
    C, _ = split_weights(cfg, theta)
    C[0, cfg.n_z:] = 1.0
    slopes = []
    for u in (-1.0, 0.0, 1.0):
        _, J = input_jacobian(cfg, theta, [0.0], [[u]])
        slopes.append(J[0, 0, 0, 0])
    assert np.ptp(slopes) > 0.1 * np.max(np.abs(slopes))


# ----------------------------------------------------------------- scaling and errors

def test_normalisation_maps_declared_ranges_to_unit_interval():
    cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=0, output_range=[[0, -2], [10, 2]],
                            input_range=[[0], [400]])
    np.testing.assert_allclose(cfg.normalize_outputs([[0, -2], [10, 2]]), [[-1, -1], [1, 1]])
    np.testing.assert_allclose(cfg.normalize_inputs([200]), [0])
    np.testing.assert_allclose(cfg.denormalize_outputs(cfg.normalize_outputs([3.0, 0.5])), [3.0, 0.5])


def test_errors():
    with pytest.raises(ParameterError, match="`output_range` must have low < high"):
        IncrementalConfig(n_outputs=1, n_inputs=1, output_range=[[1.0], [0.0]])
    with pytest.raises(ShapeError, match=r"`input_range` must have shape \(2, 2\)"):
        IncrementalConfig(n_outputs=1, n_inputs=2, input_range=[[0.0], [1.0]])
    with pytest.raises(ParameterError, match="`n_hidden` must be"):
        IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=-1)
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2)
    with pytest.raises(ParameterError, match="`rng` must be"):
        init_incremental_weights(cfg, None)
    with pytest.raises(ParameterError, match="`config` must be an IncrementalConfig"):
        free_run("cfg", np.zeros(3), [0.0], [[0.0]])
    with pytest.raises(ShapeError, match=r"`theta` must have shape \(15,\)"):
        free_run(cfg, np.zeros(3), [0.0], [[0.0]])
    with pytest.raises(ShapeError, match="`inputs` must hold at least one time step"):
        free_run(cfg, np.zeros(cfg.n_weights), [0.0], np.zeros((0, 1)))
    with pytest.raises(ShapeError, match=r"`measured` must have shape \(4, 1\)"):
        output_sensitivities(cfg, np.zeros(cfg.n_weights), np.zeros((3, 1)), np.zeros((4, 1)))


@pytest.mark.parametrize("H", [0, 3])
def test_blocked_jacobian_with_input_taps_matches_finite_differences_of_a_plain_run(H):
    # The network sees taps u(t), u(t-1), u(t-2) (the neural controller's `input_taps = 3`); tap j of
    # horizon step t is plan block block_of[t - j], or a fixed past input for t < j.
    from neurocontrol.nets import _incremental_kernels as _k

    p, m, taps = 2, 2, 3
    cfg = IncrementalConfig(n_outputs=p, n_inputs=m * taps, n_hidden=H)
    rng = np.random.default_rng(40 + H)
    theta = init_incremental_weights(cfg, rng) + rng.normal(0, 0.3, cfg.n_weights)
    blk = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2], dtype=np.int64)
    N = blk.size
    v = rng.uniform(-0.6, 0.6, (3, m))
    past = rng.uniform(-0.6, 0.6, (taps - 1, m))          # inputs of steps -1 and -2
    y0, h0 = rng.uniform(-0.5, 0.5, p), rng.uniform(-0.5, 0.5, H)

    def tapped(plan):
        U = np.empty((N, m * taps))
        for t in range(N):
            for j in range(taps):
                U[t, j * m:(j + 1) * m] = plan[blk[t - j]] if t >= j else past[j - t - 1]
        return U

    def plain(plan):
        rec = plain_forward(theta, p, m * taps, H, np.vstack([y0, np.zeros((N, p))]), tapped(plan), h0, False)
        return np.array([r[3] for r in rec])

    C, W = split_weights(cfg, theta)
    nc = 3 * m
    out, J = np.empty((N, p)), np.empty((N, p, nc))
    _k.blocked_jacobian_kernel(C, W, y0, h0, tapped(v), blk, m, out, J, np.empty(p), np.empty(H),
                               np.empty((p, nc)), np.empty((p, nc)), np.empty((H, nc)), np.empty((H, nc)),
                               np.empty(cfg.block_size), np.empty(cfg.block_size))
    np.testing.assert_allclose(out, plain(v), rtol=0, atol=1e-12)
    eps = 1e-6
    for c in range(nc):
        vp, vm = v.copy(), v.copy()
        vp.flat[c] += eps
        vm.flat[c] -= eps
        fd = (plain(vp) - plain(vm)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, c], fd, rtol=1e-6, atol=1e-8)
    assert np.abs(J[:3, :, m:]).max() == 0.0         # blocks 1, 2 start at steps 3, 7: no effect before


# ----------------------------------------------------------------- filter units (filter_time_constants)

def test_filter_units_start_as_leaky_filters_of_the_inputs_from_the_same_draw():
    p, m, H, taus = 2, 2, 5, (2.0, 10.0, 50.0)
    plain = IncrementalConfig(n_outputs=p, n_inputs=m, n_hidden=H)
    filt = IncrementalConfig(n_outputs=p, n_inputs=m, n_hidden=H, filter_time_constants=taus)
    a_theta, b_theta = init_incremental_weights(plain, 3), init_incremental_weights(filt, 3)
    A0, V0, W0 = unpack(a_theta, p, m, H)
    A1, V1, W1 = unpack(b_theta, p, m, H)
    np.testing.assert_array_equal(A1, A0)
    np.testing.assert_array_equal(V1, V0)
    np.testing.assert_array_equal(W1[3:], W0[3:])          # the other units keep the random draw
    for j, tau in enumerate(taus):
        a = np.exp(-1.0 / tau)
        expect = np.zeros(H + p + m + 1)
        expect[j] = a                                       # itself, no other unit
        expect[H + p:H + p + m] = (1.0 - a) * W0[j, H + p:H + p + m]   # inputs; outputs and bias 0
        np.testing.assert_allclose(W1[j], expect, rtol=0, atol=0)


def test_a_filter_unit_is_a_first_order_low_pass_of_its_inputs():
    # small-signal step response of unit j: g (1 - a^t) with g = mix . u, against a plain tanh recursion
    p, m, H, taus = 1, 2, 3, (4.0, 25.0)
    cfg = IncrementalConfig(n_outputs=p, n_inputs=m, n_hidden=H, filter_time_constants=taus)
    theta = init_incremental_weights(cfg, 11)
    _, _, W = unpack(theta, p, m, H)
    u = np.array([1e-4, -2e-4])          # tanh's cubic term: relative error below g^2 / (3 (1 - a)) ~ 1e-7
    h, y = np.zeros(H), np.zeros(p)
    h_plain = np.zeros(H)
    for t in range(1, 101):
        z = np.concatenate([y, u, [1.0]])    # the network's y(t): A = V = 0 keeps it at 0
        y, h = incremental_step(cfg, theta, y, u, h)
        h_plain = np.tanh(W[:, :H] @ h_plain + W[:, H:] @ z)
        np.testing.assert_allclose(h, h_plain, rtol=1e-12, atol=1e-15)
        for j, tau in enumerate(taus):
            a = np.exp(-1.0 / tau)
            g = W[j, H + p:H + p + m] @ u / (1.0 - a)
            np.testing.assert_allclose(h[j], g * (1.0 - a ** t), rtol=1e-6)


def test_filter_time_constants_errors():
    with pytest.raises(ParameterError, match="`filter_time_constants` must hold at most n_hidden=2"):
        IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2, filter_time_constants=(2.0, 5.0, 9.0))
    with pytest.raises(ParameterError, match="positive time constants"):
        IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2, filter_time_constants=(0.0,))
