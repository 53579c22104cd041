"""Iterative learning control: lifted-form analytic cases on a linear MIMO plant (contraction and its
violation, gradient ILC step bound, Q filter), the matrix-free adjoints against explicit lifted
matrices, the reference channel around the helicopter's baselines, the trial contract, determinism,
statuses and argument errors."""

import doctest
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import plants
from neurocontrol import ilc
from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError
from neurocontrol.ilc import (
    FunctionGradient,
    GradientILC,
    IdentifierGradient,
    ILCResult,
    ILCRunner,
    InputChannel,
    LinearModelGradient,
    PTypeILC,
    ReferenceChannel,
    TrialContext,
    resolve_channel,
)
from neurocontrol.nets.rtrl import input_sensitivities
from neurocontrol.nets.rtrn import Normalizer, RTRNConfig, init_weights
from neurocontrol.reference import Constant, MultiSignal, Sine, Staircase
from neurocontrol.simulation import seed_streams, simulate
from plants.helicopter import trim
from plants.helicopter.baselines import LQRController, PIDController

ROOT = Path(__file__).resolve().parents[1]
DT = 0.01
T = 60                                         # steps of an LTI trial

# contraction holds: ||I - H L|| ~ 0.62 for L = 0.5 (CB)^-1
A1 = np.array([[0.3, 0.1], [0.0, 0.2]])
B1 = np.array([[1.0, 0.2], [0.1, 0.8]])
C1 = np.eye(2)
# lightly damped rotation per channel: L = (CB)^-1 makes I - L H nilpotent (spectral radius 0) but ||I - H L|| ~ 10
_ROT = 0.97 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
A2 = np.kron(np.eye(2), _ROT)
B2 = np.kron(np.eye(2), np.array([[1.0], [0.0]]))
B2[0, 1] = 0.2
C2 = np.kron(np.eye(2), np.array([[1.0, 0.0]]))

LTI_REF = MultiSignal(signals=(Sine(amplitude=1.0, frequency_hz=2.0), Sine(amplitude=0.5, frequency_hz=1.0, phase=1.0)))


class LTIEnv(gym.Env):
    """x(t+1) = A x(t) + B u(t), observation y = C x; terminates when |y| exceeds ``bound``."""

    def __init__(self, A, B, C, dt=DT, bound=np.inf):
        self.A, self.B, self.C = (np.asarray(M, float) for M in (A, B, C))
        self.dt, self.bound = dt, bound
        p, m = self.C.shape[0], self.B.shape[1]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (p,), np.float64)
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (m,), np.float64)
        self.resets = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = np.asarray(options["initial_state"], float).copy()
        self.resets.append(seed)
        return self.C @ self.x, {}

    def step(self, action):
        self.x = self.A @ self.x + self.B @ np.asarray(action, float)
        y = self.C @ self.x
        return y, 0.0, bool(np.any(np.abs(y) > self.bound)), False, {}


class ZeroController(AbstractController):
    """Pure feedforward: outputs zeros, so the applied input is the feedforward."""

    def __init__(self, m=2, p=2):
        super().__init__(input_limits=[[-1e9, 1e9]] * m, output_indices=tuple(range(p)), dt=DT)

    def _reset_impl(self, observation, reference, seed):
        pass

    def _step_impl(self, observation, reference):
        return np.zeros(self.n_inputs)


def lifted_gain(L, n_steps, lead=1):
    """Lead-shifted block matrix of a (c, p) gain: v(t) gets L e(t + lead)."""
    c, p = L.shape
    M = np.zeros((n_steps * c, n_steps * p))
    for t in range(n_steps - lead + 1):
        s = t + lead - 1
        M[t * c:(t + 1) * c, s * p:(s + 1) * p] = L
    return M


def lti_runner(A, B, C, law, trials, **kw):
    x0 = kw.pop("initial_state", np.full(A.shape[0], 0.5))
    return ILCRunner(LTIEnv(A, B, C), ZeroController(B.shape[1], C.shape[0]), LTI_REF, law=law, trials=trials,
                     duration=T * DT, initial_state=x0, seed=0, channel="input", **kw)


def lifted_norms(res):
    """Lifted 2-norm of the error per trial from the per-output RMS."""
    return np.sqrt(T * np.sum(res.errors ** 2, axis=1))


@pytest.mark.parametrize("module", [ilc.laws, ilc.gradient, ilc.runner])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- analytic: lifted form


def test_ptype_contraction_gives_monotone_decrease_matching_the_lifted_prediction():
    L = 0.5 * np.linalg.inv(C1 @ B1)
    H = LinearModelGradient(A1, B1, C1).lifted(T)
    M = np.eye(2 * T) - H @ lifted_gain(L, T)
    assert np.linalg.norm(M, 2) < 0.65 and np.linalg.norm(np.eye(2 * T) - lifted_gain(L, T) @ H, 2) < 0.65
    res = lti_runner(A1, B1, C1, PTypeILC(L), trials=8).run()
    norms = lifted_norms(res)
    assert res.status == "running" and res.n_trials == 8
    assert np.all(np.diff(norms) < 0)
    assert norms[-1] < 0.65 ** 7 * norms[0]
    # the run is the lifted recursion E_{k+1} = (I - H L) E_k exactly
    E = (res.first_trial.references[1:] - res.first_trial.outputs[1:]).ravel()
    predicted = []
    for _ in range(8):
        predicted.append(np.linalg.norm(E))
        E = M @ E
    np.testing.assert_allclose(norms, predicted, rtol=1e-9)


