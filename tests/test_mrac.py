"""The MRAC augmentation of LQR-I: projection and Lyapunov equation against plain numpy, closed loops on a linear plant.

Claims checked: the box projection equals a plain loop and has its two
properties (parameters stay in the box; ``(theta - theta*)^T (Proj(theta, y) -
y) <= 0`` for ``theta*`` in the box); ``P`` solves the reference model's
Lyapunov equation; on a linear 2x2 plant whose input matrix is 0.6 times the
designed one, MRAC's distance to the reference model (the LQR-I loop on the
nominal plant, simulated separately) falls over time and ends below the plain
LQR-I's, and without the uncertainty MRAC equals LQR-I (nothing to adapt).
"""

import control
import gymnasium as gym
import numpy as np
import pytest
from scipy.linalg import expm

from neurocontrol.controllers.generic import LQRIConfig, build_lqr_i, design_lqr_i
from neurocontrol.controllers.mrac import (
    MRACConfig,
    MRACController,
    augmented_closed_loop,
    box_projection,
    build_mrac,
    lyapunov_matrix,
    projected_step,
)
from neurocontrol.exceptions import ParameterError
from neurocontrol.registry import kind_of

A = np.array([[-0.6, 0.3], [0.2, -1.0]])
B = np.array([[1.0, 0.3], [-0.2, 0.8]])
DT = 0.05


class LinearEnv(gym.Env):
    """dx/dt = A x + gain B u, y = x, sampled with a zero-order hold (scipy expm); designs see gain 1."""

    def __init__(self, gain=1.0, lim=4.0):
        self.dt = DT
        self.observation_names = ("y1", "y2")
        self.setpoint = np.zeros(2)
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float64)
        self.action_space = gym.spaces.Box(-lim, lim, (2,), np.float64)
        block = np.zeros((4, 4))
        block[:2, :2], block[:2, 2:] = A, gain * B
        e = expm(block * DT)
        self.Ad, self.Bd = e[:2, :2], e[:2, 2:]

    def to_iosys(self):
        return control.nlsys(lambda t, x, u, params: A @ x + B @ u, lambda t, x, u, params: x,
                             states=2, inputs=2, outputs=["y1", "y2"], name="linear2x2")

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = np.zeros(2)
        return self.x.copy(), {}

    def step(self, u):
        self.x = self.Ad @ self.x + self.Bd @ np.asarray(u, float)
        return self.x.copy(), 0.0, False, False, {}


def reference(k):
    t = k * DT
    return np.array([0.5 if t % 8 < 4 else -0.5, 0.3 if t % 6 < 3 else -0.2])


def run(ctrl, env, steps):
    obs, _ = env.reset()
    ctrl.reset(obs, reference(0))
    ys = []
    for k in range(steps):
        obs, *_ = env.step(ctrl.step(obs, reference(k)))
        ys.append(obs)
    return np.array(ys)


STEPS = int(120 / DT)


@pytest.fixture(scope="module")
def reference_model_outputs():
    """The reference model: LQR-I on the nominal plant."""
    return run(build_lqr_i(LQRIConfig(), LinearEnv()), LinearEnv(), STEPS)


# --------------------------------------------------------------------------- projection

def plain_projection(theta, y, bound):
    out = np.array(y, dtype=float).ravel()
    th = np.asarray(theta, float).ravel()
    for i in range(out.size):
        if (th[i] >= bound and out[i] > 0) or (th[i] <= -bound and out[i] < 0):
            out[i] = 0.0
    return out.reshape(np.shape(y))


def test_box_projection_equals_a_plain_loop_and_has_its_properties():
    rng = np.random.default_rng(0)
    bound = 1.5
    for _ in range(300):
        theta = rng.uniform(-bound, bound, (5, 2))
        on_edge = rng.random((5, 2)) < 0.4                 # many components on the boundary
        theta[on_edge] = bound * np.sign(rng.normal(size=on_edge.sum()))
        y = rng.normal(scale=2.0, size=(5, 2))
        star = rng.uniform(-bound, bound, (5, 2))
        proj = box_projection(theta, y, bound)
        np.testing.assert_array_equal(proj, plain_projection(theta, y, bound))
        assert np.sum((theta - star) * (proj - y)) <= 1e-12
        new = projected_step(theta, y, bound)
        assert np.all(np.abs(new) <= bound)
        assert np.linalg.norm(new - star) <= np.linalg.norm(theta + y - star) + 1e-12
    # it does act: an outward update on the boundary is removed, an inward one kept
    np.testing.assert_array_equal(box_projection([1.5, 1.5, -1.5], [1.0, -1.0, -2.0], bound), [0.0, -1.0, 0.0])


# --------------------------------------------------------------------------- Lyapunov equation

def test_lyapunov_matrix_solves_its_equation():
    rng = np.random.default_rng(1)
    for n in (2, 4, 6):
        M = rng.normal(size=(n, n))
        Am = 0.95 * M / np.max(np.abs(np.linalg.eigvals(M)))
        G = rng.normal(size=(n, n))
        Q = G @ G.T + 0.1 * np.eye(n)
        P = lyapunov_matrix(Am, Q)
        assert np.max(np.abs(Am.T @ P @ Am - P + Q)) <= 1e-9 * np.max(np.abs(P))
        assert np.min(np.linalg.eigvalsh(P)) > 0


