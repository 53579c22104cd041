"""RTRN structure: configuration, activations, weights, normalisation, forward passes, the RTRN object."""

import naive
import numpy as np
import pytest

from neurocontrol.exceptions import NonFiniteError, OutOfRangeError, ParameterError, ShapeError
from neurocontrol.nets.rtrn import (
    ACTIVATIONS,
    RTRN,
    Logistic,
    Normalizer,
    RTRNConfig,
    Tanh,
    forward,
    get_activation,
    init_weights,
    predict,
    stack_z,
)
from neurocontrol.nets.rules import TwoDRule


def test_config_derived_sizes():
    cfg = RTRNConfig(n_outputs=5, n_inputs=2)
    assert (cfg.n_units, cfg.n_z, cfg.weight_shape, cfg.n_weights) == (5, 8, (5, 8), 40)
    cfg = RTRNConfig(n_outputs=2, n_inputs=3, n_hidden=4, bias=False, activation="logistic")
    assert (cfg.n_units, cfg.n_z, cfg.weight_shape) == (6, 9, (6, 9))
    assert isinstance(cfg.activation, Logistic)
    assert RTRNConfig(n_outputs=1, n_inputs=0, activation=Tanh()).activation == ACTIVATIONS["tanh"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_outputs=0, n_inputs=1), r"`n_outputs` must be an integer >= 1, got 0"),
    (dict(n_outputs=1.5, n_inputs=1), r"`n_outputs` must be an integer >= 1, got 1.5"),
    (dict(n_outputs=True, n_inputs=1), r"`n_outputs` must be an integer >= 1, got True"),
    (dict(n_outputs=2, n_inputs=-1), r"`n_inputs` must be an integer >= 0, got -1"),
    (dict(n_outputs=2, n_inputs=1, n_hidden=-2), r"`n_hidden` must be an integer >= 0"),
    (dict(n_outputs=2, n_inputs=1, activation="relu"), r"`activation` must be one of \['logistic', 'tanh'\]"),
    (dict(n_outputs=2, n_inputs=1, bias=1), r"`bias` must be True or False, got 1"),
    (dict(n_outputs=2, n_inputs=1, init_scale=-1.0), r"`init_scale` must be a finite number >= 0"),
    (dict(n_outputs=2, n_inputs=1, init_scale="big"), r"`init_scale` must be a finite number >= 0"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        RTRNConfig(**kwargs)


def test_config_is_frozen_and_keyword_only():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    with pytest.raises(AttributeError):
        cfg.n_outputs = 3
    with pytest.raises(TypeError):
        RTRNConfig(1, 1)


@pytest.mark.parametrize("name", ["tanh", "logistic"])
def test_activations_derivative_and_inverse(name):
    act = get_activation(name)
    s = np.linspace(-4, 4, 41)
    h = 1e-6
    np.testing.assert_allclose(act.fprime(s), (act.f(s + h) - act.f(s - h)) / (2 * h), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(act.inverse(act.f(s)), s, rtol=1e-9, atol=1e-12)
    assert act.f(np.array([-800.0]))[0] >= act.low and act.f(np.array([800.0]))[0] <= act.high


def test_activation_range_check():
    with pytest.raises(OutOfRangeError, match=r"`d` must lie strictly inside \(0, 1\).*logistic.*normalise"):
        get_activation("logistic").check_range([0.5, 1.0], "d")
    get_activation("tanh").check_range([-0.99, 0.99], "d")


def test_init_weights_is_seeded_and_bounded():
    cfg = RTRNConfig(n_outputs=3, n_inputs=2, n_hidden=1, init_scale=0.8)
    a = init_weights(cfg, 4)
    b = init_weights(cfg, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.shape == cfg.weight_shape
    assert np.max(np.abs(a)) <= 0.8 / np.sqrt(cfg.n_z)
    assert not np.array_equal(a, init_weights(cfg, 5))
    with pytest.raises(ParameterError, match="`config` must be an RTRNConfig"):
        init_weights({"n_outputs": 3}, 0)


# --------------------------------------------------------------------------- normaliser

def test_normalizer_maps_ranges_and_round_trips():
    nz = Normalizer(low=[0.0, -2.0, 10.0], high=[10.0, 2.0, 20.0])
    np.testing.assert_allclose(nz.normalize([0.0, -2.0, 10.0]), [-0.9] * 3)
    np.testing.assert_allclose(nz.normalize([10.0, 2.0, 20.0]), [0.9] * 3)
    X = np.random.default_rng(0).uniform(-5, 25, (7, 4, 3))
    np.testing.assert_allclose(nz.denormalize(nz.normalize(X)), X, rtol=1e-14, atol=1e-13)
    assert nz.normalize(X).shape == (7, 4, 3)
    np.testing.assert_allclose(nz.normalize_gain([1.0, 1.0, 1.0]), nz.scale)
    n01 = Normalizer(low=[0.0], high=[1.0], target=(0.05, 0.95))
    np.testing.assert_allclose(n01.normalize([[0.5]]), [[0.5]])


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(low=[0.0, 1.0], high=[1.0, 1.0]), ParameterError, r"`high` must exceed `low` in every entry"),
    (dict(low=[0.0, 1.0], high=[1.0]), ShapeError, r"`high` must have shape \(2,\), got \(1,\)"),
    (dict(low=[], high=[]), ShapeError, r"`low` must have at least one entry"),
    (dict(low=[0.0], high=[np.inf]), NonFiniteError, r"`high` must be finite"),
    (dict(low=[0.0], high=[1.0], target=(0.5, -0.5)), ParameterError, r"`target` must be an interval \(a, b\) with a < b"),
])
def test_normalizer_validation(kwargs, err, match):
    with pytest.raises(err, match=match):
        Normalizer(**kwargs)