def test_ptype_violating_the_norm_condition_grows_despite_spectral_radius_zero():
    L = np.linalg.inv(C2 @ B2)                      # I - L CB = 0: asymptotically convergent
    H = LinearModelGradient(A2, B2, C2).lifted(T)
    M = np.eye(2 * T) - H @ lifted_gain(L, T)
    assert np.max(np.abs(np.linalg.eigvals(M))) < 1e-6 and np.linalg.norm(M, 2) > 5
    res = lti_runner(A2, B2, C2, PTypeILC(L), trials=6, initial_state=np.full(4, 0.5)).run()
    norms = lifted_norms(res)
    assert np.any(np.diff(norms) > 0)               # not monotone ...
    assert norms[-1] > 100 * norms[0]               # ... and growing by orders of magnitude within 6 trials


def test_ptype_q_filter_contracts_the_feedforward_increments():
    law = PTypeILC(0.5 * np.linalg.inv(C1 @ B1), q_cutoff_hz=10.0, q_order=2)
    ctx = TrialContext(trial=1, dt=DT, observations=np.zeros((T + 1, 2)), outputs=np.zeros((T + 1, 2)),
                       references=np.zeros((T + 1, 2)), inputs=np.zeros((T, 2)), feedforward=np.zeros((T, 2)),
                       channel=InputChannel())
    # lifted Q, column by column (filtfilt is linear)
    Q = np.column_stack([law.update(basis.reshape(T, 2), np.zeros((T, 2)), ctx).ravel() for basis in np.eye(2 * T)])
    H = LinearModelGradient(A1, B1, C1).lifted(T)
    rate = np.linalg.norm(Q @ (np.eye(2 * T) - lifted_gain(np.asarray(law.gain), T) @ H), 2)
    assert rate < 1
    seen = []
    res = lti_runner(A1, B1, C1, law, trials=8, callback=lambda k, info: seen.append(info["feedforward"])).run()
    steps = np.array([np.linalg.norm(b - a) for a, b in zip(seen, seen[1:])])
    assert res.n_trials == 8 and np.all(np.diff(steps) < 0)
    assert np.all(steps[1:] <= rate * steps[:-1] * (1 + 1e-9))
    # with Q the error settles at a floor instead of zero, but well below trial 1
    assert lifted_norms(res)[-1] < 0.2 * lifted_norms(res)[0]


@pytest.mark.parametrize("plant", ["damped", "oscillatory"])
@pytest.mark.parametrize("fraction", [0.5, 1.0, 1.9])
def test_gradient_ilc_monotone_for_step_below_two_over_norm_squared(plant, fraction):
    A, B, C = (A1, B1, C1) if plant == "damped" else (A2, B2, C2)
    model = LinearModelGradient(A, B, C)
    H = model.lifted(T)
    beta = fraction / np.linalg.norm(H, 2) ** 2
    res = lti_runner(A, B, C, GradientILC(beta, model=model), trials=8, initial_state=np.full(A.shape[0], 0.5)).run()
    norms = lifted_norms(res)
    assert np.all(np.diff(norms) < 0)
    # exactly the lifted recursion E_{k+1} = (I - beta H H^T) E_k
    E = (res.first_trial.references[1:] - res.first_trial.outputs[1:]).ravel()
    predicted = []
    for _ in range(8):
        predicted.append(np.linalg.norm(E))
        E = E - beta * H @ (H.T @ E)
    np.testing.assert_allclose(norms, predicted, rtol=1e-9)
    if plant == "damped":          # better conditioned: fast; the oscillatory H has tiny singular values (slow)
        assert norms[-1] < 0.4 * norms[0]


def test_gradient_ilc_beyond_the_bound_grows():
    model = LinearModelGradient(A2, B2, C2)
    h2 = np.linalg.norm(model.lifted(T), 2) ** 2
    norms = lifted_norms(lti_runner(A2, B2, C2, GradientILC(2.5 / h2, model=model), trials=8,
                                    initial_state=np.full(4, 0.5)).run())
    assert np.any(np.diff(norms) > 0) and norms[-1] > 2 * norms[0]   # the top singular direction: x1.5 per trial


