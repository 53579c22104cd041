import doctest
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import neurocontrol.reference as reference
from neurocontrol.exceptions import NonFiniteError, OutOfRangeError, ParameterError, ShapeError
from neurocontrol.reference import (
    Constant,
    MultiSignal,
    Ramp,
    Sine,
    Staircase,
    Step,
    aprbs,
    chirp,
    multisine,
)
from neurocontrol.reference_model import FirstOrderReferenceModel, SecondOrderReferenceModel


def test_docstring_examples_run():
    result = doctest.testmod(reference, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0


# ----------------------------------------------------------------------------- signals


def test_signals_evaluate_scalar_and_array_times():
    t = np.array([0.0, 0.5, 1.0, 2.0])
    assert Constant(value=2.0)(t).tolist() == [2.0] * 4
    assert Step(t0=1.0, before=-1.0, after=3.0)(t).tolist() == [-1.0, -1.0, 3.0, 3.0]
    assert Ramp(slope=2.0, t0=0.5, initial=1.0, t1=1.0)(t).tolist() == [1.0, 1.0, 2.0, 2.0]
    np.testing.assert_allclose(Sine(amplitude=2.0, frequency_hz=0.5, phase=0.3, offset=1.0)(t),
                               1.0 + 2.0 * np.sin(np.pi * t + 0.3))
    assert isinstance(Step(t0=0.0, after=1.0)(0.0), float)
    # any array shape is kept
    assert Sine(amplitude=1.0, frequency_hz=1.0)(np.zeros((2, 3))).shape == (2, 3)


def test_staircase_jumps_and_holds_first_level_before_first_time():
    s = Staircase(times=[1.0, 2.0, 3.0], levels=[0.5, -1.0, 2.0])
    assert s([0.0, 1.0, 1.99, 2.0, 2.5, 3.0, 9.0]).tolist() == [0.5, 0.5, 0.5, -1.0, -1.0, 2.0, 2.0]
    assert Staircase(times=[0.0], levels=[4.0])([0.0, 5.0]).tolist() == [4.0, 4.0]


def test_smoothed_staircase_is_continuous_with_bounded_rate():
    s = Staircase(times=[0.0, 1.0, 3.0], levels=[0.0, 2.0, 1.0], smoothing_time=0.5)
    t = np.linspace(0, 5, 50001)
    y = s(t)
    rate = np.gradient(y, t)
    # the quintic smoothstep peaks at 15/8 of the mean rate jump / smoothing_time
    assert np.max(np.abs(rate)) == pytest.approx(15 / 8 * 2.0 / 0.5, rel=1e-3)
    assert np.max(np.abs(np.diff(y))) < 1e-3  # no jumps
    assert s(1.5) == pytest.approx(2.0) and s(1.25) == pytest.approx(1.0)
    assert s(0.99) == 0.0 and s(3.5) == pytest.approx(1.0)


def test_multisignal_stacks_outputs():
    r = MultiSignal(signals=[Step(t0=1.0, after=1.0), Constant(value=-2.0), Ramp(slope=1.0)])
    assert r.n_outputs == 3
    out = r(np.array([0.0, 1.0, 2.0]))
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out, [[0, -2, 0], [1, -2, 1], [1, -2, 2]])
    assert r(1.5).shape == (3,)
    assert isinstance(r.signals, tuple)