def test_normalizer_call_errors():
    nz = Normalizer(low=[0.0, 0.0], high=[1.0, 1.0])
    with pytest.raises(ShapeError, match=r"`x` must have last axis of length 2, got shape \(3,\)"):
        nz.normalize([1.0, 2.0, 3.0])
    with pytest.raises(NonFiniteError, match="`v` must be finite"):
        nz.denormalize([np.nan, 0.0])


# --------------------------------------------------------------------------- forward passes

def make(case_hidden=2, act="tanh", bias=True, T=25, seed=0):
    cfg = RTRNConfig(n_outputs=2, n_inputs=2, n_hidden=case_hidden, activation=act, bias=bias, init_scale=1.5)
    rng = np.random.default_rng(seed)
    W = init_weights(cfg, rng)
    lo, hi = (0.1, 0.9) if act == "logistic" else (-0.8, 0.8)
    return cfg, W, rng.uniform(lo, hi, cfg.n_units), rng.uniform(-1, 1, (T, 2)), rng.uniform(lo, hi, (T, 2))


@pytest.mark.parametrize("act, bias", [("tanh", True), ("logistic", False)])
@pytest.mark.parametrize("teacher", [False, True])
def test_predict_matches_plain_loop_forward(act, bias, teacher):
    cfg, W, y0, U, D = make(act=act, bias=bias)
    Y = predict(cfg, W, y0, U, teacher=D if teacher else None)
    _, Y_ref, _, _ = naive.forward(W, y0, U, D, cfg.n_outputs, bias, act, teacher)
    np.testing.assert_allclose(Y, Y_ref, rtol=0, atol=1e-14)


def test_forward_is_one_prediction_step_and_stack_z_layout():
    cfg, W, y0, U, D = make()
    z = stack_z(cfg, y0, U[0])
    np.testing.assert_array_equal(z, np.concatenate([y0, U[0], [1.0]]))
    np.testing.assert_allclose(forward(cfg, W, y0, U[0]), np.tanh(W @ z), rtol=1e-15)
    np.testing.assert_allclose(predict(cfg, W, y0, U[:1])[0], forward(cfg, W, y0, U[0]), rtol=1e-14)
    # an outputs-only state gets zero hidden units
    np.testing.assert_array_equal(stack_z(cfg, y0[:2], U[0])[:4], [y0[0], y0[1], 0.0, 0.0])


def test_teacher_forcing_replaces_the_compared_units():
    cfg, W, y0, U, D = make(case_hidden=0)
    Y = predict(cfg, W, y0, U, teacher=D)
    for t in range(1, len(U)):
        np.testing.assert_allclose(Y[t], forward(cfg, W, D[t - 1], U[t]), rtol=1e-14)


def test_forward_and_predict_errors():
    cfg, W, y0, U, D = make()
    with pytest.raises(ShapeError, match=r"`W` must have shape \(4, 7\), got \(4, 6\)"):
        predict(cfg, W[:, :6], y0, U)
    with pytest.raises(ShapeError, match=r"`y0` must have shape \(4,\), got \(3,\)"):
        predict(cfg, W, y0[:3], U)
    with pytest.raises(ShapeError, match=r"`inputs` must have shape \(N, 2\), got \(25,\)"):
        predict(cfg, W, y0, U[:, 0])
    with pytest.raises(NonFiniteError, match="`inputs` must be finite"):
        predict(cfg, W, y0, np.where(U > 0.5, np.inf, U))
    with pytest.raises(ShapeError, match=r"`teacher` must have shape \(25, 2\), got \(24, 2\)"):
        predict(cfg, W, y0, U, teacher=D[:-1])
    with pytest.raises(ShapeError, match=r"`u` must have shape \(2,\), got \(3,\)"):
        forward(cfg, W, y0, [0.0, 0.0, 0.0])
    with pytest.raises(NonFiniteError, match="`y` must be finite"):
        forward(cfg, W, [np.nan] * 4, [0.0, 0.0])


