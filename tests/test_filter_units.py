"""Filter units: hidden units started as leaky filters of the inputs (``hidden_filters``, ``filter_time_constants``).

The identification check compares the identifier's learned long-run response on the non-minimum-phase
quadruple tank with the plant's own linearisation (python-control), which shares nothing with the network.
"""

from __future__ import annotations

import control
import numpy as np
import pytest

from neurocontrol.controllers.neural import NeuralControllerConfig
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.ekf import IncrementalIdentifier
from neurocontrol.nets.incremental import IncrementalConfig, split_weights
from neurocontrol.reference import aprbs
from neurocontrol.scenario.core import Scenario
from plants.quadtank.env import QuadTankEnv

HORIZON = 150


def _true_gains(env, steps):
    """Outputs ``steps`` samples after a held unit step of each input, from the plant's linearisation."""
    x0, u0 = env.operating_point
    lin = control.linearize(env.sys, x0, u0)
    d = control.c2d(control.ss(lin.A, lin.B, lin.C, lin.D), env.dt)
    t = np.arange(steps + 1) * env.dt
    cols = []
    for j in range(2):
        u = np.zeros((2, t.size))
        u[j] = 1.0
        cols.append(control.forced_response(d, t, u).outputs[:, -1])
    return np.array(cols).T


def _learned_gains(filters: bool, seed: int):
    """Identifier trained online on 400 s of APRBS (0.4 V, holds 10-60 s) around P+'s trim; its 150-step gains."""
    env = QuadTankEnv(operating_point="P+")
    x0, u0 = env.operating_point
    taus = tuple(np.geomspace(2.0, HORIZON, 8)) if filters else None
    cfg = IncrementalConfig(n_outputs=2, n_inputs=2, n_hidden=8, output_range=[[0.0, 0.0], [10.0, 10.0]],
                            input_range=[[0.0, 0.0], [10.0, 10.0]], filter_time_constants=taus)
    ident = IncrementalIdentifier(cfg, NeuralControllerConfig().rule(), rng=seed)
    y, _ = env.reset(seed=seed, options={"initial_state": x0})
    ex = aprbs(400, low=-0.4, high=0.4, min_hold=10, max_hold=60, rng=np.random.default_rng(seed), n_channels=2)
    for t in range(400):
        u = u0 + ex[t]
        y_next, _, terminated, _, _ = env.step(u)
        assert not terminated
        ident.update(y, u, y_next)
        y = y_next
    base = ident.predict(y, np.tile(u0, (HORIZON, 1)))[-1]
    G = np.zeros((2, 2))
    for j in range(2):
        du = np.zeros(2)
        du[j] = 0.1
        G[:, j] = (ident.predict(y, np.tile(u0 + du, (HORIZON, 1)))[-1] - base) / 0.1
    return G, _true_gains(env, HORIZON)


def test_with_filter_units_the_learned_long_run_gains_of_the_nmp_tank_get_the_plants_sign_more_often():
    # At P+ det G(150 s) < 0 (the right-half-plane zero) while the short-run (direct-flow) gains have det > 0.
    # Measured on seeds 0-19 when this was built: filter units 13 of 20 with the plant's sign, random hidden
    # features 0 of 20 (docs/neural_controller.md, "Filter units"). The test asks for a majority and for
    # more than the random features, not for every seed: the sign is not learned on every draw.
    right = {True: 0, False: 0}
    for filters in (True, False):
        for seed in range(20):
            G, true = _learned_gains(filters, seed)
            assert np.linalg.det(true) < 0
            right[filters] += bool(np.linalg.det(G) < 0)
    assert right[True] > 10 and right[True] > right[False], right


def test_hidden_filters_in_the_controller():
    cfg = NeuralControllerConfig(hidden_filters=3, horizon=50)
    np.testing.assert_allclose(cfg.filter_time_constants(), np.geomspace(2.0, 50.0, 3), rtol=1e-15)
    assert NeuralControllerConfig(hidden_filters=1).filter_time_constants() == (50.0,)
    assert NeuralControllerConfig().filter_time_constants() is None
    assert NeuralControllerConfig(hidden_filters=0).filter_time_constants() is None
    data = Scenario.from_toml("scenarios/twin_rotor_steps.toml").to_dict()
    data["controller"] = {"kind": "neural", "hidden_filters": 8}
    built = Scenario.from_dict(data, source="twin:filters", default_name="twin").build(0)
    ctrl = built.controller
    obs, _ = built.env.reset(seed=0)
    ctrl.reset(obs, obs[:2], seed=0)
    taus = ctrl.derived_settings()["identifier_filter_time_constants"]
    np.testing.assert_allclose(taus, np.geomspace(2.0, 50.0, 8), rtol=1e-15)
    _, W = split_weights(ctrl.identifier.config, ctrl.identifier.weights.copy())
    np.testing.assert_allclose(np.diag(W[:, :8]), np.exp(-1.0 / np.asarray(taus)), rtol=1e-15)
    _, W_im = split_weights(ctrl.imitator.config, ctrl.imitator.weights.copy())
    assert ctrl.imitator.config.filter_time_constants is None
    assert np.count_nonzero(W_im[:, :8] - np.diag(np.diag(W_im[:, :8]))) > 0   # the imitator's stay random


@pytest.mark.parametrize("kwargs, match", [
    (dict(hidden_filters=9), r"at most the networks' hidden units \(8\)"),
    (dict(hidden_filters=-1), "`hidden_filters` must be"),
    (dict(hidden_filters=1, learning_rule="rls"), r"at most the networks' hidden units \(0\)"),
    (dict(hidden_filters=2.5), "`hidden_filters` must be"),
])
def test_hidden_filters_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NeuralControllerConfig(**kwargs)