def test_controller_P_belongs_to_the_lqr_i_closed_loop():
    ctrl = build_mrac(MRACConfig(), LinearEnv())
    d = ctrl.design
    n, p = 2, 2
    # the augmented loop built by hand: x+ = Ad x + Bd u, z+ = z - dt Cc x, u = -K x - Ki z
    Am = np.zeros((n + p, n + p))
    Am[:n, :n] = d.Ad - d.Bd @ d.K
    Am[:n, n:] = -d.Bd @ d.Ki
    Am[n:, :n] = -DT * d.Cc
    Am[n:, n:] = np.eye(p)
    np.testing.assert_allclose(augmented_closed_loop(d)[0], Am, atol=1e-14)
    Q = np.diag(1.0 / ctrl.scales ** 2)
    assert np.max(np.abs(Am.T @ ctrl.P @ Am - ctrl.P + Q)) <= 1e-9 * np.max(np.abs(ctrl.P))


# --------------------------------------------------------------------------- closed loops on the linear plant

def test_mrac_approaches_the_reference_model_under_an_input_gain_uncertainty(reference_model_outputs):
    ym = reference_model_outputs
    y_lqr = run(build_lqr_i(LQRIConfig(), LinearEnv()), LinearEnv(gain=0.6), STEPS)
    ctrl = build_mrac(MRACConfig(), LinearEnv())
    y_mrac = run(ctrl, LinearEnv(gain=0.6), STEPS)
    err_lqr = np.abs(y_lqr - ym).sum(axis=1)
    err_mrac = np.abs(y_mrac - ym).sum(axis=1)
    sixth = STEPS // 6
    first, last = err_mrac[:sixth].mean(), err_mrac[-sixth:].mean()
    assert last < 0.8 * first, (first, last)                      # the error falls as the parameters adapt
    assert last < 0.25 * err_lqr[-sixth:].mean(), (last, err_lqr[-sixth:].mean())
    assert np.all(np.abs(ctrl.theta) <= ctrl.parameter_bound)
    assert np.max(np.abs(ctrl.theta)) > 0.05                      # it did adapt


def test_without_uncertainty_mrac_equals_lqr_i(reference_model_outputs):
    ctrl = build_mrac(MRACConfig(), LinearEnv())
    y_mrac = run(ctrl, LinearEnv(), STEPS)
    np.testing.assert_allclose(y_mrac, reference_model_outputs, atol=1e-8)
    assert np.max(np.abs(ctrl.theta)) < 1e-6


def test_adaptation_freezes_while_the_input_saturates():
    ctrl = build_mrac(MRACConfig(), LinearEnv(lim=0.01))         # every input saturates
    run(ctrl, LinearEnv(gain=0.6, lim=0.01), 200)
    assert np.array_equal(ctrl.theta, np.zeros_like(ctrl.theta))
    wide = build_mrac(MRACConfig(), LinearEnv())
    run(wide, LinearEnv(gain=0.6), 200)
    assert np.max(np.abs(wide.theta)) > 0


def test_state_round_trip():
    a = build_mrac(MRACConfig(), LinearEnv())
    b = build_mrac(MRACConfig(), LinearEnv())
    env = LinearEnv(gain=0.6)
    obs, _ = env.reset()
    for c in (a, b):
        c.reset(obs, reference(0))
    for k in range(50):
        obs, *_ = env.step(a.step(obs, reference(k)))
    b.set_state(a.get_state())
    b._last_u = a._last_u
    assert np.array_equal(a.step(obs, reference(50)), b.step(obs, reference(50)))


def test_registered_as_mrac():
    assert kind_of(MRACConfig) == "mrac"


# --------------------------------------------------------------------------- bad input

def test_errors():
    with pytest.raises(ParameterError, match="`adaptation_gain` must be"):
        MRACConfig(adaptation_gain=0.0)
    with pytest.raises(ParameterError, match="`parameter_bound` must be"):
        MRACConfig(parameter_bound=-1.0)
    with pytest.raises(ParameterError, match="`config` must be an MRACConfig"):
        build_mrac(LQRIConfig(), LinearEnv())
    with pytest.raises(ParameterError, match="needs the plant's python-control model"):
        build_mrac(MRACConfig(output_indices=(0,)), gym.make("Pendulum-v1"))
    with pytest.raises(ParameterError, match="`design` must be an LQRIDesign"):
        MRACController("lqr", input_limits=[[0, 1]], output_indices=[0])
    with pytest.raises(ParameterError, match="`bound` must be"):
        box_projection([0.0], [1.0], 0.0)
    with pytest.raises(ParameterError, match="not stable"):
        lyapunov_matrix(np.diag([1.2, 0.5]), np.eye(2))
    with pytest.raises(ParameterError, match="symmetric positive definite"):
        lyapunov_matrix(np.diag([0.2, 0.5]), np.diag([1.0, -1.0]))
    d = design_lqr_i(control.ss(A, B, np.eye(2), np.zeros((2, 2))), dt=DT, Q=np.eye(4), R=np.eye(2),
                     output_indices=[0, 1])
    with pytest.raises(ParameterError, match="`adaptation_gain` must be"):
        MRACController(d, input_limits=[[-1, 1]] * 2, output_indices=[0, 1], adaptation_gain=-1.0)
    c = MRACController(d, input_limits=[[-1, 1]] * 2, output_indices=[0, 1])
    with pytest.raises(ParameterError, match="state must have keys"):
        c.set_state({"x_prior": np.zeros(2)})