def test_single_input_accepts_a_flat_sequence():
    cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    W = init_weights(cfg, 0)
    np.testing.assert_array_equal(predict(cfg, W, [0.0], [0.1, 0.2]), predict(cfg, W, [0.0], [[0.1], [0.2]]))


# --------------------------------------------------------------------------- the object

def test_rtrn_object_owns_read_only_state():
    cfg, W, y0, U, D = make(case_hidden=1)
    net = RTRN(cfg, W, rule=TwoDRule())
    W[0, 0] += 1.0  # the object copied the weights
    assert net.weights[0, 0] == W[0, 0] - 1.0
    with pytest.raises(ValueError, match="read-only"):
        net.weights[0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        net.state[0] = 0.0
    net.reset(y0)
    before = net.state.copy()
    Y = net.predict(U)
    np.testing.assert_array_equal(net.state, before)  # prediction leaves the state alone
    np.testing.assert_allclose(Y, predict(cfg, net.weights, y0, U))
    y1 = net.step(U[0])
    np.testing.assert_allclose(y1, Y[0])
    info = net.learn(U[1], D[1])
    np.testing.assert_array_equal(net.outputs, D[1])  # teacher forced
    assert info.error_norm_after < info.error_norm
    s = net.input_sensitivities(U[:3])
    assert s.jacobian.shape == (3, 3, cfg.n_units, 2)


def test_rtrn_object_errors():
    cfg, W, y0, U, D = make()
    net = RTRN(cfg, seed=0)
    with pytest.raises(ParameterError, match="this RTRN has no learning rule"):
        net.learn(U[0], D[0])
    with pytest.raises(ParameterError, match="`rule` must be an AbstractLearningRule"):
        net.set_rule("2d")
    with pytest.raises(ParameterError, match="`config` must be an RTRNConfig"):
        RTRN(None)
    with pytest.raises(ShapeError, match=r"`weights` must have shape \(4, 7\)"):
        net.set_weights(np.zeros((2, 2)))
    with pytest.raises(ShapeError, match=r"`y0` must have shape \(4,\), got \(3,\)"):
        net.reset([0.0, 0.0, 0.0])
    net.set_rule(TwoDRule())
    with pytest.raises(OutOfRangeError, match=r"`target` must lie strictly inside \(-1, 1\)"):
        net.learn(U[0], [1.5, 0.0])


@pytest.mark.parametrize("module", ["nets.activations", "nets.structure", "nets.normalizer", "nets.forward",
                                    "nets.rtrn", "nets.rtrl", "nets.rules", "nets.gradcheck"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"neurocontrol.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# the layers of neurocontrol.nets, lowest first: a module may import only modules listed before it
NETS_LAYERS = ["_kernels", "activations", "structure", "normalizer", "forward", "rtrl", "rules", "rtrn", "gradcheck"]


def _package_imports(path):
    """Every neurocontrol module a file imports, at module level or inside functions (plain AST walk)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neurocontrol"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("neurocontrol"))
    return found


@pytest.mark.parametrize("name", NETS_LAYERS)
def test_nets_modules_import_only_lower_layers(name):
    from pathlib import Path

    import neurocontrol.nets

    path = Path(neurocontrol.nets.__file__).parent / f"{name}.py"
    imported = _package_imports(path)
    assert "neurocontrol.nets" not in imported   # the package __init__ imports every layer
    nets = {m.split(".")[2] for m in imported if m.startswith("neurocontrol.nets.")}
    assert nets <= set(NETS_LAYERS[:NETS_LAYERS.index(name)]), f"{name} imports {sorted(nets)}"
    higher = ("controllers", "simulation", "ilc", "scenario", "experiments", "cli", "gym_wrappers")
    assert not any(m.split(".")[1] in higher for m in imported if m.count(".") >= 1)


def test_nets_public_names_stay_importable_from_their_old_modules():
    import neurocontrol.nets as nets
    import neurocontrol.nets.rtrn as rtrn

    for name in rtrn.__all__:
        assert getattr(rtrn, name) is getattr(nets, name)
