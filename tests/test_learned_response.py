"""The identifier's learned step responses: against a plain numpy free run, an analytic first-order model, and the
controller's state left untouched."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neurocontrol.controllers.learned_response import learned_step_response, settling_steps
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.ekf import IncrementalIdentifier
from neurocontrol.nets.incremental import IncrementalConfig, split_weights
from neurocontrol.scenario import Scenario

# ----------------------------------------------------------------- plain reference (no kernel shared)


def plain_free_run(theta, p, mi, H, y0n, inputs_n, h0):
    """y(t+1) = y + A z + V tanh(W [h; z]), z = [y; u; 1], fed its own outputs; normalised units."""
    nz = p + mi + 1
    nb = H + nz
    C = theta[:p * nb].reshape(p, nb)
    A, V = C[:, :nz], C[:, nz:]
    W = theta[p * nb:].reshape(H, nb)
    y, h, out = y0n.copy(), h0.copy(), []
    for u in inputs_n:
        z = np.concatenate([y, u, [1.0]])
        h = np.tanh(W @ np.concatenate([h, z]))
        y = y + A @ z + V @ h
        out.append(y)
    return np.array(out)


def _identifier(p, m, taps, H, seed):
    rng = np.random.default_rng(seed)
    lo_y, hi_y = rng.uniform(-3, -1, p), rng.uniform(1, 4, p)
    lo_u, hi_u = np.tile(rng.uniform(-2, 0, m), taps), np.tile(rng.uniform(1, 3, m), taps)
    cfg = IncrementalConfig(n_outputs=p, n_inputs=m * taps, n_hidden=H, output_range=np.array([lo_y, hi_y]),
                            input_range=np.array([lo_u, hi_u]))
    ident = IncrementalIdentifier(cfg, rng=np.random.default_rng(seed + 1))
    C, _ = split_weights(cfg, ident._theta)
    C[:] = rng.normal(0.0, 0.05, size=C.shape)       # a model that responds (the prior's output rows are 0)
    return cfg, ident, rng


@pytest.mark.parametrize("H,taps", [(0, 1), (4, 1), (8, 3)])
def test_step_response_matches_a_plain_free_run_with_taps(H, taps):
    p, m, n = 3, 2, 25
    cfg, ident, rng = _identifier(p, m, taps, H, 10 + H + taps)
    state = rng.uniform(-0.5, 0.5, p)
    hidden = rng.uniform(-0.3, 0.3, H)
    past = rng.uniform(-0.5, 0.5, (taps, m))             # u(k), u(k-1), ...
    step = np.array([0.3, -0.2])
    outputs = [2, 0]
    got = learned_step_response(ident, state, hidden, past, outputs, step, n)
    assert got.shape == (n, len(outputs), m)

    def plain(u_now):
        seq = {-i: past[i] for i in range(1, taps)}      # u(k-i) as applied
        rows = []
        for t in range(n):
            rows.append(np.concatenate([u_now if t - i >= 0 else seq[t - i] for i in range(taps)]))
        un = (np.array(rows) - cfg.input_mid) / cfg.input_half
        yn = plain_free_run(ident._theta, p, m * taps, H, (state - cfg.output_mid) / cfg.output_half, un, hidden)
        return (cfg.output_mid + cfg.output_half * yn)[:, outputs]

    base = plain(past[0])
    for j in range(m):
        u = past[0].copy()
        u[j] += step[j]
        np.testing.assert_allclose(got[:, :, j], (plain(u) - base) / step[j], rtol=1e-9, atol=1e-12)


def test_first_order_model_gives_the_analytic_step_response():
    # y(t+1) = y + a y + b u in normalised units with ranges [-1, 1]: s(i) = b (1 - (1 + a)^i) / (-a)
    a, b, n = -0.1, 0.4, 60
    cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=0, output_range=[[-1.0], [1.0]],
                            input_range=[[-1.0], [1.0]])
    ident = IncrementalIdentifier(cfg, rng=0)
    C, _ = split_weights(cfg, ident._theta)
    C[:] = [[a, b, 0.0]]
    s = learned_step_response(ident, np.array([0.2]), np.zeros(0), np.array([[0.1]]), [0], np.array([0.05]), n)
    i = np.arange(1, n + 1)
    np.testing.assert_allclose(s[:, 0, 0], b * (1.0 - (1.0 + a) ** i) / (-a), rtol=1e-10)
    # 5 % band of the largest magnitude around the last value, read by a plain loop
    r = s[:, 0, 0]
    want = next(k + 1 for k in range(n) if all(abs(r[j] - r[-1]) <= 0.05 * np.abs(r).max() for j in range(k, n)))
    assert settling_steps(s)[0, 0] == want


def test_settling_steps_edges_and_errors():
    s = np.zeros((10, 2, 1))
    s[:, 0, 0] = np.r_[np.zeros(9), 1.0]                 # jumps at the last step: not settled before it
    assert settling_steps(s).tolist() == [[10], [0]]     # the zero response reads 0
    s[:, 0, 0] = 1.0                                     # constant: settled from the first step
    assert settling_steps(s)[0, 0] == 1
    for band in (0.0, 1.0, -0.1):
        with pytest.raises(ParameterError, match="band"):
            settling_steps(s, band)
    with pytest.raises(ParameterError, match="step_size"):
        _, ident, _ = _identifier(1, 1, 1, 0, 0)
        learned_step_response(ident, np.zeros(1), np.zeros(0), np.zeros((1, 1)), [0], np.zeros(1), 5)


def _cstr_setup(seed=3):
    data = Scenario.from_toml("scenarios/cstr_setpoint.toml").to_dict()
    data["controller"] = {"kind": "neural"}
    return Scenario.from_dict(data, source="test", default_name="cstr").build(seed)


def _fly(setup, steps, probe_at=None):
    env, ctrl, ref = setup.env, setup.controller, setup.reference
    obs, _ = env.reset(seed=setup.seed, options=setup.options)
    r = ref(0.0)
    ctrl.reset(obs, r, seed=setup.seed)
    applied, probed = [], None
    for k in range(steps):
        u = ctrl.step(obs, ref(k * env.unwrapped.dt))
        applied.append(u.copy())
        if k == probe_at:
            probed = ctrl.learned_step_response(30, amplitude=0.1)
        obs, *_ = env.step(u)
    return np.array(applied), probed


def test_controller_method_leaves_the_run_unchanged_and_refuses_bad_calls():
    a = _cstr_setup()
    with pytest.raises(ParameterError, match="no input yet"):
        a.controller.learned_step_response()
    ua, _ = _fly(a, 40)
    b = _cstr_setup()
    ub, probed = _fly(b, 40, probe_at=20)
    np.testing.assert_array_equal(ua, ub)                # bit-identical with the query in the middle
    assert probed.shape == (30, 2, 2) and np.all(np.isfinite(probed))
    assert b.controller.learned_step_response().shape == (4 * b.controller.law.horizon, 2, 2)
    for bad in (0.0, 1.5, "big", float("nan"), True):
        with pytest.raises(ParameterError, match="amplitude"):
            b.controller.learned_step_response(10, amplitude=bad)


def test_attach_learned_response_takes_any_controller_that_offers_it(tmp_path):
    from types import SimpleNamespace

    from neurocontrol.plotting import plot_step_responses
    from neurocontrol.scenario.core import attach_learned_response

    res = SimpleNamespace(meta={"dt": 0.5}, output_names=("a",), input_names=("b",))
    attach_learned_response(res, object())                              # no such method: nothing recorded
    assert "learned_response" not in res.meta

    class Refuses:
        def learned_step_response(self):
            raise ParameterError("no input yet")
    attach_learned_response(res, Refuses())                             # refused: nothing recorded, no error
    assert "learned_response" not in res.meta

    class Diverges:                                                     # a free run that overflows: dropped quietly
        def learned_step_response(self):
            big = np.full((7, 1, 1), 1e308)
            return (big * 10.0) - (big * 10.0)                          # inf - inf: NaN, and numpy's warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                  # any warning would fail the test
        attach_learned_response(res, Diverges())
    assert "learned_response" not in res.meta

    class Offers:                                                       # no `law`: no horizon line
        def learned_step_response(self):
            return np.ones((7, 1, 1))
    attach_learned_response(res, Offers())
    rec = res.meta["learned_response"]
    assert rec["horizon"] is None and rec["dt"] == 0.5 and np.asarray(rec["response"]).shape == (7, 1, 1)
    plot_step_responses(np.asarray(rec["response"]), rec["dt"], tmp_path / "r.png", horizon=rec["horizon"])
    assert (tmp_path / "r.png").is_file()


def test_env_step_response_of_a_discrete_linear_plant_is_the_analytic_one():
    import control

    from neurocontrol.controllers.learned_response import env_step_response
    from plants.iosys_env import IOSystemEnv

    # x+ = A x + B u, y = x; from x0 with u0 held the response per unit step of input j is
    # sum_{k<i} A^k B e_j (independent of x0 and u0: the plant is linear)
    A = np.array([[0.9, 0.05], [0.0, 0.8]])
    B = np.array([[0.5, 0.1], [0.0, 0.3]])
    env = IOSystemEnv(control.ss(A, B, np.eye(2), np.zeros((2, 2)), dt=0.1), input_limits=[[-5.0, 5.0]] * 2,
                      x0=[0.3, -0.2])
    env.reset(seed=0)
    env.step(np.array([0.2, 0.1]))
    before = np.array(env.state, copy=True)
    got = env_step_response(env, np.array([0.4, -0.1]), np.array([0.5, -0.25]), [0, 1], 20)
    want = np.empty((20, 2, 2))
    acc, Ak = np.zeros((2, 2)), np.eye(2)
    for i in range(20):
        acc = acc + Ak @ B
        Ak = A @ Ak
        want[i] = acc
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(env.state, before)             # the env itself was not stepped
    with pytest.raises(ParameterError, match="step_size"):
        env_step_response(env, np.zeros(2), np.array([0.1, 0.0]), [0], 3)
