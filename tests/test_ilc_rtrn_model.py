"""The closed-loop RTRN of the network ILC: its linearisation against finite differences of a plain numpy network,
the matrix-free H against its adjoint, the per-trial contraction on a linear plant against the spectral radius
predicted from the learned H, trial memory, the scenario key, reproducibility and argument errors."""

import dataclasses
import doctest

import numpy as np
import pytest
from naive import incremental_free_run as plain_free_run
from test_ilc_network import DT, REF, PassThrough, PlantEnv, T, lifted_norms, true_lifted

from neurocontrol.exceptions import ParameterError, ScenarioError, ShapeError
from neurocontrol.ilc import ILCRunner
from neurocontrol.ilc import rtrn_model as rtrn_module
from neurocontrol.ilc.network import NormOptimalILC
from neurocontrol.ilc.rtrn_model import ClosedLoopNetworkModel
from neurocontrol.nets.incremental import (
    IncrementalConfig,
    init_incremental_weights,
    input_jacobian,
    trajectory_jacobians,
)

RANGE = [[-3.0, -3.0], [3.0, 3.0]]


def test_doctests():
    result = doctest.testmod(rtrn_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- a random network (plain free run: naive.py)


def random_network(seed, p=2, m=3, H=4):
    cfg = IncrementalConfig(n_outputs=p, n_inputs=m, n_hidden=H)
    theta = init_incremental_weights(cfg, seed) + np.random.default_rng(seed + 100).normal(0.0, 0.1, cfg.n_weights)
    return cfg, theta


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trajectory_jacobians_along_the_free_run_match_finite_differences_and_the_input_jacobian(seed):
    cfg, theta = random_network(seed)
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 0.5, (7, cfg.n_inputs))
    y0 = rng.normal(0.0, 0.2, cfg.n_outputs)
    free = plain_free_run(cfg, theta, y0, u)
    F, G = trajectory_jacobians(cfg, theta, np.vstack([y0, free[:-1]]), u)
    p, N, m = cfg.n_outputs, u.shape[0], cfg.n_inputs
    J = np.zeros((N, p, N, m))
    for j in range(N):
        S = G[j]
        for i in range(j, N):
            S = S if i == j else F[i] @ S
            J[i, :, j, :] = S[:p]
    fd = np.zeros_like(J)
    eps = 1e-6
    for j in range(N):
        for a in range(m):
            du = np.zeros_like(u)
            du[j, a] = eps
            fd[:, :, j, a] = (plain_free_run(cfg, theta, y0, u + du) - plain_free_run(cfg, theta, y0, u - du)) / (2 * eps)
    assert np.max(np.abs(J - fd)) < 1e-8 * max(1.0, np.max(np.abs(fd)))
    _, Jk = input_jacobian(cfg, theta, y0, u)
    assert np.max(np.abs(J - Jk)) < 1e-12 * max(1.0, np.max(np.abs(Jk)))


# --------------------------------------------------------------------------- the lifted operator


def trained_model(seed=0, **kw):
    model = ClosedLoopNetworkModel(RANGE, seed=seed, **kw)
    rng = np.random.default_rng(seed)
    r = np.cumsum(rng.normal(0.0, 0.05, (T, 2)), axis=0)
    y = np.vstack([np.zeros(2), 0.8 * r + 0.05 * rng.normal(size=(T, 2))])
    model.learn(r, y)
    return model, r


@pytest.mark.parametrize("kw", [{}, {"n_hidden": 0}, {"block_steps": 7, "taps": 4, "tap_spacing": 2},
                                {"lead_taps": 5}, {"block_steps": 7, "taps": 4, "tap_spacing": 2, "lead_taps": 40}])
def test_matvec_and_rmatvec_are_adjoint(kw):
    model, _ = trained_model(**kw)
    rng = np.random.default_rng(5)
    v, e = rng.normal(size=(T, 2)), rng.normal(size=(T, 2))
    lhs, rhs = np.sum(model.matvec(v) * e), np.sum(v * model.rmatvec(e))
    assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


@pytest.mark.parametrize("kw", [{"block_steps": 1, "taps": 5}, {"block_steps": 5, "taps": 3, "tap_spacing": 2},
                                {"block_steps": 5, "taps": 3, "tap_spacing": 2, "lead_taps": 3}])
