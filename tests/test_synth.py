"""Synthesisers: the one-step law solves its equation; the predictive kernel matches a naive lifted least squares."""

import numpy as np
import pytest

from neurocontrol.controllers.laws import LawContext, OneStepLaw, PredictiveLaw, _tanh
from neurocontrol.exceptions import ParameterError


def _ctx(rng, n=5, m=2, p=2, desired=(0, 1, 3, -1, -1)):
    W = rng.normal(0, 0.2, (n, n + m + 1))
    W[:, :n] += np.eye(n)
    Ws = rng.normal(0, 0.2, (n, n + p + 1))
    Ws[:, :n] += 0.9 * np.eye(n)
    return LawContext(W=W, W_star=Ws, y=rng.normal(0, 0.05, n), d=rng.normal(0, 0.05, n), r=rng.normal(0, 0.05, p),
                      u_prev=rng.normal(0, 0.05, m), desired_map=np.array(desired, dtype=np.int64),
                      offset=np.zeros(n))


def test_tanh_kernel_matches_numpy():
    s = np.concatenate([np.linspace(-30, 30, 20001), np.linspace(-2e-3, 2e-3, 4001)])
    got = np.array([_tanh(v) for v in s])
    np.testing.assert_allclose(got, np.tanh(s), rtol=0, atol=4e-16)


def test_one_step_law_solves_its_equation_exactly():
    rng = np.random.default_rng(1)
    # two compared units, two inputs: W2 restricted to the compared rows is square and invertible
    ctx = _ctx(rng, desired=(0, 1, -1, -1, -1))
    u = OneStepLaw(damping=0.0).compute(ctx)
    n, m, p = 5, 2, 2
    rows = [0, 1]
    lhs = ctx.W[rows, :n] @ ctx.y + ctx.W[rows, n:n + m] @ u + ctx.W[rows, -1]
    Ws = ctx.W_star[[0, 1]]
    rhs = Ws[:, :n] @ ctx.d + Ws[:, n:n + p] @ ctx.r + Ws[:, -1]
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12)


def test_one_step_law_least_squares_when_overdetermined():
    rng = np.random.default_rng(2)
    ctx = _ctx(rng)   # three compared units, two inputs
    u = OneStepLaw(damping=0.0).compute(ctx)
    n, m, p = 5, 2, 2
    rows = [0, 1, 2]  # identifier units with a desired value (mapped to imitator units 0, 1, 3)
    W2 = ctx.W[rows, n:n + m]
    Ws = ctx.W_star[ctx.desired_map[rows]]
    rhs = Ws[:, :n] @ ctx.d + Ws[:, n:n + p] @ ctx.r + Ws[:, -1] - ctx.W[rows, :n] @ ctx.y - ctx.W[rows, -1]
    np.testing.assert_allclose(u, np.linalg.lstsq(W2, rhs, rcond=None)[0], rtol=1e-10, atol=1e-12)


def _naive_predictive(ctx, law):
    """Lifted least squares with finite-difference sensitivities of a plain numpy free run."""
    n, m, p = ctx.y.shape[0], ctx.u_prev.shape[0], ctx.r.shape[0]
    H, blocks, q = law.horizon, law.blocks, np.array(law.output_weights)

    def free_run(moves):
        y = ctx.y.copy()
        out = []
        for h in range(H):
            u = ctx.u_prev.copy()
            for j, b in enumerate(blocks):
                if h >= b:
                    u = u + moves[j * m:(j + 1) * m]
            y = np.tanh(ctx.W[:, :n] @ y + ctx.W[:, n:n + m] @ u + ctx.W[:, -1] + ctx.offset)
            out.append(y)
        return np.array(out)

    d = ctx.d.copy()
    D = []
    for h in range(H):
        d = np.tanh(ctx.W_star[:, :n] @ d + ctx.W_star[:, n:n + p] @ ctx.r + ctx.W_star[:, -1])
        D.append(d)
    D = np.array(D)
    nv = len(blocks) * m
    Y0 = free_run(np.zeros(nv))
    eps = 1e-6
    G = np.zeros((H, n, nv))
    for i in range(nv):
        e = np.zeros(nv)
        e[i] = eps
        G[:, :, i] = (free_run(e) - free_run(-e)) / (2 * eps)
    rows, cols = [], []
    evals = [h for h in range(H) if (h + 1) % law.stride == 0 or h == H - 1]
    for h in evals:
        for k in range(n):
            if ctx.desired_map[k] >= 0 and q[k] > 0:
                w = np.sqrt(q[k])
                rows.append(w * G[h, k])
                cols.append(w * (D[h, ctx.desired_map[k]] - Y0[h, k]))
    A = np.array(rows)
    b = np.array(cols)
    du = np.linalg.solve(A.T @ A + law.move_penalty * np.eye(nv), A.T @ b)
    return ctx.u_prev + du[:m]


