"""Helicopter dynamics against independent references: the doc's tables, finite differences,
a plain-numpy rhs written from reference/helicopter.md, scipy's solve_ivp and python-control."""

import math

import control
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurocontrol.exceptions import NonFiniteError, OutOfRangeError, ParameterError, ShapeError, TrimError
from plants.helicopter import (
    HelicopterParams,
    hover_range,
    jacobian,
    linearize,
    output,
    rhs,
    step,
    step_batch,
    to_iosys,
    trim,
)

# reference/helicopter.md, "Trim (hover) points": omega, theta*, theta* deg, u0*, u1*
TRIM_TABLE = [
    (100, 0.20543, 11.77, 117.63, -66.55),
    (120, 0.15504, 8.88, 144.47, -88.48),
    (140, 0.12301, 7.05, 173.53, -95.98),
    (160, 0.10115, 5.80, 204.84, -95.47),
    (180, 0.08542, 4.89, 238.38, -90.11),
]

A_DOC = np.array([[-1.5802, 0, 0, -54.4653, 0],
                  [0, 0, 1, 0, 0],
                  [0.25243, 0, -0.1, 193.8319, 0],
                  [0, 0, 0, 0, 1],
                  [-3.43557, 0, 0, -2745.1902, -65]])

A_VALUES = dict(a1=5.19791e-4, a2=1.51992e-2, a3=2.70183e-7, a4=1.58009e-5, a5=-0.1, a6=-0.1, a7=-17.67,
                a8=-0.7, a9=-0.0028, a10=-0.0028, a11=-13.92, a12=434.88, a13=-800.0, a14=-0.1, a15=-65.0)


def naive_rhs(x, u, a=A_VALUES, published=False, accel=0.0):
    """The equations of reference/helicopter.md typed in directly (no kernels)."""
    w, z, zd, th, thd = x
    drag = a["a6"] * zd ** 2 if published else a["a6"] * zd * abs(zd)
    return np.array([
        a["a8"] * w + a["a9"] * w ** 2 + a["a10"] * w ** 2 * np.sin(th) + a["a11"] + u[0],
        zd,
        w ** 2 * (a["a1"] + a["a2"] * th - np.sqrt(a["a3"] + a["a4"] * th)) + a["a5"] * zd + drag + a["a7"] + accel,
        thd,
        a["a13"] * th + a["a14"] * w ** 2 * np.sin(th) + a["a15"] * thd + a["a12"] + u[1],
    ])


def reference_solution(x0, u, t_end, accel=0.0):
    sol = solve_ivp(lambda t, x: naive_rhs(x, u, accel=accel), (0.0, t_end), x0, method="DOP853",
                    rtol=1e-13, atol=1e-13)
    return sol.y[:, -1]


def agrees_to_4_significant_figures(computed, table):
    """Within half a unit of the 4th significant digit of the table value."""
    unit = 10.0 ** (math.floor(math.log10(abs(table))) - 3)
    return abs(computed - table) <= 0.5 * unit


# ------------------------------------------------------------------------ trim
@pytest.mark.parametrize("omega, theta, theta_deg, u0, u1", TRIM_TABLE)
def test_trim_reproduces_table_to_4_significant_figures(omega, theta, theta_deg, u0, u1):
    tp = trim(float(omega))
    for computed, table in ((tp.collective, theta), (tp.throttle, u0), (tp.collective_servo, u1)):
        assert agrees_to_4_significant_figures(computed, table), (computed, table)
    # and to the precision the doc prints (5 digits for theta, 0.01 for the rest)
    assert abs(tp.collective - theta) <= 5e-6
    assert abs(math.degrees(tp.collective) - theta_deg) <= 0.005
    assert abs(tp.throttle - u0) <= 0.005 and abs(tp.collective_servo - u1) <= 0.005
    # and it is an equilibrium of the independent rhs
    np.testing.assert_allclose(naive_rhs(tp.x, tp.u), 0.0, atol=1e-9)
    np.testing.assert_array_equal(tp.x, [omega, 1.0, 0.0, tp.collective, 0.0])
    np.testing.assert_array_equal(tp.u, [tp.throttle, tp.collective_servo])


def test_trim_result_is_frozen_and_stays_put_under_stepping():
    tp = trim(140.0, altitude=0.5)
    with pytest.raises(AttributeError):
        tp.throttle = 0.0
    x = tp.x
    for _ in range(100):
        x = step(x, tp.u)
    np.testing.assert_allclose(x, tp.x, atol=1e-9)