def test_matvec_is_the_derivative_of_the_networks_free_run_along_its_own_trajectory(kw):
    """When the measured outputs are the network's own free run, H v is its directional derivative."""
    model, r = trained_model(n_hidden=4, input_init_std=1.0, **kw)
    cfg, b = model.config, model.block_steps
    net = model.network
    theta = np.array(net.weights)
    y0 = np.array([0.3, -0.2])

    def outputs_at_block_ends(commands):
        u = cfg.normalize_inputs(model.tapped(model.block_means(commands) - y0))
        return y0 + cfg.denormalize_outputs(plain_free_run(cfg, theta, np.zeros(2), u))   # relative to y(0)

    # full-rate outputs whose block ends are the free run (the model reads only those)
    nb = T // b
    y = np.tile(y0, (T + 1, 1))
    y[b:nb * b + 1:b] = outputs_at_block_ends(r)
    net.fit = lambda outputs, inputs: net.counts          # freeze the weights: linearise without learning
    model.learn(r, y)
    v = np.random.default_rng(3).normal(size=(T, 2))
    eps = 1e-6
    d_ends = (outputs_at_block_ends(r + eps * v) - outputs_at_block_ends(r - eps * v)) / (2 * eps)
    Hv = model.matvec(v)
    assert np.max(np.abs(Hv[b - 1:nb * b:b] - d_ends)) < 1e-7 * max(1.0, np.max(np.abs(d_ends)))
    # between block ends: linear interpolation (from zero change at step 0), held after the last whole block
    ends = np.vstack([np.zeros(2), d_ends])
    for t in range(1, T + 1):
        k = min(t // b, nb)
        w = (t - k * b) / b if k < nb else 0.0
        expect = ends[k] * (1 - w) + (ends[k + 1] * w if w > 0 else 0.0)
        assert np.allclose(Hv[t - 1], expect, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("L, s, F, T_", [(3, 1, 2, 12), (2, 3, 4, 7), (1, 1, 0, 5), (4, 2, 3, 3)])
def test_tapped_holds_the_set_points_behind_then_ahead(L, s, F, T_):
    """Row k of the delay line, by plain indexing: r(k - j s) for j < L (the rest before the trial), then
    r(k + j s) for j = 1..F (the last row beyond the end); the adjoint used by rmatvec is its transpose."""
    model = ClosedLoopNetworkModel(RANGE, taps=L, tap_spacing=s, lead_taps=F, seed=0)
    rng = np.random.default_rng(L + F)
    r, rest = rng.normal(size=(T_, 2)), rng.normal(size=2)
    got = model.tapped(r, rest)
    assert got.shape == (T_, 2 * (L + F))
    for k in range(T_):
        want = [r[k - j * s] if k - j * s >= 0 else rest for j in range(L)]
        want += [r[min(k + j * s, T_ - 1)] for j in range(1, F + 1)]
        np.testing.assert_array_equal(got[k], np.concatenate(want))
    g = rng.normal(size=got.shape)
    lhs = np.sum(model.tapped(r) * g)
    assert abs(lhs - np.sum(r * model._fold(g))) < 1e-12 * max(1.0, abs(lhs))
    with pytest.raises(ParameterError, match="lead_taps"):
        ClosedLoopNetworkModel(RANGE, lead_taps=-1)


def test_a_set_point_no_trial_moved_has_no_path_to_the_outputs_without_hidden_units():
    model = ClosedLoopNetworkModel(RANGE, n_hidden=0, seed=0)
    rng = np.random.default_rng(0)
    r = np.zeros((T, 2))
    r[:, 0] = np.cumsum(rng.normal(0.0, 0.05, T))           # only channel 0 moves
    y = np.vstack([np.zeros(2), np.column_stack([0.8 * r[:, 0], 0.1 * r[:, 0]])])
    model.learn(r, y)
    v = np.zeros((T, 2))
    v[:, 1] = 1.0
    assert np.max(np.abs(model.matvec(v))) == 0.0


def test_prior_lag_is_the_model_of_a_set_point_no_trial_moved():
    """Channel 1 never moves and output 1 stays at rest: its weights see no data and stay at the prior, so the
    response of output 1 to a step of set-point 1 is the first-order lag 1 - (1 - a)^k at the block ends."""
    lag, b = 40.0, 10
    model = ClosedLoopNetworkModel(RANGE, n_hidden=0, block_steps=b, prior_lag=[25.0, lag], seed=0)
    rng = np.random.default_rng(0)
    r = np.zeros((T, 2))
    r[:, 0] = np.cumsum(rng.normal(0.0, 0.05, T))
    y = np.vstack([np.zeros(2), np.column_stack([0.8 * r[:, 0], np.zeros(T)])])
    model.learn(r, y)
    v = np.zeros((T, 2))
    v[:, 1] = 1.0
    a = 1.0 - np.exp(-b / lag)
    ends = model.matvec(v)[b - 1::b, 1]
    expect = 1.0 - (1.0 - a) ** np.arange(1, ends.size + 1)
    assert np.max(np.abs(ends - expect)) < 1e-12
    with pytest.raises(ParameterError, match="prior_lag"):
        ClosedLoopNetworkModel(RANGE, prior_lag=[1.0, -2.0])


# --------------------------------------------------------------------------- contraction on the linear plant


def run(law, trials, **kw):
    return ILCRunner(PlantEnv(), PassThrough(), REF, law=law, trials=trials, duration=T * DT,
                     initial_state=np.zeros(2), seed=0, channel="reference", **kw).run()


def explicit_lifted(model):
    """H of the model's current linearisation, column by column from matvec."""
    H = np.zeros((2 * T, 2 * T))
    for j in range(2 * T):
        e = np.zeros(2 * T)
        e[j] = 1.0
        H[:, j] = model.matvec(e.reshape(T, 2)).ravel()
    return H


@pytest.mark.parametrize("n_hidden", [0, 8])
def test_learned_network_contracts_at_the_rate_predicted_from_its_h(n_hidden):
    """Per-trial ratio ||e_{k+1}|| / ||e_k|| against rho(I - H_true L), L from the network's H of the last update.

    The plant y(t+1) = A y(t) + B u(t) is one incremental step of a linear network with one tap, so with
    block_steps = 1 the network can learn it exactly; the ratios of the last trials must sit within 10 % of
    the predicted asymptotic rate (the first ones are faster: they also hold faster directions). The plant is
    noise-free, so the prior is weak (output_covariance = 1): the default prior (1e-4, a ridge of 0.01 for
    measured loops) biases the fit here, where y follows r closely (model error 0.73 measured with it).
    """
    model = ClosedLoopNetworkModel(RANGE, n_hidden=n_hidden, block_steps=1, taps=1, output_covariance=1.0, seed=0)
    law = NormOptimalILC(model, regularization=1.0)
    res = run(law, trials=10)
    norms = lifted_norms(res)
    ratios = norms[1:] / norms[:-1]
    Hm = explicit_lifted(model)
    L = np.linalg.solve(Hm.T @ Hm + law.last_update["lam"] * np.eye(2 * T), Hm.T)
    rho = max(abs(np.linalg.eigvals(np.eye(2 * T) - true_lifted(T) @ L)))
    print(f"network H={n_hidden}: predicted rho = {rho:.4f}, measured ratios = {np.round(ratios, 4).tolist()}, "
          f"model error ||H - H_true|| / ||H_true|| = "
          f"{np.linalg.norm(Hm - true_lifted(T), 2) / np.linalg.norm(true_lifted(T), 2):.2e}")
    assert rho < 1
    assert np.all(np.abs(ratios[-3:] / rho - 1) < 0.10)


def test_trial_memory_the_network_keeps_its_weights_and_forgets_them_without_memory():
    # seed 1: its first trial is kept (on seed 0 the noisy first trial's pass free-runs worse than the prior
    # and is undone, see test_neural_trials.py)
    kept, _ = trained_model(seed=1)
    assert kept.rejected == 0
    w1 = np.array(kept.network.weights)
    forgetful = ClosedLoopNetworkModel(RANGE, seed=1, memory=False)
    fresh = ClosedLoopNetworkModel(RANGE, seed=1)
    rng = np.random.default_rng(9)
    r2 = np.cumsum(rng.normal(0.0, 0.05, (T, 2)), axis=0)
    y2 = np.vstack([np.zeros(2), 0.5 * r2])
    _, r1 = trained_model(seed=1)
    y1 = np.vstack([np.zeros(2), 0.8 * r1 + 0.05 * np.random.default_rng(1).normal(size=(T, 2))])
    for m in (kept, forgetful):
        if m is forgetful:
            m.learn(r1, y1)
        m.learn(r2, y2)
    fresh.learn(r2, y2)
    assert kept.n_trials == 2 and not np.allclose(kept.network.weights, w1)
    assert np.array_equal(forgetful.network.weights, fresh.network.weights)       # learned trial 2 from scratch
    assert not np.allclose(kept.network.weights, fresh.network.weights)


def test_same_seed_same_model_and_reset_draws_the_same_weights():
    a, _ = trained_model(seed=4)
    b, _ = trained_model(seed=4)
    assert np.array_equal(a.network.weights, b.network.weights)
    w0 = np.array(ClosedLoopNetworkModel(RANGE, seed=4).network.weights)
    a.reset()
    assert np.array_equal(a.network.weights, w0) and a.n_trials == 0


# --------------------------------------------------------------------------- errors and the scenario key


def test_argument_errors_are_named():
    with pytest.raises(ParameterError, match="output_range"):
        ClosedLoopNetworkModel([[1.0], [0.0]])
    with pytest.raises(ParameterError, match="seed"):
        ClosedLoopNetworkModel(RANGE, seed=None)
    with pytest.raises(ParameterError, match="memory"):
        ClosedLoopNetworkModel(RANGE, memory="yes")
    model = ClosedLoopNetworkModel(RANGE)
    with pytest.raises(ParameterError, match="learn"):
        model.matvec(np.zeros((T, 2)))
    with pytest.raises(ShapeError, match="one set-point per output"):
        model.check(n_channels=2, n_outputs=3)
    with pytest.raises(ShapeError, match="shorter than one block"):
        model.learn(np.zeros((5, 2)), np.zeros((6, 2)))


def test_scenario_law_network_builds_the_network_model_and_rejects_unknown_keys():
    from neurocontrol.scenario import Scenario, run_scenario

    sc = Scenario.from_toml("scenarios/ilc_staircase.toml").set("ilc.trials", 2).set("run.duration", 2.0)
    assert sc.ilc.law == "network"
    res = run_scenario(sc, seed=0)
    assert "ClosedLoopNetworkModel" in res.metrics["ilc"]["law"] or "NormOptimalILC" in res.metrics["ilc"]["law"]
    assert len(res.metrics["ilc"]["rms_error"]["altitude"]) == 2
    bad = sc.set("ilc.gains", {"hidden_units": 8, "lead": 3})
    with pytest.raises(ScenarioError, match="unknown keys"):
        run_scenario(bad, seed=0)
    with pytest.raises(ScenarioError, match="memory"):
        run_scenario(sc.set("ilc.gains", {"memory": 2}), seed=0)


def test_the_network_law_looks_as_far_ahead_as_the_controller_previews():
    """Default lead_taps: the previewing neural controller's lead (the reference model's delay 2 zeta / omega,
    computed here from its config) in blocks, rounded up; 0 around the adaptive controller, which does not
    preview; a gains key overrides it."""
    from neurocontrol.ilc.scenario_runner import law_for_setup
    from neurocontrol.scenario import Scenario

    sc = Scenario.from_toml("scenarios/ilc_neural.toml")
    setup = sc.build(0)
    cfg, dt = setup.controller.config, setup.controller.dt
    lead = 2.0 * np.asarray(cfg.reference_damping) / np.asarray(cfg.reference_bandwidth) / dt
    np.testing.assert_allclose(setup.controller.reference_lead_steps, np.round(lead))
    block = dict(sc.ilc.gains).get("block_steps", 10)
    law = law_for_setup(sc.ilc, setup, 0, dict(sc.run.tolerance))
    assert law.model.lead_taps == int(np.ceil(np.max(np.round(lead)) / block)) > 0
    law = law_for_setup(dataclasses.replace(sc.ilc, gains={**dict(sc.ilc.gains), "lead_taps": 0}), setup, 0)
    assert law.model.lead_taps == 0
    adaptive = Scenario.from_toml("scenarios/ilc_staircase.toml")
    assert law_for_setup(adaptive.ilc, adaptive.build(0), 0).model.lead_taps == 0
    with pytest.raises(ScenarioError, match="lead_taps"):
        law_for_setup(dataclasses.replace(sc.ilc, gains={"lead_taps": -1}), setup, 0)