def test_linear_model_adjoint_and_function_gradient_match_the_lifted_matrix():
    rng = np.random.default_rng(1)
    model = LinearModelGradient(A2, B2, C2)
    H = model.lifted(T)
    e = rng.standard_normal((T, 2))
    expected = (H.T @ e.ravel()).reshape(T, 2)
    np.testing.assert_allclose(model.adjoint(e), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(FunctionGradient(lambda ctx: H).adjoint(e), expected, rtol=1e-12)
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import aslinearoperator

    np.testing.assert_allclose(FunctionGradient(lambda ctx: csr_matrix(H)).adjoint(e), expected, rtol=1e-12)
    np.testing.assert_allclose(FunctionGradient(lambda ctx: aslinearoperator(H)).adjoint(e), expected, rtol=1e-12)
    # Markov parameters by direct simulation of a unit pulse
    x = B2[:, 0].copy()
    for t in range(5):
        np.testing.assert_allclose(H[2 * t:2 * t + 2, 0], C2 @ x)
        x = A2 @ x


def test_gradient_ilc_with_a_function_model_equals_the_linear_model():
    model = LinearModelGradient(A1, B1, C1)
    a = lti_runner(A1, B1, C1, GradientILC(0.3, model=model), trials=4).run()
    b = lti_runner(A1, B1, C1, GradientILC(0.3, model=lambda ctx: model.lifted(ctx.n_steps)), trials=4).run()
    np.testing.assert_allclose(a.errors, b.errors, rtol=1e-10)
    np.testing.assert_allclose(a.feedforward, b.feedforward, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- identifier gradient


class IdentifierStub:
    """What IdentifierGradient reads from an AdaptiveController: identifier weights and normalisers."""

    def __init__(self, n=3, m=2, seed=0):
        cfg = RTRNConfig(n_outputs=n, n_inputs=m)
        self.identifier_weights = init_weights(cfg, seed)
        self._obs_norm = Normalizer(low=[-2.0, -1.0, 0.0], high=[2.0, 3.0, 10.0][:n], target=(-0.1, 0.1))
        self._in_norm = Normalizer(low=[0.0, -5.0][:m], high=[4.0, 5.0][:m], target=(-0.1, 0.1))
        self.cfg = cfg


def identifier_context(stub, n_steps, rng):
    obs = rng.uniform(-0.5, 0.5, (n_steps + 1, 3)) + np.array([0.0, 1.0, 5.0])
    u = rng.uniform(0.5, 3.5, (n_steps, 2))
    out = (0, 2)
    return TrialContext(trial=1, dt=DT, observations=obs, outputs=obs[:, out], references=obs[:, out], inputs=u,
                        feedforward=np.zeros((n_steps, 2)), channel=InputChannel(), controller=stub,
                        output_indices=out)


def test_identifier_gradient_matches_the_explicit_free_run_jacobian_in_physical_units():
    stub, rng, n = IdentifierStub(), np.random.default_rng(2), 40
    ctx = identifier_context(stub, n, rng)
    e = rng.standard_normal((n, 2))
    # explicit: one free run over the whole trial from the measured y(0), chain rule to physical units
    y0 = stub._obs_norm.normalize(ctx.observations[0])
    u_n = stub._in_norm.normalize(ctx.inputs)
    J = input_sensitivities(stub.cfg, stub.identifier_weights, y0, u_n).jacobian[:, :, [0, 2], :]
    J = J / stub._obs_norm.scale[[0, 2]][None, None, :, None] * stub._in_norm.scale[None, None, None, :]
    H = J.transpose(0, 2, 1, 3).reshape(2 * n, 2 * n)
    expected = (H.T @ e.ravel()).reshape(n, 2)
    got = IdentifierGradient(horizon=n).adjoint(e, ctx)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    # windows re-anchored at the measured state: same shape, finite, the first window's columns unchanged
    windowed = IdentifierGradient(horizon=10).adjoint(e, ctx)
    assert windowed.shape == (n, 2) and np.all(np.isfinite(windowed))
    y_short = input_sensitivities(stub.cfg, stub.identifier_weights, y0, u_n[:20]).jacobian[:, :10][:, :, [0, 2], :]
    y_short = y_short / stub._obs_norm.scale[[0, 2]][None, None, :, None] * stub._in_norm.scale
    np.testing.assert_allclose(windowed[:10], np.einsum("hjia,hi->ja", y_short, e[:20]), rtol=1e-10, atol=1e-14)


def test_identifier_gradient_matches_finite_differences_of_the_network_in_physical_units():
    """Independent of input_sensitivities: perturb one physical input, free-run tanh(W z) by hand."""
    stub, rng, n = IdentifierStub(seed=3), np.random.default_rng(4), 12
    ctx = identifier_context(stub, n, rng)
    W, on, inn = stub.identifier_weights, stub._obs_norm, stub._in_norm

    def free_run(u_phys):
        y = on.normalize(ctx.observations[0])
        out = []
        for t in range(n):
            y = np.tanh(W @ np.concatenate([y, inn.normalize(u_phys[t]), [1.0]]))
            out.append(on.denormalize(y)[[0, 2]])
        return np.array(out)

    H = np.zeros((2 * n, 2 * n))
    h = 1e-5
    for j in range(n):
        for a in range(2):
            up, um = ctx.inputs.copy(), ctx.inputs.copy()
            up[j, a] += h
            um[j, a] -= h
            H[:, 2 * j + a] = ((free_run(up) - free_run(um)) / (2 * h)).ravel()
    e = rng.standard_normal((n, 2))
    np.testing.assert_allclose(IdentifierGradient(horizon=n).adjoint(e, ctx), (H.T @ e.ravel()).reshape(n, 2),
                               rtol=1e-6, atol=1e-9)


def test_reference_model_gradient_is_the_pulse_response_of_the_reference_model():
    from neurocontrol.reference_model import SecondOrderReferenceModel

    rm = SecondOrderReferenceModel(bandwidth_rad_s=[4.0, 5.0], damping=[1.0, 0.7], dt=DT)
    H = LinearModelGradient.from_reference_model(rm).lifted(20)
    rm.reset([0.0, 0.0])
    values = [rm.step([1.0, 0.0])[0]] + [rm.step([0.0, 0.0])[0] for _ in range(19)]   # pulse on output 0 at t=0
    np.testing.assert_allclose(H[:, 0].reshape(20, 2), np.array(values), atol=1e-12)
    with pytest.raises(ParameterError, match=r"`model` must have `transition_matrix`"):
        LinearModelGradient.from_reference_model(object())


def test_gradient_ilc_output_weights_give_monotone_weighted_error():
    w = np.array([1.0, 25.0])
    model = LinearModelGradient(A1, B1, C1)
    G = np.kron(np.eye(T), np.diag(np.sqrt(w))) @ model.lifted(T)
    res = lti_runner(A1, B1, C1, GradientILC(1.0 / np.linalg.norm(G, 2) ** 2, model=model, output_weights=w),
                     trials=6).run()
    weighted = np.sqrt(T * np.sum(w * res.errors ** 2, axis=1))
    assert np.all(np.diff(weighted) < 0)
    with pytest.raises(ShapeError, match=r"`output_weights` must have shape \(2,\)"):
        lti_runner(A1, B1, C1, GradientILC(1.0, model=model, output_weights=[1.0, 2.0, 3.0]), trials=2)
    with pytest.raises(ParameterError, match=r"`output_weights` must be positive"):
        GradientILC(1.0, output_weights=[1.0, 0.0])


# --------------------------------------------------------------------------- the helicopter


HELI_REF = MultiSignal(signals=(Constant(value=140.0),
                                Staircase(times=[0.0, 0.5], levels=[1.0, 1.3], smoothing_time=1.5)))
X0 = trim(140.0, 1.0).x


@pytest.mark.parametrize("baseline", [LQRController.from_plant, PIDController.from_plant])
def test_reference_channel_around_baselines_reduces_the_altitude_error(baseline):
    res = ILCRunner(gym.make(plants.HELICOPTER_ID), baseline(), HELI_REF,
                    law=PTypeILC([0.5, 0.5], lead=30, q_cutoff_hz=1.0), trials=4, duration=5.0, initial_state=X0,
                    seed=0).run()
    alt = res.errors[:, 1]
    assert res.status == "running" and res.channel == "reference" and res.output_names == ("rotor_speed", "altitude")
    assert np.all(np.diff(alt) < 0) and alt[-1] < 0.4 * alt[0]
    assert res.errors[-1, 0] < res.errors[0, 0]
    assert res.feedforward.shape == (500, 2) and res.meta["later_trials_start"] == "reset"
    # the applied reference shift is what the law learned after trial 3; the records hold the task's reference
    np.testing.assert_allclose(res.last_trial.references, HELI_REF(np.arange(501) * 0.01))


def test_first_trial_is_the_plain_closed_loop_and_every_trial_starts_at_the_initial_state():
    """The runner's trial 1 (zero feedforward) equals a hand-written loop on env.step; the plant is only
    ever set by env.reset."""
    env = gym.make(plants.HELICOPTER_ID, sensor_noise_std=[0.1, 0.002, 0.01, 0.001, 0.01])
    res = ILCRunner(env, LQRController.from_plant(), HELI_REF, law=PTypeILC(0.5, lead=30), trials=3, duration=1.0,
                    initial_state=X0, seed=3, keep_trials=True).run()
    ctrl, env2 = LQRController.from_plant(), gym.make(plants.HELICOPTER_ID,
                                                       sensor_noise_std=[0.1, 0.002, 0.01, 0.001, 0.01])
    obs, _ = env2.reset(seed=res.meta["plant_seed"], options={"initial_state": X0})
    refs = HELI_REF(np.arange(101) * 0.01)
    ctrl.reset(obs, refs[0])
    ys = [obs]
    for t in range(100):
        obs, *_ = env2.step(ctrl.step(obs, refs[t]))
        ys.append(obs)
    np.testing.assert_array_equal(res.first_trial.observations, np.array(ys))
    assert len(res.trial_results) == 3
    for r in res.trial_results:                     # noise differs per trial, the true start does not
        np.testing.assert_allclose(r.observations[0], X0, atol=0.5)
    assert not np.array_equal(res.trial_results[1].observations[0], res.trial_results[2].observations[0])


def test_trial_one_is_the_simulate_run_of_the_same_seed():
    """One closed loop, one seed split: trial 1 (zero feedforward) is exactly simulate() with the same root seed."""
    noisy = dict(sensor_noise_std=[0.1, 0.002, 0.01, 0.001, 0.01], param_perturbation=0.05)
    res = ILCRunner(gym.make(plants.HELICOPTER_ID, **noisy), LQRController.from_plant(), HELI_REF,
                    law=PTypeILC(0.5, lead=30), trials=2, duration=1.0, initial_state=X0, seed=3).run()
    plain = simulate(gym.make(plants.HELICOPTER_ID, **noisy), LQRController.from_plant(), HELI_REF, duration=1.0,
                     seed=3, options={"initial_state": X0})
    for name in ("observations", "outputs", "references", "inputs", "saturated"):
        np.testing.assert_array_equal(getattr(res.first_trial, name), getattr(plain, name))
    streams = seed_streams(3)
    assert (res.meta["plant_seed"], res.meta["controller_seed"]) == (streams.plant, streams.controller)
    assert res.first_trial.meta["seed_streams"] == plain.meta["seed_streams"]


class BoxedLTIEnv(LTIEnv):
    """LTIEnv with the action box [-1, 1]; it clips for itself and records the raw actions it is sent."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.action_space = gym.spaces.Box(-1.0, 1.0, self.action_space.shape, np.float64)
        self.sent = []

    def step(self, action):
        self.sent.append(np.array(action, dtype=float))
        return super().step(np.clip(action, -1.0, 1.0))


def test_runner_does_not_clip_the_controller_action():
    env = BoxedLTIEnv(A1, B1, C1)
    v0 = np.full((20, 2), 3.0)                   # input feedforward beyond the plant's box, inside the controller's
    res = ILCRunner(env, ZeroController(), LTI_REF, law=PTypeILC(0.5), trials=1, duration=0.2,
                    initial_state=[0.0, 0.0], seed=0, channel="input", initial_feedforward=v0).run()
    np.testing.assert_array_equal(np.array(env.sent), v0)          # sent as the controller returned it
    np.testing.assert_array_equal(res.first_trial.inputs, np.ones((20, 2)))   # applied: the plant's box
    assert res.first_trial.saturated.all()


def test_short_staircase_error_falls_threefold_in_five_trials():
    """End to end: LQR on the helicopter, altitude staircase 0.5 -> 0.75 -> 1.0 m in 5 s, P-type ILC on the
    reference channel with the example's law. Claim: the altitude RMS error falls every trial and trial 5's is at
    most a third of trial 1's."""
    stairs = MultiSignal(signals=(Constant(value=140.0),
                                  Staircase(times=[0.0, 1.0, 3.0], levels=[0.5, 0.75, 1.0], smoothing_time=1.0)))
    res = ILCRunner(gym.make(plants.HELICOPTER_ID), LQRController.from_plant(), stairs,
                    law=PTypeILC([0.3, 1.0], lead=30, q_cutoff_hz=1.5), trials=5, duration=5.0,
                    initial_state=trim(140.0, 0.5).x, seed=0, options={"setpoint": (140.0, 0.5)}).run()
    alt = res.errors[:, 1]
    assert res.status == "running" and res.n_trials == 5
    assert np.all(np.diff(alt) < 0)
    assert alt[-1] <= alt[0] / 3


def test_determinism_for_a_seed():
    def run(seed, **kw):
        env = gym.make(plants.HELICOPTER_ID, sensor_noise_std=[0.1, 0.002, 0.01, 0.001, 0.01])
        return ILCRunner(env, PIDController.from_plant(), HELI_REF, law=PTypeILC([0.5, 0.5], lead=30, q_cutoff_hz=1.0),
                         trials=3, duration=1.5, initial_state=X0, seed=seed, **kw).run()

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.errors, b.errors)
    np.testing.assert_array_equal(a.feedforward, b.feedforward)
    assert a.to_dict() == b.to_dict()
    assert not np.array_equal(a.errors, c.errors)
    # the same runner run twice starts again from trial 1
    runner = ILCRunner(gym.make(plants.HELICOPTER_ID), PIDController.from_plant(), HELI_REF, law=PTypeILC(0.5, lead=30),
                       trials=2, duration=1.0, initial_state=X0, seed=1)
    np.testing.assert_array_equal(runner.run().errors, runner.run().errors)
    # repeated disturbances: identical noise in every trial
    d = run(7, repeat_disturbances=True, keep_trials=True)
    np.testing.assert_array_equal(d.trial_results[0].observations[0], d.trial_results[2].observations[0])


def make_adaptive():
    from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig

    cfg = AdaptiveControllerConfig(observation_low=(74.25, 0.0, -3.0, 0.0175, -10.0),
                                   observation_high=(180.0, 2.0, 3.0, 0.245, 10.0), rate_indices=(-1, 2),
                                   imitator_pretrain_steps=1000)
    return AdaptiveController(cfg, input_limits=((0.0, 400.0), (-600.0, 600.0)), output_indices=(0, 1), dt=DT,
                              warmup_controller=PIDController.from_plant())


def test_adaptive_controller_keeps_learning_across_trials_with_reference_model_gradient():
    from neurocontrol.reference_model import SecondOrderReferenceModel

    ctrl = make_adaptive()
    model = LinearModelGradient.from_reference_model(
        SecondOrderReferenceModel(bandwidth_rad_s=ctrl.config.reference_bandwidth,
                                  damping=ctrl.config.reference_damping, dt=DT))
    res = ILCRunner(gym.make(plants.HELICOPTER_ID), ctrl, HELI_REF, law=GradientILC(1.0, model=model, q_cutoff_hz=2.0),
                    trials=4, duration=4.0, initial_state=X0, seed=0).run()
    assert res.meta["later_trials_start"] == "start_trial" and res.status == "running"
    assert np.all(np.diff(res.errors[:, 1]) < 0) and res.errors[-1, 1] < 0.5 * res.errors[0, 1]


def test_identifier_gradient_runs_on_the_adaptive_controller():
    res = ILCRunner(gym.make(plants.HELICOPTER_ID), make_adaptive(), HELI_REF,
                    law=GradientILC(0.3, output_weights=(1.0, 1e4)), trials=2, duration=2.0, initial_state=X0, seed=0,
                    channel="input").run()
    assert res.status == "running" and res.feedforward.shape == (200, 2)
    assert np.all(np.isfinite(res.feedforward)) and np.abs(res.feedforward).max() > 0


# --------------------------------------------------------------------------- trial contract, statuses


class SpyController(ZeroController):
    def __init__(self, with_start_trial):
        super().__init__()
        self.calls = []
        if with_start_trial:
            self.start_trial = lambda obs, ref: self.calls.append(("start_trial", None))

    def _reset_impl(self, observation, reference, seed):
        self.calls.append(("reset", seed))


@pytest.mark.parametrize("with_start_trial, carry, expected", [
    (True, True, ["reset", "start_trial", "start_trial"]),
    (True, False, ["reset", "reset", "reset"]),
    (False, True, ["reset", "reset", "reset"]),
])
def test_controller_reset_and_start_trial_contract(with_start_trial, carry, expected):
    ctrl = SpyController(with_start_trial)
    res = ILCRunner(LTIEnv(A1, B1, C1), ctrl, LTI_REF, law=PTypeILC(0.5), trials=3, duration=0.2,
                    initial_state=[0.5, 0.5], seed=0, channel="input", carry_weights=carry).run()
    assert [name for name, _ in ctrl.calls] == expected
    seeds = {s for name, s in ctrl.calls if name == "reset"}
    assert seeds == {res.meta["controller_seed"]}          # every reset: the same controller seed
    assert res.meta["later_trials_start"] == ("start_trial" if with_start_trial and carry else "reset")


def test_tolerance_stops_with_converged():
    res = lti_runner(A1, B1, C1, PTypeILC(0.5 * np.linalg.inv(C1 @ B1), q_cutoff_hz=10.0), trials=30, tol=1e-3).run()
    assert res.status == "converged" and res.stop_reason == "tol" and res.n_trials < 30


def test_callback_false_stops():
    res = lti_runner(A1, B1, C1, PTypeILC(0.5), trials=10, callback=lambda k, info: k < 3).run()
    assert (res.status, res.stop_reason, res.n_trials) == ("converged", "callback", 3)


def test_terminated_episode_fails_and_keeps_the_last_good_feedforward():
    L = np.linalg.inv(C2 @ B2)
    res = ILCRunner(LTIEnv(A2, B2, C2, bound=50.0), ZeroController(), LTI_REF, law=PTypeILC(L), trials=10,
                    duration=T * DT, initial_state=np.full(4, 0.5), seed=0, channel="input").run()
    assert res.status == "failed" and res.stop_reason == "terminated"
    assert np.all(np.isnan(res.errors[-1])) and np.all(np.isfinite(res.errors[:-1]))
    assert res.last_trial.status == "failed" and res.last_trial.n_steps <= T
    np.testing.assert_array_equal(res.feedforward, res.last_feedforward)


class NaNEnv(LTIEnv):
    """A sensor that drops out (NaN) at the third step."""

    def step(self, action):
        y, *rest = super().step(action)
        self.k = getattr(self, "k", 0) + 1
        return (y * np.nan if self.k == 3 else y), *rest


def test_nonfinite_measurement_fails():
    res = ILCRunner(NaNEnv([[0.5]], [[1.0]], [[1.0]]), ZeroController(1, 1),
                    lambda t: np.zeros((len(t), 1)), law=PTypeILC(1.0), trials=3, duration=0.1, initial_state=[1.0],
                    seed=0, channel="input").run()
    assert (res.status, res.stop_reason, res.n_trials) == ("failed", "nonfinite", 1)


def test_result_exports_and_plot(tmp_path):
    pd = pytest.importorskip("pandas")
    res = lti_runner(A1, B1, C1, PTypeILC(0.5), trials=3).run()
    d = res.to_dict()
    assert d["status"] == "running" and len(d["errors"]) == 3 and d["channel"] == "input"
    import json

    json.dumps(d)
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["y0_rms", "y0_max", "y1_rms", "y1_max"]
    assert df.index.tolist() == [1, 2, 3]
    res.plot(tmp_path / "trials.png")
    assert (tmp_path / "trials.png").stat().st_size > 0
    assert not res.errors.flags.writeable


def test_channels():
    r, v = np.ones((3, 2)), np.full((3, 2), 0.5)
    rc, vin = ReferenceChannel().commands(r, v)
    assert vin is None and np.all(rc == 1.5)
    rc, vin = InputChannel().commands(r, np.zeros((3, 1)))
    assert np.all(rc == r) and vin.shape == (3, 1)
    assert resolve_channel("reference") == ReferenceChannel() and resolve_channel(InputChannel()) == InputChannel()


def test_input_channel_on_helicopter_with_identifier_gradient_is_refused_for_baselines():
    with pytest.raises(ParameterError, match="needs an AdaptiveController"):
        ILCRunner(gym.make(plants.HELICOPTER_ID), LQRController.from_plant(), HELI_REF, law=GradientILC(1.0),
                  trials=2, duration=1.0, initial_state=X0, seed=0, channel="input")


# --------------------------------------------------------------------------- argument errors


def make(**kw):
    args = dict(law=PTypeILC(0.5), trials=2, duration=0.2, initial_state=[0.5, 0.5], seed=0, channel="input")
    args.update(kw)
    env = args.pop("env", LTIEnv(A1, B1, C1))
    ctrl = args.pop("controller", ZeroController())
    ref = args.pop("reference", LTI_REF)
    return ILCRunner(env, ctrl, ref, **args)


@pytest.mark.parametrize("kw, error, match", [
    (dict(trials=-1), ParameterError, r"`trials` must be an integer >= 1, got -1\."),
    (dict(trials=2.5), ParameterError, r"`trials` must be an integer >= 1, got 2\.5"),
    (dict(duration=0.0), ParameterError, r"`duration` must be a finite number > 0 s, got 0\.0"),
    (dict(duration=0.001), ParameterError, r"shorter than one control period"),
    (dict(seed=-3), ParameterError, r"`seed` must be a non-negative int"),
    (dict(channel="output"), ParameterError, r"unknown `channel` 'output'"),
    (dict(tol=-1.0), ParameterError, r"`tol` must be a finite number > 0 \(relative change\), or None, got -1\.0"),
    (dict(callback=3), ParameterError, r"`callback` must be callable"),
    (dict(carry_weights="yes"), ParameterError, r"`carry_weights` must be True or False"),
    (dict(law="ptype"), ParameterError, r"`law` must be an ILC law"),
    (dict(env="LTI"), ParameterError, r"`env` must be a gymnasium.Env"),
    (dict(controller=object()), ParameterError, r"`controller` must have `output_indices`"),
    (dict(reference=lambda t: np.zeros((len(t), 3))), ShapeError, r"`reference` must give 2 set-points"),
    (dict(reference=lambda t: np.full((len(t), 2), np.nan)), NonFiniteError, r"`reference` must be finite"),
    (dict(reference=[1.0, 2.0]), ParameterError, r"`reference` must be callable"),
    (dict(initial_feedforward=np.zeros((5, 2))), ShapeError, r"`initial_feedforward` must have shape \(20, 2\)"),
    (dict(initial_state=[np.nan, 0.0]), NonFiniteError, r"`initial_state` must be finite"),
    (dict(options={"initial_state": [0, 0]}), ParameterError, r"give the initial state as `initial_state`"),
    (dict(law=PTypeILC([0.5, 0.5, 0.5])), ShapeError, r"`gain` must have shape \(2,\)"),
    (dict(law=PTypeILC(np.ones((3, 2)))), ShapeError, r"`gain` must have shape \(2, 2\)"),
    (dict(law=PTypeILC(0.5, lead=50)), ParameterError, r"`lead` \(50 steps\) must not exceed the trial length"),
    (dict(law=PTypeILC(0.5, q_cutoff_hz=60.0)), ParameterError, r"`q_cutoff_hz` must be below the Nyquist"),
    (dict(law=PTypeILC(0.5, q_cutoff_hz=5.0, q_order=8)), ParameterError, r"needs trials longer than 27 steps"),
    (dict(law=GradientILC(0.1, model=LinearModelGradient(A2, B2, C2[:1]))), ShapeError,
     r"the model maps 2 feedforward channels to 1 outputs"),
    (dict(law=GradientILC(0.1), channel="reference"), ParameterError, r"IdentifierGradient models the plant"),
])
def test_runner_errors(kw, error, match):
    with pytest.raises(error, match=match):
        make(**kw)


def test_scalar_gain_needs_square_channels():
    with pytest.raises(ShapeError, match=r"needs as many feedforward channels as outputs.*give a \(2, 1\) matrix"):
        ILCRunner(LTIEnv([[0.5]], [[1.0, 1.0]], [[1.0]]), ZeroController(2, 1), lambda t: np.zeros((len(t), 1)),
                  law=PTypeILC(0.5), trials=2, duration=0.2, initial_state=[0.0], seed=0, channel="input")


def test_time_limit_and_dt_mismatch():
    with pytest.raises(ParameterError, match=r"max_episode_steps=4000"):
        ILCRunner(gym.make(plants.HELICOPTER_ID), LQRController.from_plant(), HELI_REF, law=PTypeILC(0.5), trials=2,
                  duration=40.0, initial_state=X0, seed=0)
    with pytest.raises(ParameterError, match=r"designed for dt = 0.02 s but the env steps dt = 0.01 s"):
        ILCRunner(gym.make(plants.HELICOPTER_ID), LQRController.from_plant(dt=0.02), HELI_REF, law=PTypeILC(0.5),
                  trials=2, duration=1.0, initial_state=X0, seed=0)


@pytest.mark.parametrize("build, error, match", [
    (lambda: PTypeILC(np.ones((2, 2, 2))), ShapeError, r"`gain` must be a scalar, a vector"),
    (lambda: PTypeILC([np.inf]), NonFiniteError, r"`gain` must be finite"),
    (lambda: PTypeILC(0.5, lead=0), ParameterError, r"`lead` must be an integer >= 1, got 0\."),
    (lambda: PTypeILC(0.5, q_cutoff_hz=-1.0), ParameterError, r"`q_cutoff_hz` must be a finite number > 0 Hz \(or None for no Q filter\), got -1\.0"),
    (lambda: PTypeILC(0.5, q_order=0), ParameterError, r"`q_order` must be an integer >= 1, got 0"),
    (lambda: GradientILC(0.0), ParameterError, r"`step` must be a finite number > 0, got 0\.0"),
    (lambda: GradientILC(1.0, model=3), ParameterError, r"`model` must be a gradient model"),
    (lambda: IdentifierGradient(horizon=0), ParameterError, r"`horizon` must be an integer >= 1, got 0"),
    (lambda: IdentifierGradient(stride=-1), ParameterError, r"`stride` must be an integer >= 1, got -1"),
    (lambda: LinearModelGradient(np.ones((2, 3)), np.ones((2, 1)), np.ones((1, 2))), ShapeError, r"`A` must be square"),
    (lambda: LinearModelGradient(np.eye(2), np.ones((3, 1)), np.ones((1, 2))), ShapeError,
     r"`B` must have shape \(2, N\)"),
    (lambda: FunctionGradient("H"), ParameterError, r"`function` must be callable"),
    (lambda: resolve_channel(3), ParameterError, r"unknown `channel` 3"),
    (lambda: ILCResult(errors=np.zeros((1, 1)), max_errors=np.zeros((1, 1)), status="done", stop_reason="trials",
                       feedforward=np.zeros((2, 1)), last_feedforward=np.zeros((2, 1)), output_names=("y0",),
                       channel="input"), ParameterError, r"`status` must be one of"),
])
def test_construction_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


class NaNLaw(ilc.AbstractILCLaw):
    def _update_impl(self, feedforward, error, context):
        return feedforward * np.nan


def test_update_errors():
    law = PTypeILC(0.5)
    with pytest.raises(ShapeError, match=r"`error` must have shape \(4, N\)"):
        law.update(np.zeros((4, 2)), np.zeros((3, 2)))
    with pytest.raises(NonFiniteError, match=r"`error` must be finite"):
        law.update(np.zeros((4, 2)), np.full((4, 2), np.nan))
    with pytest.raises(ParameterError, match=r"`context` must be a TrialContext"):
        law.update(np.zeros((4, 2)), np.zeros((4, 2)), context={"dt": 0.01})
    with pytest.raises(ParameterError, match=r"needs the control period: pass a TrialContext"):
        PTypeILC(0.5, q_cutoff_hz=1.0).update(np.zeros((40, 1)), np.zeros((40, 1)))
    with pytest.raises(DivergenceError, match=r"NaNLaw produced a non-finite feedforward"):
        NaNLaw().update(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"must return H of shape \(8, T\*c\)"):
        FunctionGradient(lambda ctx: np.eye(3)).adjoint(np.zeros((4, 2)))
    with pytest.raises(ParameterError, match=r"IdentifierGradient needs the trial"):
        IdentifierGradient().adjoint(np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"`error` must have 1 columns"):
        LinearModelGradient([[0.5]], [[1.0]], [[1.0]]).adjoint(np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"`feedforward` must have shape \(3, 2\)"):
        ReferenceChannel().commands(np.zeros((3, 2)), np.zeros((3, 1)))


def test_diverging_law_fails_the_run():
    res = lti_runner(A1, B1, C1, NaNLaw(), trials=3).run()
    assert (res.status, res.stop_reason, res.n_trials) == ("failed", "diverged", 1)


# --------------------------------------------------------------------------- the example


@pytest.mark.parametrize("controller", ["adaptive", "neural"])
def test_example_runs_short(tmp_path, controller):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "ilc_staircase.py"), "--trials", "2",
                          "--duration", "4", "--controller", controller, "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "trial  1" in out.stdout and "trial  2" in out.stdout
    assert f"{controller} controller" in out.stdout
    assert (tmp_path / "ilc_staircase_trials.png").stat().st_size > 0