def test_signals_are_frozen_and_comparable():
    s = Staircase(times=[0.0, 1.0], levels=[0.0, 1.0])
    assert s == Staircase(times=(0.0, 1.0), levels=(0, 1))
    with pytest.raises(AttributeError):
        s.levels = (1.0, 2.0)
    with pytest.raises(TypeError):
        Step(1.0, 0.0, 1.0)  # keyword-only


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Constant(value=np.nan), ParameterError, r"`value` must be a finite number, got nan\."),
        (lambda: Constant(value="1.0"), ParameterError, r"`value` must be a finite number, got '1\.0'\."),
        (lambda: Step(t0=[0.0, 1.0], after=1.0), ShapeError, r"`t0` must be a scalar, got shape \(2,\)"),
        (lambda: Staircase(times=[0.0, 1.0], levels=[1.0]), ShapeError, r"`levels` must have shape \(2,\)"),
        (lambda: Staircase(times=[], levels=[]), ShapeError, r"at least one switching time"),
        (lambda: Staircase(times=[1.0, 1.0], levels=[0, 1]), ParameterError, r"strictly increasing"),
        (lambda: Staircase(times=[0.0], levels=[0.0], smoothing_time=-1), ParameterError,
         r"`smoothing_time` must be a finite number >= 0 s, got -1\."),
        (lambda: Ramp(slope=1.0, t0=2.0, t1=1.0), ParameterError, r"`t1` must be later than `t0` = 2.0"),
        (lambda: Sine(amplitude=1.0, frequency_hz=-1.0), ParameterError,
         r"`frequency_hz` must be a finite number >= 0 Hz, got -1\.0\."),
        (lambda: MultiSignal(signals=[]), ParameterError, r"one signal per controlled output"),
        (lambda: MultiSignal(signals=[1.0]), ParameterError, r"`signals\[0\]` must be a signal"),
        (lambda: MultiSignal(signals=3), ParameterError, r"`signals` must be a sequence"),
    ],
)
def test_signal_parameter_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_signal_time_errors():
    with pytest.raises(NonFiniteError, match=r"`t` must be finite"):
        Step(t0=0.0, after=1.0)([0.0, np.inf])
    with pytest.raises(ShapeError, match=r"`t` must be a scalar or have shape \(T,\)"):
        MultiSignal(signals=[Constant(value=1.0)])(np.zeros((2, 2)))


# ----------------------------------------------------------------------------- excitation


def _segments(x):
    """Run lengths of a piecewise-constant sequence."""
    change = np.flatnonzero(np.diff(x) != 0) + 1
    bounds = np.concatenate([[0], change, [len(x)]])
    return np.diff(bounds)


def test_aprbs_levels_and_hold_times_are_in_range():
    low, high = np.array([-1.0, 10.0]), np.array([1.0, 20.0])
    u = aprbs(5000, low=low, high=high, min_hold=5, max_hold=30, rng=np.random.default_rng(3))
    assert u.shape == (5000, 2)
    assert np.all(u >= low) and np.all(u <= high)
    for j in range(2):
        runs = _segments(u[:, j])[:-1]  # the last segment is cut by n_steps
        assert runs.min() >= 5 and runs.max() <= 30
        assert len(runs) > 5000 / 30 - 1
        # levels spread over the whole range, not just its ends (amplitude modulation)
        levels = u[np.cumsum(runs) - 1, j]
        assert np.ptp(levels) > 0.8 * (high[j] - low[j])
        assert np.mean((levels > low[j] + 0.2 * (high[j] - low[j])) & (levels < high[j] - 0.2 * (high[j] - low[j]))) > 0.4
    # channels are independent draws
    assert not np.array_equal(_segments(u[:, 0]), _segments(u[:, 1]))


