"""``HelicopterEnv.to_iosys()``: the generic model-based kinds (``lqr_i``, ``pid_auto``) on the helicopter.

Claims: the env's python-control model names its outputs and inputs like the
env's observations and actions, in the same order, and is the plant being
simulated (parameter changes included); its trim for the set-point is the
closed-form hover trim; its linearisation there matches plain central
differences of the env's own step (discrete) and of the right-hand side the
env integrates (continuous); and the generic LQR-I designed on it holds the
hover task within the scenario's tolerance.
"""

import numpy as np
import pytest

import plants  # noqa: F401  (registers the kinds)
from neurocontrol.controllers.generic import discretize_zoh, trim_linearisation
from neurocontrol.scenario.core import Scenario, run_scenario
from plants.helicopter import HelicopterEnv, _kernels, trim
from plants.helicopter.params import INPUT_NAMES, STATE_NAMES

HOVER_LQR = "scenarios/hover_lqr.toml"
#: central-difference steps per state and input (about 1e-5 of each signal's scale)
H_X = np.array([1e-3, 1e-5, 1e-5, 1e-6, 1e-4])
H_U = np.array([1e-3, 1e-3])


def _central(f, z0, h):
    """Plain central differences of ``f`` at ``z0``: column j is (f(z0 + h_j e_j) - f(z0 - h_j e_j)) / 2 h_j."""
    cols = []
    for j in range(z0.size):
        dz = np.zeros(z0.size)
        dz[j] = h[j]
        cols.append((f(z0 + dz) - f(z0 - dz)) / (2.0 * h[j]))
    return np.column_stack(cols)


def test_names_and_order_match_the_observations_and_actions():
    env = HelicopterEnv()
    sys = env.to_iosys()
    assert sys.output_labels == list(env.observation_names) == list(STATE_NAMES)
    assert sys.state_labels == list(STATE_NAMES)
    assert sys.input_labels == list(env.input_names) == list(INPUT_NAMES)
    assert sys.isctime()
    x0 = np.array([131.0, 0.7, 0.2, 0.11, -0.4])
    obs, _ = env.reset(seed=0, options={"initial_state": x0})
    np.testing.assert_array_equal(sys.output(0.0, x0, np.zeros(2), params=sys.params), obs)


def test_model_is_the_plant_being_simulated():
    env = HelicopterEnv()
    env.reset(seed=0)
    p = env.params
    env.set_params(p.replace(a8=1.3 * p.a8))
    sys = env.to_iosys()
    assert sys.params["a8"] == pytest.approx(1.3 * p.a8, rel=0, abs=0)
    perturbed = HelicopterEnv(param_perturbation=0.1)
    perturbed.reset(seed=4)
    sys = perturbed.to_iosys()
    assert sys.params["a1"] == perturbed.params.a1 != perturbed.nominal_params.a1


def test_trim_is_the_closed_form_hover_trim():
    env = HelicopterEnv(setpoint=(150.0, 0.8))
    tr = trim_linearisation(env, (0, 1))
    tp = trim(150.0, 0.8)
    np.testing.assert_allclose(tr.states, tp.x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(tr.inputs, tp.u, rtol=1e-8, atol=1e-8)
    assert tr.obs_idx == [0, 1, 2, 3, 4] and tr.output_indices == [0, 1]


def test_linearisation_matches_central_differences_of_the_env():
    env = HelicopterEnv(setpoint=(140.0, 1.0))
    tr = trim_linearisation(env, (0, 1))
    A, B = np.asarray(tr.lin.A), np.asarray(tr.lin.B)
    x0, u0 = tr.states, tr.inputs
    # continuous: the right-hand side the env integrates, with the env's parameter vector
    p = env.params.to_vector()

    def f(x, u):
        out = np.empty(5)
        _kernels.rhs_kernel(np.ascontiguousarray(x), np.ascontiguousarray(u), p, out)
        return out

    A_fd = _central(lambda x: f(x, u0), x0, H_X)
    B_fd = _central(lambda u: f(x0, u), u0, H_U)
    scale_a = np.abs(A_fd).max(axis=0) + 1e-12
    np.testing.assert_allclose(A / scale_a, A_fd / scale_a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(B, B_fd, rtol=1e-6, atol=1e-12)

    # discrete: one env.step from the perturbed trim, against the zero-order-hold discretisation
    def step(x, u):
        env.reset(seed=0, options={"initial_state": x})
        obs, *_, info = env.step(u)
        return info["state"]

    Ad_fd = _central(lambda x: step(x, u0), x0, H_X)
    Bd_fd = _central(lambda u: step(x0, u), u0, H_U)
    Ad, Bd = discretize_zoh(A, B, env.dt)
    for M, M_fd in ((Ad, Ad_fd), (Bd, Bd_fd)):      # per column, relative to its largest entry (RK4 error ~1e-6)
        scale = np.abs(M_fd).max(axis=0)
        np.testing.assert_allclose(M / scale, M_fd / scale, rtol=0, atol=1e-5)
    assert np.abs(Bd[3:, 1]).min() > 0 and np.abs(Ad[1, 2]) > 0   # the checked entries are not trivially zero


@pytest.mark.parametrize("seed", [0, 1])
def test_lqr_i_holds_the_hover(seed):
    data = Scenario.from_toml(HOVER_LQR).to_dict()
    data["controller"] = {"kind": "lqr_i"}
    sc = Scenario.from_dict(data, source="hover_lqr:lqr_i", default_name="hover_lqr")
    res = run_scenario(sc, seed=seed)
    assert res.status == "completed"
    assert res.metrics["success"], res.metrics["outputs"]
    window = res.time >= res.time[-1] - 5.0
    err = np.abs(res.outputs[window] - np.array([140.0, 1.0]))
    assert np.all(err.max(axis=0) <= [1.4, 0.02]), err.max(axis=0)
    assert res.metrics["saturation_fraction"] < 0.5