# --------------------------------------------------------------------------- warm-up excitation is not learned


class WarmupController(ZeroController):
    """Zero feedback; reports ``mode`` ("warmup" unless given) for the first ``n_warm`` steps after ``reset`` (never
    after start_trial), "tracking" after them."""

    def __init__(self, n_warm, mode="warmup"):
        super().__init__()
        self.n_warm, self.k, self.warm, self.mode = n_warm, 0, False, mode

    def _reset_impl(self, observation, reference, seed):
        self.k, self.warm = 0, True

    def start_trial(self, observation, reference):
        self.k, self.warm = 0, False

    def _step_impl(self, observation, reference):
        self.k += 1
        return np.zeros(self.n_inputs)

    def diagnostics(self):
        return {"mode": self.mode if self.warm and self.k <= self.n_warm else "tracking"}


class RecordingLaw(ilc.AbstractILCLaw):
    """Keeps what the runner hands it; the next feedforward is a fixed nonzero signal."""

    def __init__(self):
        self.seen = []

    def _update_impl(self, feedforward, error, context):
        self.seen.append((error.copy(), context.excluded))
        return feedforward + 0.01


@pytest.mark.parametrize("carry, exclude, mode", [(True, True, "warmup"), (False, True, "warmup"),
                                                   (True, False, "warmup"), (True, True, "reidentify"),
                                                   (True, True, "tuning")])