@pytest.mark.parametrize("stride", [1, 3])
def test_predictive_kernel_matches_naive_lifted_least_squares(stride):
    rng = np.random.default_rng(3)
    ctx = _ctx(rng)
    ctx.offset[:] = rng.normal(0, 0.01, 5)
    law = PredictiveLaw(horizon=40, blocks=(0, 5, 15), stride=stride, output_weights=(1.0, 30.0, 0.0, 1.0, 0.0),
                        move_penalty=0.5)
    np.testing.assert_allclose(law.compute(ctx), _naive_predictive(ctx, law), rtol=1e-6, atol=1e-8)


def test_predictive_law_reaches_a_reachable_target_in_one_step_model():
    # identity-like plant y+ = tanh(atanh-free linear) with direct input: the law drives the prediction to d
    n, m = 2, 2
    W = np.zeros((n, n + m + 1))
    W[:, :n] = 0.5 * np.eye(n)
    W[:, n:n + m] = np.eye(m)
    Ws = np.zeros((n, n + 2 + 1))
    Ws[:, :n] = np.eye(n)           # desired response: stay at d
    ctx = LawContext(W=W, W_star=Ws, y=np.zeros(n), d=np.array([0.05, -0.03]), r=np.zeros(2), u_prev=np.zeros(m),
                     desired_map=np.array([0, 1]), offset=np.zeros(n))
    law = PredictiveLaw(horizon=30, blocks=(0,), output_weights=(1.0, 1.0), move_penalty=0.0)
    u = law.compute(ctx)
    # steady state of y = tanh(0.5 y + u) at y = d needs u = atanh(d) - 0.5 d; the horizon is long enough
    np.testing.assert_allclose(u, np.arctanh(ctx.d) - 0.5 * ctx.d, atol=2e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(horizon=0), "`horizon` must be an integer >= 1, got 0"),
    (dict(blocks=(1, 5)), "`blocks` must start at 0"),
    (dict(blocks=(0, 5, 5)), "`blocks` must start at 0"),
    (dict(horizon=10, blocks=(0, 10)), "stay below horizon=10"),
    (dict(stride=0), "`stride` must be an integer >= 1, got 0"),
    (dict(output_weights=(0.0, 0.0)), "`output_weights` must be non-negative with at least one positive"),
    (dict(output_weights=(1.0, -1.0)), "`output_weights` must be non-negative"),
    (dict(move_penalty=-1.0), r"`move_penalty` must be a finite number >= 0, got -1.0"),
])
def test_predictive_law_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        PredictiveLaw(**kwargs)


def test_predictive_law_weights_must_match_units():
    rng = np.random.default_rng(0)
    ctx = _ctx(rng)
    with pytest.raises(ParameterError, match="one entry per identifier unit"):
        PredictiveLaw(output_weights=(1.0, 1.0)).compute(ctx)


def test_one_step_law_bad_damping():
    with pytest.raises(ParameterError, match=r"`damping` must be a finite number >= 0, got -1"):
        OneStepLaw(damping=-1)


# --------------------------------------------------------------------------- blocks follow the horizon
def test_blocks_follow_the_horizon_unless_set():
    # old behaviour: PredictiveLaw(horizon=50) failed on the fixed default blocks (0, 10, 30, 60)
    from neurocontrol.controllers.laws import default_blocks

    assert PredictiveLaw().blocks == (0, 10, 30, 60)            # the shipped default is unchanged
    assert PredictiveLaw(horizon=50).blocks == (0, 5, 15, 30)
    assert PredictiveLaw(horizon=3).blocks == (0, 1)
    for h in range(1, 300):                                       # valid for every horizon: plain check
        b = default_blocks(h)
        assert b[0] == 0 and all(x < y for x, y in zip(b, b[1:])) and b[-1] < h
    assert PredictiveLaw(horizon=50, blocks=(0, 20)).blocks == (0, 20)
    with pytest.raises(ParameterError, match="leave `blocks` unset"):
        PredictiveLaw(horizon=50, blocks=(0, 10, 30, 60))


def test_scenario_set_horizon_resolves_blocks_again():
    from neurocontrol.scenario import Scenario

    sc = Scenario.from_toml("scenarios/helicopter_hover.toml")
    assert "blocks" not in sc.to_toml()
    assert sc.set("controller.law.horizon", 50).controller.law.blocks == (0, 5, 15, 30)
    explicit = sc.set("controller.law.blocks", "[0, 20]")
    assert explicit.set("controller.law.horizon", 40).controller.law.blocks == (0, 20)   # explicit is kept
