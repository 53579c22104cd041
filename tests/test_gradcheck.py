"""The public gradient check, and its BPTT against the independent plain-loop reference."""

import naive
import numpy as np
import pytest

from neurocontrol.exceptions import OutOfRangeError, ParameterError, ShapeError
from neurocontrol.nets.gradcheck import GradientCheckResult, bptt_gradient, check_gradients, relative_error
from neurocontrol.nets.rtrl import SnAp1
from neurocontrol.nets.rtrn import RTRN, RTRNConfig, init_weights


def data(cfg, T, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = (0.1, 0.9) if cfg.activation.name == "logistic" else (-0.8, 0.8)
    return rng.uniform(-1, 1, (T, cfg.n_inputs)), rng.uniform(lo, hi, (T, cfg.n_outputs))


CONFIGS = [
    RTRNConfig(n_outputs=5, n_inputs=2),  # the helicopter-sized output-recurrent RTRN
    RTRNConfig(n_outputs=3, n_inputs=2, n_hidden=3, init_scale=1.5),
    RTRNConfig(n_outputs=2, n_inputs=1, n_hidden=2, activation="logistic", bias=False, init_scale=2.0),
]


@pytest.mark.parametrize("forcing", [False, True])
@pytest.mark.parametrize("T", [1, 200])
@pytest.mark.parametrize("cfg", CONFIGS, ids=["outputs", "hidden", "logistic"])
def test_check_gradients_passes_for_exact_rtrl(cfg, T, forcing):
    U, D = data(cfg, T)
    res = check_gradients(cfg, U, D, teacher_forcing=forcing, seed=1)
    assert isinstance(res, GradientCheckResult)
    assert res.rtrl_vs_bptt <= 1e-10
    assert res.rtrl_vs_fd <= 1e-6
    assert res.passed()
    assert res.rtrl.shape == res.bptt.shape == res.finite_difference.shape == cfg.weight_shape


@pytest.mark.parametrize("forcing", [False, True])
def test_library_bptt_matches_plain_loop_bptt(forcing):
    cfg = CONFIGS[1]
    U, D = data(cfg, 50, seed=2)
    W = init_weights(cfg, 3)
    y0 = np.linspace(-0.5, 0.5, cfg.n_units)
    loss, G = bptt_gradient(cfg, W, y0, U, D, teacher_forcing=forcing)
    loss_ref, G_ref = naive.bptt_loops(W, y0, U, D, cfg.n_outputs, cfg.bias, "tanh", forcing)
    assert relative_error(G, G_ref) <= 1e-12
    assert loss == pytest.approx(loss_ref, rel=1e-13)


def test_check_gradients_accepts_an_rtrn_and_uses_its_weights_and_state():
    cfg = CONFIGS[0]
    net = RTRN(cfg, seed=4)
    net.reset(np.full(5, 0.2))
    U, D = data(cfg, 20)
    res = check_gradients(net, U, D)
    ref = check_gradients(cfg, U, D, weights=net.weights, y0=net.state)
    np.testing.assert_array_equal(res.rtrl, ref.rtrl)
    assert res.passed()


def test_check_gradients_exposes_an_inexact_strategy():
    cfg = RTRNConfig(n_outputs=3, n_inputs=2, init_scale=2.0)
    U, D = data(cfg, 30)
    res = check_gradients(cfg, U, D, sensitivity=SnAp1())
    assert not res.passed()
    assert res.rtrl_vs_bptt > 1e-3


def test_relative_error():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 2.5], [1.0, 2.0]) == pytest.approx(0.25)
    assert relative_error([0.0], [0.0]) == 0.0


def test_check_gradients_errors():
    cfg = CONFIGS[0]
    U, D = data(cfg, 5)
    with pytest.raises(ParameterError, match="`net` must be an RTRNConfig or an RTRN, got ndarray"):
        check_gradients(np.zeros((5, 8)), U, D)
    with pytest.raises(ParameterError, match=r"`eps` must be a finite number > 0 and < 1, got 0\.0\."):
        check_gradients(cfg, U, D, eps=0.0)
    with pytest.raises(OutOfRangeError, match=r"`targets` must lie strictly inside \(-1, 1\)"):
        check_gradients(cfg, U, D + 1.0)
    with pytest.raises(ShapeError, match=r"`weights` must have shape \(5, 8\), got \(5, 7\)"):
        check_gradients(cfg, U, D, weights=np.zeros((5, 7)))