def test_aprbs_is_reproducible_from_a_seed_or_generator():
    a = aprbs(300, low=0.0, high=1.0, min_hold=2, max_hold=9, rng=7, n_channels=3)
    b = aprbs(300, low=0.0, high=1.0, min_hold=2, max_hold=9, rng=np.random.default_rng(7), n_channels=3)
    c = aprbs(300, low=0.0, high=1.0, min_hold=2, max_hold=9, rng=8, n_channels=3)
    assert a.shape == (300, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    fixed = aprbs(10, low=0.0, high=1.0, min_hold=3, max_hold=3, rng=0)
    assert fixed.shape == (10, 1) and _segments(fixed[:, 0])[:3].tolist() == [3, 3, 3]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(rng=None), ParameterError, r"`rng` must be a numpy.random.Generator or an int seed, got None"),
        (dict(rng=True), ParameterError, r"`rng` must be a numpy.random.Generator"),
        (dict(low=1.0, high=1.0), ParameterError, r"`low` must be below `high` in every channel"),
        (dict(low=[0.0, 0.0], high=[1.0, 1.0, 1.0]), ShapeError, r"must agree on the channel count"),
        (dict(low=[0.0, 0.0], n_channels=3), ShapeError, r"n_channels=3"),
        (dict(min_hold=0), ParameterError, r"`min_hold` must be an integer >= 1, got 0\."),
        (dict(max_hold=2.5), ParameterError, r"`max_hold` must be an integer >= 1, got 2\.5\."),
        (dict(min_hold=5, max_hold=4), ParameterError, r"`max_hold` must be >= `min_hold` = 5"),
        (dict(n_steps=0), ParameterError, r"`n_steps` must be an integer >= 1, got 0\."),
        (dict(low=[[0.0]], high=1.0), ShapeError, r"`low` must be a scalar or have shape \(channels,\)"),
        (dict(n_channels=0), ParameterError, r"`n_channels` must be an integer >= 1, got 0\."),
    ],
)
def test_aprbs_errors(kwargs, error, match):
    args = dict(n_steps=10, low=0.0, high=1.0, min_hold=1, max_hold=3, rng=0) | kwargs
    with pytest.raises(error, match=match):
        aprbs(**args)


def test_multisine_peak_and_spectrum():
    dt, n = 0.01, 4000  # 40 s, frequency resolution 0.025 Hz
    u = multisine(n, dt=dt, amplitude=[0.5, 2.0], f_min=0.5, f_max=3.0, n_freqs=11, rng=4, offset=[1.0, 0.0])
    assert u.shape == (n, 2)
    np.testing.assert_allclose(np.max(np.abs(u - [1.0, 0.0]), axis=0), [0.5, 2.0], rtol=1e-12)
    np.testing.assert_allclose(u.mean(axis=0), [1.0, 0.0], atol=0.05)
    freqs = np.fft.rfftfreq(n, dt)
    power = np.abs(np.fft.rfft(u[:, 1])) ** 2
    in_band = (freqs >= 0.45) & (freqs <= 3.05)
    assert power[in_band].sum() > 0.99 * power[1:].sum()
    # the 11 chosen lines (0.5, 0.75, ..., 3.0 Hz) hold the power
    lines = np.round(np.linspace(0.5, 3.0, 11) / (1 / (n * dt))).astype(int)
    assert power[lines].sum() > 0.95 * power[1:].sum()
    # random phases are independent per channel
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.5


def test_multisine_schroeder_phases_give_a_low_crest_factor():
    kw = dict(dt=0.01, amplitude=1.0, f_min=0.1, f_max=5.0, n_freqs=50)
    s = multisine(1000, schroeder=True, **kw)[:, 0]
    crest = np.max(np.abs(s)) / np.sqrt(np.mean(s ** 2))
    # equal-amplitude sines with aligned (zero) phases have crest factor sqrt(2 n_freqs) = 10
    assert crest < 2.0
    np.testing.assert_array_equal(s, multisine(1000, schroeder=True, **kw)[:, 0])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(rng=None), ParameterError, r"`rng` is required for random phases"),
        (dict(f_max=50.0), ParameterError, r"Nyquist = 50 Hz for dt = 0.01 s"),
        (dict(f_min=0.0), ParameterError, r"`f_min` must be a finite number > 0 Hz, got 0\.0\."),
        (dict(f_min=3.0, f_max=2.0), ParameterError, r"f_min <= f_max"),
        (dict(amplitude=0.0), ParameterError, r"`amplitude` must be positive"),
        (dict(dt=-0.01), ParameterError, r"`dt` must be a finite number > 0 s, got -0\.01\."),
        (dict(n_freqs=0), ParameterError, r"`n_freqs` must be an integer >= 1, got 0\."),
    ],
)
def test_multisine_errors(kwargs, error, match):
    args = dict(n_steps=100, dt=0.01, amplitude=1.0, f_min=0.5, f_max=2.0, n_freqs=5, rng=0) | kwargs
    with pytest.raises(error, match=match):
        multisine(**args)