def test_hover_range_matches_doc_and_bounds_trim():
    lo, hi = hover_range()
    assert round(lo, 1) == 89.4 and hi == 180.0
    assert trim(lo).collective == pytest.approx(0.245, abs=1e-12)   # at the upper pitch stop
    with pytest.raises(TrimError, match=r"no hover trim at `rotor_speed`=89\.3 rad/s: it must be in \[89\.44\d\d, 180\.0000\]"):
        trim(89.3)
    with pytest.raises(TrimError, match=r"`rotor_speed`=180\.5 rad/s: it must be in"):
        trim(180.5)


def test_trim_bad_arguments():
    with pytest.raises(OutOfRangeError, match=r"`altitude` must be in \[0\.0, 2\.0\] m \(the stand\), got 2\.5"):
        trim(140.0, altitude=2.5)
    with pytest.raises(ParameterError, match=r"`rotor_speed` must be a finite number, got nan"):
        trim(float("nan"))
    narrow = HelicopterParams(throttle_limits=(0.0, 150.0))
    with pytest.raises(TrimError, match=r"the trim throttle 173\.5 rad/s\^2 at rotor_speed=140\.0 rad/s is outside "
                                        r"its limits \[0\.0, 150\.0\]; widen `throttle_limits`"):
        trim(140.0, params=narrow)


# ---------------------------------------------------------------- linearisation
def central_differences(f, x, u, rel=1e-6):
    A = np.empty((5, 5))
    B = np.empty((5, 2))
    for j in range(5):
        h = rel * max(1.0, abs(x[j]))
        e = np.zeros(5)
        e[j] = h
        A[:, j] = (f(x + e, u) - f(x - e, u)) / (2 * h)
    for j in range(2):
        h = rel * max(1.0, abs(u[j]))
        e = np.zeros(2)
        e[j] = h
        B[:, j] = (f(x, u + e) - f(x, u - e)) / (2 * h)
    return A, B


@pytest.mark.parametrize("published", [False, True])
@pytest.mark.parametrize("x, u", [
    ([140.0, 1.0, 0.0, 0.12301, 0.0], [173.5, -96.0]),
    ([120.0, 0.4, 0.7, 0.2, -1.3], [150.0, 20.0]),
    ([165.0, 1.7, -1.9, 0.05, 4.0], [300.0, -400.0]),
])
def test_analytic_jacobian_matches_central_differences(x, u, published):
    x, u = np.array(x), np.array(u)
    params = HelicopterParams(published_drag=published)
    A, B = jacobian(x, u, params)
    A_fd, B_fd = central_differences(lambda xx, uu: naive_rhs(xx, uu, published=published), x, u)
    np.testing.assert_allclose(A, A_fd, rtol=1e-7, atol=1e-7 * np.abs(A).max())
    np.testing.assert_allclose(B, B_fd, rtol=1e-9, atol=1e-9)


def test_linearisation_at_140_matches_doc_matrix_and_eigenvalues():
    tp = trim(140.0)
    A, B, C, D = linearize(tp.x, tp.u)
    np.testing.assert_allclose(A, A_DOC, rtol=5e-5, atol=1e-12)
    np.testing.assert_array_equal(B, np.array([[1, 0], [0, 0], [0, 0], [0, 0], [0, 1]]))
    np.testing.assert_array_equal(C, np.eye(5))
    np.testing.assert_array_equal(D, np.zeros((5, 2)))
    eig = np.linalg.eigvals(A)
    real = sorted(e.real for e in eig if abs(e.imag) < 1e-9)
    cplx = [e for e in eig if e.imag > 1e-9]
    np.testing.assert_allclose(real, [-1.51, -0.10, 0.0], atol=0.005)
    assert len(cplx) == 1
    assert cplx[0].real == pytest.approx(-32.5, abs=0.05) and cplx[0].imag == pytest.approx(41.1, abs=0.05)
    assert np.linalg.matrix_rank(control.ctrb(A, B)) == 5