def test_warmup_rows_and_their_settling_are_not_learned_when_the_next_trial_skips_the_warmup(carry, exclude, mode):
    """Also the other excitation modes: the neural controller's open-loop re-identification, a relay test."""
    law, n_warm = RecordingLaw(), 7
    res = ILCRunner(LTIEnv(A1, B1, C1), WarmupController(n_warm, mode), LTI_REF, law=law, trials=3, duration=T * DT,
                    initial_state=[0.5, 0.5], seed=0, channel="input", carry_weights=carry, keep_trials=True,
                    exclude_excitation=exclude).run()
    assert res.meta["exclude_excitation"] is exclude
    assert res.status == "running" and len(law.seen) == 3
    for k, (given, excluded) in enumerate(law.seen):
        tr = res.trial_results[k]
        full = tr.references[1:] - tr.outputs[1:]          # the trial's error, from its own record
        np.testing.assert_allclose(res.errors[k], np.sqrt(np.mean(full ** 2, axis=0)))    # reported unmasked
        if carry and exclude and k == 0:                   # trial 1 warmed up, trial 2 will not
            assert excluded.shape == (T,) and excluded.sum() == 2 * n_warm and excluded[:2 * n_warm].all()
            np.testing.assert_array_equal(given[:2 * n_warm], 0.0)
            np.testing.assert_array_equal(given[2 * n_warm:], full[2 * n_warm:])
        else:                      # no warm-up in it, the next trial repeats it, or exclusion is off
            assert excluded is None
            np.testing.assert_array_equal(given, full)