@pytest.mark.parametrize("logarithmic", [False, True])
def test_chirp_matches_scipy(logarithmic):
    n, dt = 2001, 0.005
    u = chirp(n, dt=dt, f0=0.2, f1=8.0, amplitude=[1.0, 0.3], offset=[0.0, 1.0], logarithmic=logarithmic)
    t = np.arange(n) * dt
    ref = scipy.signal.chirp(t, f0=0.2, t1=t[-1], f1=8.0, method="logarithmic" if logarithmic else "linear", phi=-90)
    np.testing.assert_allclose(u[:, 0], ref, atol=1e-9)
    np.testing.assert_allclose(u[:, 1], 1.0 + 0.3 * ref, atol=1e-9)


def test_chirp_errors():
    with pytest.raises(ParameterError, match=r"`f1` must satisfy 0 <= f1 < Nyquist = 50 Hz"):
        chirp(100, dt=0.01, f0=1.0, f1=60.0, amplitude=1.0)
    with pytest.raises(ParameterError, match=r"`f0` must satisfy 0 < f0"):
        chirp(100, dt=0.01, f0=0.0, f1=6.0, amplitude=1.0, logarithmic=True)
    with pytest.raises(ParameterError, match=r"`n_steps` must be >= 2 for a sweep"):
        chirp(1, dt=0.01, f0=1.0, f1=2.0, amplitude=1.0)


# ----------------------------------------------------------------------------- reference models