# ------------------------------------------------------------------ rhs/output
def test_rhs_matches_naive_equations_and_accepts_params_dicts():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = np.array([rng.uniform(75, 180), rng.uniform(0, 2), rng.uniform(-3, 5), rng.uniform(0.02, 0.24),
                      rng.uniform(-9, 9)])
        u = np.array([rng.uniform(0, 400), rng.uniform(-600, 600)])
        np.testing.assert_allclose(rhs(0.0, x, u), naive_rhs(x, u), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(rhs(0.0, x, u, {"published_drag": True}), naive_rhs(x, u, published=True),
                                   rtol=1e-13, atol=1e-12)
    a = dict(A_VALUES, a8=-0.91)
    np.testing.assert_allclose(rhs(0.0, x, u, {"a8": -0.91}), naive_rhs(x, u, a), rtol=1e-13)
    np.testing.assert_array_equal(output(0.0, x, u), x)


def test_drag_opposes_motion_in_both_directions():
    base = np.array([140.0, 1.0, 0.0, 0.12301, 0.0])
    u = np.zeros(2)

    def drag(v, params=None):
        x = base.copy()
        x[2] = v
        x0 = base.copy()
        return rhs(0.0, x, u, params)[2] - rhs(0.0, x0, u, params)[2]

    for v in (0.3, 1.0, 4.0):
        assert drag(v) < 0 < drag(-v)
        assert drag(v) == pytest.approx(-0.1 * v - 0.1 * v * v)
        assert drag(-v) == pytest.approx(0.1 * v + 0.1 * v * v)
    # the published a6*zdot**2 form accelerates a fast descent (why it is not the default)
    assert drag(-3.0, {"published_drag": True}) < 0


def test_rhs_and_step_reject_bad_arguments():
    x, u = trim(140.0).x, trim(140.0).u
    with pytest.raises(ShapeError, match=r"`x` must have shape \(5,\), got \(3,\)\."):
        rhs(0.0, x[:3], u)
    with pytest.raises(ShapeError, match=r"`u` must have shape \(2,\), got \(1, 2\)\."):
        step(x, u[None, :])
    with pytest.raises(NonFiniteError, match=r"`u` must be finite, got NaN or inf"):
        step(x, [np.nan, 0.0])
    with pytest.raises(ParameterError, match=r"`params` has unknown keys \['a16'\]"):
        rhs(0.0, x, u, {"a16": 1.0})
    with pytest.raises(ParameterError, match=r"`params` must be a HelicopterParams, a dict of its fields or None, got list"):
        rhs(0.0, x, u, [1.0])
    with pytest.raises(ParameterError, match=r"`dt` must be a finite number > 0 s, got 0\."):
        step(x, u, dt=0)
    with pytest.raises(ParameterError, match=r"`substeps` must be an integer >= 1 and <= 10000, got 2\.5"):
        step(x, u, substeps=2.5)
    with pytest.raises(ParameterError, match=r"`accel` must be a finite number m/s\^2, got inf"):
        step(x, u, accel=math.inf)
    with pytest.raises(ShapeError, match=r"`u` must have shape \(3, 2\), got \(2, 2\)\."):
        step_batch(np.tile(x, (3, 1)), np.tile(u, (2, 1)))
    with pytest.raises(ParameterError, match=r"`out` must be a writeable C-contiguous float64 array of shape \(3, 5\)"):
        step_batch(np.tile(x, (3, 1)), np.tile(u, (3, 1)), out=np.empty((3, 5), dtype=np.float32))


# ------------------------------------------------------------------ integration
def test_rk4_convergence_order_is_four():
    tp = trim(140.0)
    x0 = tp.x + np.array([2.0, 0.0, 0.2, 0.01, 0.5])
    u = tp.u + np.array([10.0, 30.0])
    t_end = 0.1
    ref = reference_solution(x0, u, t_end)
    subs = np.array([8, 16, 32, 64])
    err = np.array([np.linalg.norm((step(x0, u, dt=t_end, substeps=int(n)) - ref) / [100, 1, 1, 0.1, 1])
                    for n in subs])
    slope = np.polyfit(np.log(t_end / subs), np.log(err), 1)[0]
    assert 3.5 <= slope <= 4.5, (slope, err)


def test_env_step_equals_iosys_response_within_rk4_error():
    sys = to_iosys()
    tp = trim(140.0)
    x0 = tp.x + np.array([1.0, 0.0, 0.1, 0.005, 0.3])
    u = tp.u + np.array([5.0, 20.0])
    from plants.helicopter import HelicopterEnv

    env = HelicopterEnv()
    env.reset(seed=0, options={"initial_state": x0})
    obs, *_ , info = env.step(u)
    T = np.array([0.0, env.dt])
    resp = control.input_output_response(sys, T, np.tile(u[:, None], (1, 2)), x0,
                                         solve_ivp_method="DOP853", solve_ivp_kwargs={"rtol": 1e-12, "atol": 1e-12})
    y = resp.outputs[:, -1]
    assert resp.output_labels == ["rotor_speed", "altitude", "climb_rate", "collective", "collective_rate"]
    assert sys.input_labels == ["throttle", "collective_servo"] and sys.isctime()
    np.testing.assert_array_equal(obs, info["state"])
    # RK4 truncation error estimated by step doubling (Richardson): |x_h - x_h/2| * 16/15
    finer = step(x0, u, dt=env.dt, substeps=2 * env.substeps)
    rk4_error = np.abs(info["state"] - finer) * 16 / 15
    assert np.all(np.abs(info["state"] - y) <= 1.5 * rk4_error + 1e-12)
    assert np.all(np.abs(info["state"] - y) <= 1e-6 * np.array([100, 1, 1, 0.1, 10]))
    # it is truncation error, not a model mismatch: halving the sub-step shrinks it ~16x
    assert np.linalg.norm(finer - y) < np.linalg.norm(info["state"] - y) / 8


def test_iosys_over_one_second_and_params_override():
    tp = trim(140.0)
    sys = to_iosys()
    u = tp.u + np.array([3.0, -2.0])
    T = np.linspace(0.0, 1.0, 101)
    resp = control.input_output_response(sys, T, np.tile(u[:, None], (1, T.size)), tp.x,
                                         solve_ivp_method="DOP853", solve_ivp_kwargs={"rtol": 1e-11, "atol": 1e-11})
    x = tp.x
    for _ in range(100):
        x = step(x, u)
    np.testing.assert_allclose(x, resp.outputs[:, -1], rtol=1e-7, atol=1e-8)
    faulty = control.input_output_response(sys, T, np.tile(u[:, None], (1, T.size)), tp.x,
                                           params={"a8": 1.3 * -0.7, "a9": 1.3 * -0.0028})
    assert faulty.outputs[0, -1] < resp.outputs[0, -1] - 5.0      # more rotor drag: slower rotor


def test_batched_step_equals_single_steps_exactly():
    rng = np.random.default_rng(42)
    n = 257
    x = np.column_stack([rng.uniform(75, 180, n), rng.uniform(0, 2, n), rng.uniform(-3, 5, n),
                         rng.uniform(0.0175, 0.245, n), rng.uniform(-9, 9, n)])
    x[:10, 1] = 0.0        # some on the ground
    x[:10, 2] = 0.0
    u = np.column_stack([rng.uniform(0, 400, n), rng.uniform(-600, 600, n)])
    accel = rng.normal(0, 3, n)
    for params in (None, HelicopterParams(published_drag=True)):
        single = np.array([step(x[i], u[i], params, accel=accel[i]) for i in range(n)])
        batched = step_batch(x, u, params, accel=accel)
        assert np.array_equal(batched, single)
        out = x.copy()
        assert step_batch(out, u, params, accel=accel, out=out) is out   # in place
        assert np.array_equal(out, single)


# ------------------------------------------------------------------- end stops
def test_drop_from_half_metre_comes_to_rest_on_the_ground():
    tp = trim(140.0)
    x = np.array([140.0, 0.5, 0.0, 0.0175, 0.0])
    u = np.array([tp.throttle, -600.0])             # collective pinned to its lower stop
    zs, vs = [], []
    for _ in range(300):
        x = step(x, u)
        zs.append(x[1])
        vs.append(x[2])
        assert x[1] >= 0.0
        assert 0.0175 <= x[3] <= 0.245
    zs, vs = np.array(zs), np.array(vs)
    landed = int(np.argmax(zs == 0.0))
    assert 10 < landed < 60                         # ~0.25 s fall at ~17 m/s^2
    assert np.all(zs[landed:] == 0.0) and np.all(vs[landed:] == 0.0)
    assert x[3] == 0.0175 and x[4] == 0.0           # collective resting on its stop


def test_top_stop_holds_and_lift_off_when_force_pulls_away():
    tp = trim(140.0)
    x = np.array([140.0, 1.9, 0.0, tp.collective, 0.0])
    up = tp.u + np.array([0.0, 60.0])
    for _ in range(200):
        x = step(x, up)
        assert x[1] <= 2.0
    assert x[1] == 2.0 and x[2] == 0.0
    # on the ground at trim thrust plus a little: it lifts off (contact only pushes, never pulls)
    ground = np.array([140.0, 0.0, 0.0, tp.collective + 0.002, 0.0])
    lift = np.array([tp.throttle, -rhs(0.0, ground, np.zeros(2))[4]])   # holds the collective there
    y = step(ground, lift)
    assert y[2] > 0.0 and y[1] > 0.0
