"""The relay-autotuned PID baseline (kind "pid_auto"): relay estimates against the describing function, the RGA
against a cofactor computation, the tuning rules against their published tables, the PID's anti-windup and
hand-over, and the closed loop on the quadruple tank at P-.
"""

import math

import numpy as np
import pytest
from scipy.linalg import expm

import plants  # noqa: F401
from neurocontrol.controllers.autotune import (
    PIDAutoController,
    RelayExperiment,
    RelayTuningError,
    pair_by_rga,
    relative_gain_array,
    steady_state_gain,
    tuning_rule,
)
from neurocontrol.controllers.pid_auto import PIDAutoConfig, build_pid_auto
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario.core import Scenario, run_scenario


def zoh(A, B, dt):
    """Exact zero-order-hold discretisation, written out here (independent of the package's)."""
    n, m = B.shape
    e = expm(np.block([[A, B], [np.zeros((m, n)), np.zeros((m, m))]]) * dt)
    return e[:n, :n], e[:n, n:]


def third_order_lag(gain):
    """G(s) = gain / (s + 1)^3 as a state-space chain of three unit lags."""
    A = np.array([[-1.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    return A, np.array([[gain], [0.0], [0.0]]), np.array([[0.0, 0.0, 1.0]])


# --------------------------------------------------------------------------- the relay experiment

@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_relay_finds_the_describing_function_ultimate_point_of_a_third_order_lag(gain):
    """G = K/(s+1)^3: phase -180 deg at w = sqrt 3, |G| = K/8, so Ku = 8/K and Tu = 2 pi / sqrt 3.

    Tolerance 5 %: the describing function keeps only the relay's fundamental; the odd harmonics reach the output
    with relative amplitude sum_k (1/k) |G(jkw)| / |G(jw)| = 1.8 % (k = 3) + 0.24 % (k = 5) + ... < 2.2 %, which
    bounds the error of the peak amplitude and shifts the switching instants by about as much; the 1 ms sampling
    (relay acting one sample late) adds 0.3 %. 5 % is about twice the sum.
    """
    dt = 1e-3
    A, B, C = third_order_lag(gain)
    Ad, Bd = zoh(A, B, dt)
    # steady to 1 %: the cycles measured are the converged limit cycle the describing function describes
    relay = RelayExperiment(amplitude=1.0, hysteresis=0.0, dt=dt, discard_cycles=1, measure_cycles=3,
                            steady_tolerance=0.01, max_steps=100_000)
    x = np.zeros(3)
    while not relay.done:
        y = float(C[0] @ x)
        u = relay.step(0.0 - y, y)
        x = Ad @ x + Bd[:, 0] * u
    assert relay.ku == pytest.approx(8.0 / gain, rel=0.05)
    assert relay.tu == pytest.approx(2 * math.pi / math.sqrt(3.0), rel=0.05)
    assert abs(relay.mean_output) < 0.05            # symmetric cycle about a zero bias


def test_relay_without_a_limit_cycle_runs_out_of_time():
    relay = RelayExperiment(amplitude=1.0, hysteresis=0.1, dt=0.1, max_steps=50)
    with pytest.raises(RelayTuningError, match="no steady limit cycle within its time budget"):
        for _ in range(60):
            relay.step(1.0, 0.0)                    # the output never answers


def test_relay_restart_forgets_the_cycles():
    relay = RelayExperiment(amplitude=1.0, hysteresis=0.0, dt=1.0, discard_cycles=0, measure_cycles=5)
    for k in range(40):
        relay.step(1.0 if (k // 2) % 2 == 0 else -1.0, float(k % 4))
    assert len(relay.cycles) >= 5 or relay.done
    relay = RelayExperiment(amplitude=1.0, hysteresis=0.0, dt=1.0, discard_cycles=0, measure_cycles=5)
    for k in range(12):
        relay.step(1.0 if (k // 2) % 2 == 0 else -1.0, 0.0)
    assert relay.cycles
    relay.restart()
    assert relay.cycles == [] and not relay.done


# --------------------------------------------------------------------------- pairing

def test_rga_2x2_equals_the_closed_form():
    G = np.array([[2.59556686, 1.49208906], [1.41468655, 2.84636634]])
    lam11 = 1.0 / (1.0 - G[0, 1] * G[1, 0] / (G[0, 0] * G[1, 1]))
    expected = np.array([[lam11, 1 - lam11], [1 - lam11, lam11]])
    np.testing.assert_allclose(relative_gain_array(G), expected, rtol=1e-12)


def test_rga_3x3_equals_the_cofactor_formula():
    """lambda_ij = g_ij C_ij / det G with C_ij the cofactor (Bristol), computed by hand here."""
    G = np.array([[1.0, 0.4, -0.2], [0.3, 2.0, 0.5], [-0.1, 0.6, 1.5]])

    def cofactor(i, j):
        minor = np.delete(np.delete(G, i, 0), j, 1)
        return (-1) ** (i + j) * (minor[0, 0] * minor[1, 1] - minor[0, 1] * minor[1, 0])

    det = sum(G[0, j] * cofactor(0, j) for j in range(3))
    expected = np.array([[G[i, j] * cofactor(i, j) / det for j in range(3)] for i in range(3)])
    lam = relative_gain_array(G)
    np.testing.assert_allclose(lam, expected, rtol=1e-12)
    np.testing.assert_allclose(lam.sum(axis=0), 1.0, rtol=1e-12)    # rows and columns of an RGA sum to 1
    assert pair_by_rga(G) == (0, 1, 2)


def test_pairing_follows_the_rga():
    # quadtank-like P+ gains: the diagonal relative gains are negative, so the outputs pair crosswise
    assert pair_by_rga([[1.514, 2.435], [2.572, 1.608]]) == (1, 0)
    assert pair_by_rga([[2.6, 1.5], [1.4, 2.8]]) == (0, 1)
    # one output, two inputs: the input with the larger relative gain
    assert pair_by_rga([[1.0, 0.1]]) == (0,)


def test_pairing_refuses_a_singular_or_tall_gain():
    with pytest.raises(ParameterError, match="rank-deficient"):
        pair_by_rga([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(ParameterError, match="no more outputs than inputs"):
        relative_gain_array([[1.0], [2.0]])


def test_steady_state_gain_of_an_integrator_pairs_like_its_velocity_gain():
    A = np.array([[0.0, 0.0], [0.0, -1.0]])             # output 0 integrates, output 1 is a unit lag
    B = np.array([[0.2, 1.0], [3.0, 0.1]])
    G, s0 = steady_state_gain(A, B, np.eye(2))
    assert s0 == pytest.approx(1e-3)
    assert pair_by_rga(G) == (1, 0)                      # integrator driven by input 1, lag by input 0
    G, s0 = steady_state_gain(-np.eye(2), B, np.eye(2))
    assert s0 == 0.0
    np.testing.assert_allclose(G, B)


# --------------------------------------------------------------------------- tuning rules

def test_tuning_rules_equal_their_tables():
    # Tyreus and Luyben (1992); Ziegler and Nichols (1942)
    assert tuning_rule(6.4, 10.0, "tyreus_luyben", "pi") == pytest.approx((2.0, 22.0, 0.0))
    assert tuning_rule(4.4, 10.0, "tyreus_luyben", "pid") == pytest.approx((2.0, 22.0, 10.0 / 6.3))
    assert tuning_rule(2.0, 12.0, "ziegler_nichols", "pi") == pytest.approx((0.9, 10.0, 0.0))
    assert tuning_rule(2.0, 8.0, "ziegler_nichols", "pid") == pytest.approx((1.2, 4.0, 1.0))


# --------------------------------------------------------------------------- the controller on a first-order lag

def lag_controller(**kw):
    settings = dict(input_limits=[[0.0, 2.0]], output_indices=[0], dt=0.1, n_observations=1, pairing=[0],
                    signs=[1.0], trim_input=[1.0], relay_amplitude=[0.5], hysteresis_floor=[0.01],
                    listen_steps=5, discard_cycles=1, measure_cycles=2, relay_max_steps=2000)
    settings.update(kw)
    return PIDAutoController(**settings)


def fly_lag(ctrl, refs, tau=1.0, gain=1.0, delay=2, y0=1.0):
    """y' = (gain u - y) / tau at dt = 0.1 with a pure delay of `delay` samples (gives the relay a limit cycle)."""
    a = math.exp(-0.1 / tau)
    y, queue = y0, [1.0] * delay
    ctrl.reset([y], [refs[0]])
    out = []
    for r in refs:
        u = float(ctrl.step([y], [r])[0])
        out.append((y, u, ctrl.diagnostics()["mode"]))
        queue.append(u)
        y = a * y + (1 - a) * gain * queue.pop(0)
    return out


def test_tuning_mode_then_pid_and_a_bumpless_hand_over():
    ctrl = lag_controller()
    trace = fly_lag(ctrl, [1.0] * 400)
    modes = [m for _, _, m in trace]
    k = modes.index("pid")
    assert set(modes[:k]) == {"tuning"} and set(modes[k:]) == {"pid"}
    # the first PID input is the relay's mean input, trim + mean relay output (here the trim holds y = r)
    assert abs(trace[k - 1][1] - 1.0) == pytest.approx(0.5)          # the relay swung +-0.5 about the trim
    assert trace[k][1] == pytest.approx(1.0, abs=0.05)
    assert abs(trace[-1][0] - 1.0) < 1e-3                            # settles on the set-point
    assert np.isfinite(ctrl.ku[0]) and ctrl.kc[0] == pytest.approx(ctrl.ku[0] / 3.2)


def test_conditional_integration_leaves_saturation_at_once():
    """An unreachable set-point for 300 steps does not wind the integral up: once the set-point is reachable
    again the input leaves its limit within two steps (a plain integrator would stay there for many)."""
    ctrl = lag_controller()
    refs = [1.0] * 200 + [3.0] * 300 + [1.0] * 100
    trace = fly_lag(ctrl, refs)
    assert all(t[2] == "pid" for t in trace[200:])
    assert trace[480][1] == 2.0                                       # saturated at the top
    assert trace[502][1] < 2.0


def test_relay_amplitude_backs_off_near_the_output_range():
    """The +-0.5 relay drives y to 1.13; with the range [0, 1.15] and a 5 % margin (y <= 1.0925) the amplitude is
    halved once, the count restarts, and the halved relay finishes the tuning inside the margin."""
    ctrl = lag_controller(output_range=[[0.0, 1.15]], range_margin=0.05, relay_max_steps=4000)
    trace = fly_lag(ctrl, [1.0] * 300)
    tuning = [(y, u) for y, u, m in trace if m == "tuning"][5:]           # after listening
    steps = [abs(u - 1.0) for _, u in tuning]
    first_small = steps.index(0.25)
    assert set(steps[:first_small]) == {0.5} and set(steps[first_small:]) == {0.25}
    assert ctrl._backoffs == 1 and np.isfinite(ctrl.ku[0])
    assert max(y for y, _ in tuning[first_small + 10:]) <= 1.15 - 0.05 * 1.15


def test_relay_that_keeps_hitting_the_range_is_stopped_with_the_reason():
    ctrl = lag_controller(output_range=[[0.0, 1.05]], range_margin=0.05, relay_max_steps=4000)   # set-point in the margin
    with pytest.raises(RelayTuningError, match="halving its amplitude three times"):
        fly_lag(ctrl, [1.0] * 300)


def test_hysteresis_follows_the_output_noise():
    """Hysteresis = 3 x the noise estimate. Tolerance 20 %: the second-difference estimate from 200 samples has a
    relative standard error of about 7 % (198 MA(2)-correlated differences, about 100 effective)."""
    rng = np.random.default_rng(5)
    ctrl = lag_controller(listen_steps=200)
    ctrl.reset([1.0], [1.0])
    for _ in range(200):
        ctrl.step([1.0 + 0.02 * rng.standard_normal()], [1.0])
    assert ctrl.tuning["hysteresis"][0] == pytest.approx(0.06, rel=0.2)


def test_state_round_trip_continues_bit_identically_mid_relay():
    a, b = lag_controller(), lag_controller()
    ya = 1.0
    a.reset([ya], [1.0])
    for k in range(12):
        a.step([1.0 + 0.1 * math.sin(0.7 * k)], [1.0])
    assert a.diagnostics()["mode"] == "tuning" and a._relay is not None
    b.reset([1.0], [1.0])
    b.set_state(a.get_state())
    b._last_u = a._last_u.copy()
    for k in range(12, 300):
        y = [1.0 + 0.1 * math.sin(0.7 * k)]
        assert a.step(y, [1.0]).tolist() == b.step(y, [1.0]).tolist()


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("key, value, match", [
    ("relay_fraction", 0.0, "relay_fraction"), ("relay_fraction", 1.5, "relay_fraction"),
    ("listen_steps", 1, "listen_steps"), ("measure_cycles", 0, "measure_cycles"),
    ("derivative_filter", -1.0, "derivative_filter"), ("rule", "cohen_coon", "rule"),
])
def test_bad_settings_are_named(key, value, match):
    with pytest.raises(ParameterError, match=match):
        PIDAutoConfig(**{key: value})


@pytest.mark.parametrize("kw, match", [
    ({"pairing": [1]}, "pairing"), ({"signs": [0.5]}, "signs"), ({"relay_amplitude": [0.0]}, "relay_amplitude"),
    ({"output_indices": [3]}, "output_indices"), ({"structure": "pd"}, "structure"),
])
def test_bad_controller_arguments_are_named(kw, match):
    with pytest.raises(ParameterError, match=match):
        lag_controller(**kw)


def test_an_open_loop_unstable_plant_is_refused_with_the_reason():
    sc = Scenario.from_toml("scenarios/pvtol_steps.toml")
    env = sc.build(0).env
    with pytest.raises(ParameterError, match="chain of integrators.*lqr_i"):
        build_pid_auto(PIDAutoConfig(method="relay"), env)


# --------------------------------------------------------------------------- the closed loop

def test_quadtank_pminus_pairing_and_signs_from_the_model():
    relay = PIDAutoConfig(method="relay")
    ctrl = build_pid_auto(relay, Scenario.from_toml("scenarios/quadtank_pminus.toml").build(0).env)
    assert ctrl.pairing == (0, 1) and ctrl.signs.tolist() == [1.0, 1.0]
    np.testing.assert_allclose(ctrl.relay_amplitude, [1.0, 1.0])      # 10 % of the 0-10 V range
    ctrl = build_pid_auto(relay, Scenario.from_toml("scenarios/quadtank_pplus.toml").build(0).env)
    assert ctrl.pairing == (1, 0)                                     # P+: negative diagonal RGA, cross pairing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadtank_pminus_reaches_the_scenario_tolerance(seed):
    sc = Scenario.from_toml("scenarios/quadtank_pminus.toml").set("controller.kind", "pid_auto") \
        .set("controller.method", "relay")
    res = run_scenario(sc, seed=seed)
    assert res.status == "completed"
    assert res.metrics["success"], res.metrics["outputs"]
    modes = [seg["mode"] for seg in res.meta["modes"]]
    assert modes == ["tuning", "pid"]


def test_a_wild_measurement_while_listening_is_a_relay_tuning_error():
    """An overflowing noise estimate gives no hysteresis: a named RelayTuningError (it was a ParameterError on
    ``hysteresis`` from deep inside), which ends a run as failed."""
    ctrl = PIDAutoController(input_limits=[[0.0, 2.0]], output_indices=[0], dt=0.1, n_observations=1, pairing=[0],
                             signs=[1.0], trim_input=[1.0], relay_amplitude=[0.5], hysteresis_floor=[0.01],
                             listen_steps=5)
    ctrl.reset([0.0], [0.0])
    for y in (0.0, 1e300, -1e300, 1e300):
        ctrl.step([y], [0.0])
    with pytest.raises(RelayTuningError, match=r"first 5 samples is not finite \(\[inf\]\): a wild measurement"):
        ctrl.step([0.0], [0.0])