def test_second_order_discretisation_matches_cont2discrete():
    w, z, dt = np.array([0.7, 3.0, 12.0]), np.array([0.3, 1.0, 2.5]), 0.02
    model = SecondOrderReferenceModel(bandwidth_rad_s=w, damping=z, dt=dt)
    assert model.n_outputs == 3
    for i in range(3):
        a = np.array([[0.0, 1.0], [-w[i] ** 2, -2 * z[i] * w[i]]])
        b = np.array([[0.0], [w[i] ** 2]])
        ad, bd, *_ = scipy.signal.cont2discrete((a, b, np.eye(2), np.zeros((2, 1))), dt, method="zoh")
        np.testing.assert_allclose(model.transition_matrix[i], ad, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(model.input_matrix[i], bd[:, 0], rtol=1e-12, atol=1e-14)


def _analytic_step(w, z, t):
    """Unit step response (value, rate) of d'' = w^2 (1 - d) - 2 z w d' from rest."""
    if z < 1:
        wd = w * math.sqrt(1 - z * z)
        env = np.exp(-z * w * t)
        y = 1 - env * (np.cos(wd * t) + z / math.sqrt(1 - z * z) * np.sin(wd * t))
        dy = env * w / math.sqrt(1 - z * z) * np.sin(wd * t)
    elif z == 1:
        y = 1 - (1 + w * t) * np.exp(-w * t)
        dy = w * w * t * np.exp(-w * t)
    else:
        s1, s2 = -w * (z - math.sqrt(z * z - 1)), -w * (z + math.sqrt(z * z - 1))
        y = 1 + (s2 * np.exp(s1 * t) - s1 * np.exp(s2 * t)) / (s1 - s2)
        dy = s1 * s2 * (np.exp(s1 * t) - np.exp(s2 * t)) / (s1 - s2)
    return y, dy


def test_second_order_step_response_is_exact_at_the_samples():
    w, z, dt = np.array([2.0, 5.0, 1.5]), np.array([0.5, 1.0, 1.8]), 0.01
    model = SecondOrderReferenceModel(bandwidth_rad_s=w, damping=z, dt=dt)
    model.reset(np.zeros(3))
    n = 500
    values, rates = np.empty((n, 3)), np.empty((n, 3))
    for k in range(n):
        values[k], rates[k] = model.step(np.ones(3))
    t = dt * np.arange(1, n + 1)
    for i in range(3):
        y, dy = _analytic_step(w[i], z[i], t)
        np.testing.assert_allclose(values[:, i], y, atol=1e-11)
        np.testing.assert_allclose(rates[:, i], dy, atol=1e-10)
    # zeta = 0.5 overshoots by exp(-pi zeta / sqrt(1 - zeta^2)) = 16.3 %
    assert values[:, 0].max() - 1 == pytest.approx(math.exp(-math.pi * 0.5 / math.sqrt(0.75)), abs=1e-4)
    np.testing.assert_array_equal(model.value, values[-1])
    assert not model.value.flags.writeable


def test_second_order_scalar_parameters_broadcast_and_reset_from_a_state():
    model = SecondOrderReferenceModel(bandwidth_rad_s=[1.0, 2.0], damping=0.7, dt=0.05)
    np.testing.assert_array_equal(model.damping, [0.7, 0.7])
    model.reset([1.0, -1.0], rate0=[0.5, 0.0])
    np.testing.assert_array_equal(model.rate, [0.5, 0.0])
    value, rate = model.step([1.0, -1.0])  # at the set-point with a rate: moves on, then decays
    assert value[0] > 1.0
    assert value[1] == pytest.approx(-1.0, abs=1e-15) and rate[1] == pytest.approx(0.0, abs=1e-15)


def test_loose_limits_keep_the_exact_response():
    free = SecondOrderReferenceModel(bandwidth_rad_s=3.0, dt=0.01)
    loose = SecondOrderReferenceModel(bandwidth_rad_s=3.0, dt=0.01, rate_limit=100.0, acceleration_limit=1e4)
    free.reset([0.0])
    loose.reset([0.0])
    for _ in range(300):
        np.testing.assert_array_equal(free.step([1.0])[0], loose.step([1.0])[0])


@settings(max_examples=40, deadline=None)
@given(
    rate_limit=st.floats(0.05, 5.0),
    acc_limit=st.floats(0.1, 50.0),
    w=st.floats(0.5, 30.0),
    z=st.floats(0.4, 2.0),
    target=st.floats(-3.0, 3.0),
)
def test_second_order_limits_always_hold(rate_limit, acc_limit, w, z, target):
    dt = 0.01
    model = SecondOrderReferenceModel(bandwidth_rad_s=[w, w], damping=z, dt=dt,
                                      rate_limit=[rate_limit, np.inf], acceleration_limit=[acc_limit, acc_limit])
    model.reset([0.0, 0.0])
    prev = model.rate
    for _ in range(200):
        _, rate = model.step([target, target])
        assert abs(rate[0]) <= rate_limit * (1 + 1e-12)
        assert np.all(np.abs(rate - prev) <= acc_limit * dt * (1 + 1e-9))
        prev = rate


def test_limited_second_order_reaches_the_set_point():
    model = SecondOrderReferenceModel(bandwidth_rad_s=4.0, damping=1.0, dt=0.01, rate_limit=0.5, acceleration_limit=2.0)
    model.reset([0.0])
    values = np.array([model.step([1.0])[0][0] for _ in range(1000)])
    assert values[-1] == pytest.approx(1.0, abs=1e-3)
    # a rate limit of 0.5 /s needs at least 2 s for a unit step
    assert values[150] < 0.76 and values[199] < 1.0


def _naive_first_order(tau, rate_limit, y0, r, t_end):
    sol = scipy.integrate.solve_ivp(lambda t, y: np.clip((r - y) / tau, -rate_limit, rate_limit), (0, t_end), [y0],
                                    method="DOP853", rtol=1e-11, atol=1e-13, max_step=0.01)
    return sol.y[0, -1]


def test_first_order_matches_analytic_and_naive_integration():
    tau, dt = np.array([0.5, 0.2]), 0.05
    model = FirstOrderReferenceModel(time_constant=tau, dt=dt)
    model.reset([0.0, 1.0])
    values = np.array([model.step([2.0, -1.0])[0] for _ in range(40)])
    t = dt * np.arange(1, 41)
    np.testing.assert_allclose(values[:, 0], 2.0 * (1 - np.exp(-t / 0.5)), atol=1e-12)
    np.testing.assert_allclose(values[:, 1], -1.0 + 2.0 * np.exp(-t / 0.2), atol=1e-12)
    np.testing.assert_allclose(model.rate, ([2.0, -1.0] - values[-1]) / tau)
    # rate-limited: exact solution of d' = sat((r - d) / tau) against a tight ODE solve
    limited = FirstOrderReferenceModel(time_constant=0.5, dt=0.1, rate_limit=0.8)
    limited.reset([0.0])
    for k in range(1, 31):
        value, rate = limited.step([2.0])
        assert abs(rate[0]) <= 0.8
        assert value[0] == pytest.approx(_naive_first_order(0.5, 0.8, 0.0, 2.0, 0.1 * k), abs=1e-8)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SecondOrderReferenceModel(bandwidth_rad_s=0.0, dt=0.01), ParameterError,
         r"`bandwidth_rad_s` must be positive \(in rad/s\)"),
        (lambda: SecondOrderReferenceModel(bandwidth_rad_s=[1.0, 2.0], damping=[1.0, 1.0, 1.0], dt=0.01), ShapeError,
         r"one entry per output"),
        (lambda: SecondOrderReferenceModel(bandwidth_rad_s=[[1.0]], dt=0.01), ShapeError,
         r"`bandwidth_rad_s` must be a scalar or have shape \(p,\)"),
        (lambda: SecondOrderReferenceModel(bandwidth_rad_s=1.0, dt=0.0), ParameterError,
         r"`dt` must be a finite number > 0 s, got 0\.0\."),
        (lambda: SecondOrderReferenceModel(bandwidth_rad_s=1.0, dt=0.01, rate_limit=-1.0), ParameterError,
         r"`rate_limit` must be positive"),
        (lambda: SecondOrderReferenceModel(bandwidth_rad_s=[], dt=0.01), ShapeError, r"p >= 1"),
        (lambda: FirstOrderReferenceModel(time_constant=np.nan, dt=0.01), NonFiniteError, r"`time_constant` must be finite"),
    ],
)
def test_reference_model_parameter_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_reference_model_state_errors():
    model = SecondOrderReferenceModel(bandwidth_rad_s=[1.0, 2.0], dt=0.01, rate_limit=1.0)
    with pytest.raises(ShapeError, match=r"`y0` must have shape \(2,\), got \(3,\)"):
        model.reset([0.0, 0.0, 0.0])
    with pytest.raises(OutOfRangeError, match=r"`rate0` must lie within the rate limit"):
        model.reset([0.0, 0.0], rate0=[2.0, 0.0])
    with pytest.raises(NonFiniteError, match=r"`r` must be finite"):
        model.step([np.nan, 0.0])
    with pytest.raises(ShapeError, match=r"`r` must have shape \(2,\), got \(1,\)"):
        model.step([1.0])
    first = FirstOrderReferenceModel(time_constant=1.0, dt=0.01)
    with pytest.raises(ParameterError, match=r"has no rate state"):
        first.reset([0.0], rate0=[1.0])


def test_limits_reject_nan_but_accept_inf():
    with pytest.raises(ParameterError, match=r"`acceleration_limit` must not be NaN; use None or inf"):
        SecondOrderReferenceModel(bandwidth_rad_s=1.0, dt=0.01, acceleration_limit=np.nan)
    model = FirstOrderReferenceModel(time_constant=[1.0, 2.0], dt=0.01, rate_limit=[np.inf, 1.0])
    np.testing.assert_array_equal(model.rate_limit, [np.inf, 1.0])
