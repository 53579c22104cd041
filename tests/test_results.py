import doctest
import json
import math
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neurocontrol.results as results
from neurocontrol.exceptions import CheckpointError, NonFiniteError, ParameterError, ShapeError
from neurocontrol.reference import Staircase
from neurocontrol.results import RESULT_STATUSES, Result, compute_metrics, flatten_metrics


def test_docstring_examples_run():
    result = doctest.testmod(results, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


def make_result(T=50, p=2, m=2, n_obs=3, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    t = np.arange(T + 1) * 0.01
    kwargs = dict(
        time=t,
        observations=rng.normal(size=(T + 1, n_obs)),
        outputs=rng.normal(size=(T + 1, p)),
        references=np.ones((T + 1, p)),
        inputs=rng.uniform(-1, 1, size=(T, m)),
        saturated=rng.random((T, m)) < 0.2,
        prediction_error=np.where(rng.random(T) < 0.3, np.nan, rng.random(T)),
        inner_iterations=rng.integers(0, 5, T),
        output_names=[f"out{i}" for i in range(p)],
        input_names=[f"in{j}" for j in range(m)],
        input_limits=np.tile([-1.0, 1.0], (m, 1)),
        metrics={"success": np.bool_(True), "iae": np.float64(0.5), "nested": {"x": np.arange(3)}},
        meta={"scenario": "synthetic", "seed": np.int64(seed), "integrator": {"method": "rk4", "dt_s": 0.002},
              "versions": ("1.0", "2.0")},
        status="completed",
    )
    kwargs.update(overrides)
    return Result(**kwargs)


# ----------------------------------------------------------------------------- Result


def test_result_stores_read_only_typed_copies_and_plain_json_dicts():
    inputs = np.zeros((50, 2))
    res = make_result(inputs=inputs)
    inputs[0, 0] = 5.0
    assert res.inputs[0, 0] == 0.0
    for name in ("time", "observations", "outputs", "references", "inputs", "saturated", "prediction_error",
                 "inner_iterations", "input_limits"):
        assert not getattr(res, name).flags.writeable, name
    assert res.saturated.dtype == bool and res.inner_iterations.dtype == np.int64
    assert (res.n_steps, res.n_outputs, res.n_inputs) == (50, 2, 2)
    assert res.metrics == {"success": True, "iae": 0.5, "nested": {"x": [0, 1, 2]}}
    assert type(res.meta["seed"]) is int and res.meta["versions"] == ["1.0", "2.0"]
    json.dumps(res.metrics, allow_nan=False)
    with pytest.raises(AttributeError):
        res.status = "failed"


def test_result_defaults():
    t = np.linspace(0, 1, 4)
    res = Result(time=t, observations=np.zeros((4, 1)), outputs=np.zeros((4, 1)), references=np.zeros((4, 1)),
                 inputs=[[0.0], [2.0], [-3.0]], input_limits=[[-3.0, 2.0]])
    assert res.output_names == ("y0",) and res.input_names == ("u0",) and res.observation_names == ("obs0",)
    assert res.saturated[:, 0].tolist() == [False, True, True]
    assert np.all(np.isnan(res.prediction_error)) and res.inner_iterations.tolist() == [0, 0, 0]
    assert res.status == "completed" and res.metrics == {} and res.meta == {}
    unlimited = Result(time=[0.0], observations=[[0.0]], outputs=[[0.0]], references=[[0.0]], inputs=np.zeros((0, 2)))
    assert unlimited.n_steps == 0 and np.all(np.isinf(unlimited.input_limits))
    assert unlimited.saturated.shape == (0, 2)


def test_result_equality_treats_nan_as_equal_and_sees_differences():
    a, b = make_result(), make_result()
    assert a == b and np.isnan(a.prediction_error).any()
    assert a != make_result(status="failed")
    assert a != make_result(meta={"scenario": "other"})
    assert a != make_result(inner_iterations=np.zeros(50, int))
    assert a != "not a result"


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(time=np.zeros(51)), ParameterError, r"`time` must be strictly increasing"),
        (dict(time=[]), ShapeError, r"`time` must hold at least one time point"),
        (dict(outputs=np.zeros((50, 2))), ShapeError, r"`outputs` must have shape \(51, N\), got \(50, 2\)"),
        (dict(references=np.zeros((51, 3))), ShapeError, r"`references` must have shape \(51, 2\)"),
        (dict(references=np.full((51, 2), np.nan)), NonFiniteError, r"`references` must be finite"),
        (dict(inputs=np.zeros((51, 2))), ShapeError, r"`inputs` must have shape \(50, N\)"),
        (dict(saturated=np.zeros((50, 3), bool)), ShapeError, r"`saturated` must have shape \(50, 2\) like `inputs`"),
        (dict(saturated=np.full((50, 2), 0.5)), ParameterError, r"`saturated` must hold bool"),
        (dict(prediction_error=-np.ones(50)), ParameterError, r"`prediction_error` must be a finite norm >= 0"),
        (dict(inner_iterations=np.full(50, 1.5)), ParameterError, r"`inner_iterations` must hold int counts"),
        (dict(inner_iterations=np.zeros(49)), ShapeError, r"`inner_iterations` must have shape \(50,\)"),
        (dict(input_limits=[[1.0, -1.0], [0.0, 1.0]]), ParameterError, r"`input_limits` must have lower < upper"),
        (dict(output_names=["a"]), ShapeError, r"`output_names` must hold 2 names"),
        (dict(output_names=["a", "a"]), ParameterError, r"`output_names` must be unique"),
        (dict(input_names="ab"), ParameterError, r"`input_names` must be a sequence of 2 str"),
        (dict(input_names=["x", ""]), ParameterError, r"`input_names` must hold non-empty str"),
        (dict(output_names=["a", "b"], input_names=["a", "c"]), ParameterError, r"duplicates \['a'\]"),
        (dict(status="done"), ParameterError, r"`status` must be one of \('completed'"),
        (dict(metrics=[1, 2]), ParameterError, r"`metrics` must be a dict"),
        (dict(meta="x"), ParameterError, r"`meta` must be a dict"),
        (dict(meta={"obj": object()}), ParameterError, r"`meta\['obj'\]` must be JSON-serialisable"),
        (dict(meta={1: "a"}), ParameterError, r"`meta` keys must be str"),
    ],
)
def test_result_validation_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        make_result(**overrides)


def test_statuses_are_documented():
    assert set(RESULT_STATUSES) == {"completed", "converged", "failed", "running"}
    for status in RESULT_STATUSES:
        assert make_result(status=status).status == status


# ----------------------------------------------------------------------------- export


def test_to_dict_round_trips_and_copies():
    res = make_result()
    d = res.to_dict()
    assert Result(**d) == res
    d["inputs"][0, 0] = 99.0
    d["meta"]["scenario"] = "changed"
    assert res.inputs[0, 0] != 99.0 and res.meta["scenario"] == "synthetic"


def test_to_pandas_one_row_per_time_point_named_columns():
    pd = pytest.importorskip("pandas")
    res = make_result(T=5, p=2, m=1, n_obs=2, observation_names=["a", "b"])
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 6
    assert list(df.columns) == ["time", "out0", "out1", "out0_ref", "out1_ref", "in0", "in0_saturated",
                                "prediction_error", "inner_iterations", "obs_a", "obs_b"]
    np.testing.assert_array_equal(df["out1"], res.outputs[:, 1])
    np.testing.assert_array_equal(df["in0"].to_numpy()[:5], res.inputs[:, 0])
    assert np.isnan(df["in0"].iloc[-1])
    assert str(df["in0_saturated"].dtype) == "boolean" and df["in0_saturated"].isna().tolist() == [False] * 5 + [True]
    assert str(df["inner_iterations"].dtype) == "Int64"
    assert df["inner_iterations"].iloc[:5].tolist() == res.inner_iterations.tolist()


def test_to_pandas_without_pandas_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install pandas"):
        make_result().to_pandas()


# ----------------------------------------------------------------------------- storage


def test_save_load_round_trip(tmp_path):
    res = make_result()
    folder = res.save(tmp_path / "run")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "result.json"]  # no temp files left
    loaded = Result.load(folder)
    assert loaded == res
    assert loaded.inputs.dtype == np.float64 and loaded.saturated.dtype == bool
    assert json.loads((folder / "result.json").read_text())["meta"]["integrator"] == {"method": "rk4", "dt_s": 0.002}


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    make_result(seed=1).save(tmp_path)
    with pytest.raises(FileExistsError, match=r"already holds a saved Result; pass overwrite=True"):
        make_result(seed=2).save(tmp_path)
    make_result(seed=2).save(tmp_path, overwrite=True)
    assert Result.load(tmp_path) == make_result(seed=2)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved Result at .*does not exist"):
        Result.load(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=r"result.json is missing"):
        Result.load(tmp_path)
    folder = make_result().save(tmp_path / "a")
    (folder / "result.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"is corrupted \(not valid JSON"):
        Result.load(folder)
    (folder / "result.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match=r"no format tag 'neurocontrol.Result'"):
        Result.load(folder)

    folder = make_result().save(tmp_path / "b")
    header = json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps(header | {"format_version": 99}))
    with pytest.raises(CheckpointError, match=r"format version 99"):
        Result.load(folder)

    folder = make_result().save(tmp_path / "c")
    data = bytearray((folder / "arrays.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "arrays.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"checksum differs"):
        Result.load(folder)
    os.remove(folder / "arrays.npz")
    with pytest.raises(CheckpointError, match=r"arrays.npz is missing"):
        Result.load(folder)

    folder = make_result().save(tmp_path / "d")
    header = json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps(header | {"output_names": ["only_one"]}))
    with pytest.raises(CheckpointError, match=r"unreadable or inconsistent Result .*`output_names` must hold 2"):
        Result.load(folder)


def test_interrupted_overwrite_is_detected(tmp_path):
    """A crash between the two atomic writes leaves new arrays with the old header."""
    old = make_result(seed=1).save(tmp_path / "old")
    new = make_result(seed=2).save(tmp_path / "new")
    os.replace(new / "arrays.npz", old / "arrays.npz")
    with pytest.raises(CheckpointError, match=r"does not match result.json"):
        Result.load(old)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(T=st.integers(0, 6), p=st.integers(1, 3), m=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_save_load_round_trip_any_shape(tmp_path, T, p, m, seed):
    res = make_result(T=T, p=p, m=m, seed=seed)
    assert Result.load(res.save(tmp_path / f"{T}-{p}-{m}-{seed}", overwrite=True)) == res


def test_plot_delegates_to_plotting(tmp_path):
    import matplotlib.pyplot as plt

    fig = make_result().plot(path=tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert fig.number not in plt.get_fignums()


# ----------------------------------------------------------------------------- metrics


def metrics_for(t, y, r, u=None, sat=None, **kw):
    y, r = np.asarray(y, float).reshape(len(t), -1), np.asarray(r, float).reshape(len(t), -1)
    u = np.zeros((len(t) - 1, 1)) if u is None else u
    sat = np.zeros(u.shape, bool) if sat is None else sat
    kw.setdefault("tolerance", 0.01)
    return compute_metrics(time=t, outputs=y, references=r, inputs=u, saturated=sat, **kw)


def test_integral_metrics_of_a_first_order_approach_match_the_analytic_values():
    e0, tau, tf = 0.8, 0.5, 4.0
    t = np.linspace(0.0, tf, 40001)
    r = np.full_like(t, 2.0)
    y = r - e0 * np.exp(-t / tau)
    out = metrics_for(t, y, r, output_names=["height"])["outputs"]["height"]
    decay = math.exp(-tf / tau)
    assert out["iae"] == pytest.approx(e0 * tau * (1 - decay), rel=1e-7)
    assert out["ise"] == pytest.approx(e0 ** 2 * tau / 2 * (1 - decay ** 2), rel=1e-7)
    assert out["itae"] == pytest.approx(e0 * tau ** 2 * (1 - (1 + tf / tau) * decay), rel=1e-7)
    assert out["rmse"] == pytest.approx(np.sqrt(np.mean((e0 * np.exp(-t / tau)) ** 2)))
    assert out["max_abs_error"] == pytest.approx(e0)
    # constant set-point: the step is the initial offset, a monotone approach has no overshoot
    assert out["overshoot"] == 0.0
    # leaves the 0.01 band for good at tau ln(e0 / 0.01)
    assert out["settling_time"] == pytest.approx(tau * math.log(e0 / 0.01), abs=1e-4)


@pytest.mark.parametrize("zeta", [0.3, 0.5, 0.7])
def test_overshoot_of_a_second_order_step_response(zeta):
    w, t_step = 3.0, 1.0
    t = np.arange(0.0, 15.0, 0.0005)
    r = np.where(t >= t_step, 0.5, -0.5)  # a step of +1 from a previous set-point of -0.5
    s = np.clip(t - t_step, 0.0, None)
    wd = w * math.sqrt(1 - zeta ** 2)
    y = -0.5 + 1.0 * (1 - np.exp(-zeta * w * s) * (np.cos(wd * s) + zeta / math.sqrt(1 - zeta ** 2) * np.sin(wd * s)))
    out = metrics_for(t, y, r, tolerance=0.02)["outputs"]["y0"]
    expected = 100 * math.exp(-math.pi * zeta / math.sqrt(1 - zeta ** 2))
    assert out["overshoot"] == pytest.approx(expected, abs=0.01)
    if zeta == 0.5:
        assert round(out["overshoot"], 1) == 16.3
    # downward step: the same overshoot, measured below the set-point
    out = metrics_for(t, -y, -r, tolerance=0.02)["outputs"]["y0"]
    assert out["overshoot"] == pytest.approx(expected, abs=0.01)


def test_overshoot_of_a_smoothed_staircase_is_measured_level_to_level():
    t = np.arange(0.0, 10.0, 0.001)
    r = Staircase(times=[0.0, 2.0], levels=[1.0, 3.0], smoothing_time=0.5)(t)
    y = r + np.where(t > 2.6, 0.2 * np.exp(-((t - 3.0) ** 2)), 0.0)  # peaks 0.2 above the final level at 3 s
    out = metrics_for(t, y, r, tolerance=0.05)["outputs"]["y0"]
    assert out["overshoot"] == pytest.approx(100 * 0.2 / 2.0, rel=1e-6)


def test_settling_time_on_a_synthetic_signal():
    dt = 0.001
    t = np.arange(0.0, 10.0 + dt / 2, dt)
    r = np.where(t >= 2.0, 1.0, 0.0)
    # error 0.5 cos(2 pi t) exp(-(t-2)) after the step: it last leaves |e| <= 0.05 at a known peak
    s = np.clip(t - 2.0, 0.0, None)
    y = r - np.where(t >= 2.0, 0.5 * np.cos(2 * np.pi * s) * np.exp(-s), 0.0)
    out = metrics_for(t, y, r, tolerance=0.1, settle_band=0.05)["outputs"]["y0"]
    # the envelope 0.5 e^-s reaches 0.05 at s = ln 10 = 2.303; the last excursion beyond the band is
    # the half-period peak before that, at s = 2.0 (|cos| = 1, 0.5 e^-2 = 0.068)
    last_out = s[(np.abs(y - r) > 0.05) & (t >= 2.0)].max()
    assert 2.0 < last_out < math.log(10)
    assert out["settling_time"] == pytest.approx(last_out + dt, abs=1e-9)
    assert out["settle_band"] == 0.05 and out["tolerance"] == 0.1


def test_settling_time_edge_cases():
    t = np.linspace(0.0, 10.0, 101)
    assert metrics_for(t, np.ones(101), np.ones(101))["outputs"]["y0"]["settling_time"] == 0.0
    never = metrics_for(t, np.zeros(101), np.ones(101))
    assert never["outputs"]["y0"]["settling_time"] is None and never["success"] is False


def test_success_final_error_and_window():
    t = np.linspace(0.0, 20.0, 2001)
    r = np.ones_like(t)
    y = np.where(t < 14.0, 0.0, 1.005)
    m = metrics_for(t, y, r, tolerance=0.01, final_window_s=5.0)
    assert m["success"] is True and m["final_window_s"] == 5.0
    assert m["outputs"]["y0"]["final_error"] == pytest.approx(0.005)
    m = metrics_for(t, y, r, tolerance=0.01, final_window_s=8.0)
    assert m["success"] is False
    m = metrics_for(t, y, r, tolerance=0.01, final_window_s=100.0)  # longer than the run: the whole run
    assert m["final_window_s"] == 20.0 and m["success"] is False
    # per-output tolerances
    two = metrics_for(t, np.column_stack([y, y + 0.05]), np.column_stack([r, r]), tolerance=[0.01, 0.1],
                      output_names=["a", "b"])
    assert two["success"] is True and set(two["outputs"]) == {"a", "b"}
    assert metrics_for(t, np.column_stack([y, y + 0.05]), np.column_stack([r, r]), tolerance=0.01)["success"] is False


def test_actuation_metrics():
    t = np.arange(11) * 0.1
    u = np.array([[0.0, 1.0], [1.0, 1.0]] * 5)  # first input toggles 0/1, second constant
    sat = np.zeros((10, 2), bool)
    sat[[1, 3], 0] = True
    sat[3, 1] = True
    m = metrics_for(t, np.ones(11), np.ones(11), u=u, sat=sat, control_step_us=12.5)
    assert m["steps"] == 10
    assert m["saturation_fraction"] == pytest.approx(0.2)
    assert m["control_effort"] == pytest.approx(9.0)  # nine unit increments of the first input
    assert m["control_energy"] == pytest.approx(0.1 * (5 * 1.0 + 5 * 2.0))
    assert m["nonfinite_actions"] == 0 and m["control_step_us"] == 12.5
    assert metrics_for(t, np.ones(11), np.ones(11))["control_step_us"] is None


def test_non_finite_data_fail_the_run_and_give_none_not_nan():
    t = np.arange(11) * 0.1
    u = np.zeros((10, 1))
    u[4] = np.nan
    m = metrics_for(t, np.ones(11), np.ones(11), u=u)
    assert m["nonfinite_actions"] == 1 and m["success"] is False and m["control_effort"] is None
    y = np.ones(11)
    y[6:] = np.nan
    m = metrics_for(t, y, np.ones(11))
    out = m["outputs"]["y0"]
    assert m["success"] is False and out["iae"] is None and out["rmse"] is None and out["final_error"] is None
    assert out["settling_time"] is None
    json.dumps(m, allow_nan=False)  # strict JSON


def test_metrics_are_json_serialisable_plain_types():
    t = np.linspace(0, 3, 301)
    m = metrics_for(t, np.sin(t), np.ones(301), u=np.ones((300, 1)), sat=np.ones((300, 1), bool))
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text) == m
    assert set(m) >= {"success", "steps", "saturation_fraction", "nonfinite_actions", "control_effort",
                      "control_step_us", "outputs"}
    assert set(m["outputs"]["y0"]) >= {"iae", "ise", "itae", "rmse", "overshoot", "settling_time", "final_error"}


def test_single_sample_run():
    m = metrics_for(np.array([0.0]), [1.0], [1.0], u=np.zeros((0, 1)))
    assert m["steps"] == 0 and m["saturation_fraction"] == 0.0 and m["outputs"]["y0"]["iae"] == 0.0
    assert m["success"] is True


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(tolerance=0.0), ParameterError, r"`tolerance` must be positive for every output"),
        (dict(tolerance=[0.1, 0.1]), ShapeError, r"`tolerance` must be a scalar, shape \(1,\) or a dict by output name"),
        (dict(settle_band=-1.0), ParameterError, r"`settle_band` must be positive"),
        (dict(final_window_s=-1.0), ParameterError, r"`final_window_s` must be >= 0 s"),
        (dict(time=np.zeros(11)), ParameterError, r"`time` must be a non-empty, strictly increasing"),
        (dict(saturated=np.zeros((10, 2), bool)), ShapeError, r"`saturated` must have shape \(10, 1\)"),
        (dict(outputs=np.zeros((10, 1))), ShapeError, r"`outputs` must have shape \(11, N\)"),
        (dict(output_names=["a", "b"]), ShapeError, r"`output_names` must hold 1 names"),
        (dict(control_step_us=np.nan), NonFiniteError, r"`control_step_us` must be finite"),
    ],
)
def test_metric_errors(kw, error, match):
    args = dict(time=np.arange(11.0), outputs=np.zeros((11, 1)), references=np.zeros((11, 1)),
                inputs=np.zeros((10, 1)), saturated=np.zeros((10, 1), bool), tolerance=0.1) | kw
    with pytest.raises(error, match=match):
        compute_metrics(**args)


def test_with_metrics_and_flatten():
    res = make_result(metrics={"control_step_us": 7.0})
    updated = res.with_metrics(tolerance=0.5, final_window_s=0.1)
    assert updated.metrics["control_step_us"] == 7.0 and set(updated.metrics["outputs"]) == {"out0", "out1"}
    assert updated.inputs is not None and res.metrics == {"control_step_us": 7.0}
    flat = flatten_metrics(updated.metrics)
    assert flat["outputs.out1.iae"] == updated.metrics["outputs"]["out1"]["iae"]
    assert "success" in flat and not any(isinstance(v, dict) for v in flat.values())
    assert flatten_metrics({"a": {"b": 1}}, sep="/") == {"a/b": 1}


def test_load_rejects_arrays_that_are_not_an_npz_even_with_a_matching_checksum(tmp_path):
    import hashlib

    folder = make_result().save(tmp_path)
    junk = b"not a zip archive"
    (folder / "arrays.npz").write_bytes(junk)
    header = json.loads((folder / "result.json").read_text())
    header["arrays_sha256"] = hashlib.sha256(junk).hexdigest()
    (folder / "result.json").write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match=r"unreadable or inconsistent Result"):
        Result.load(folder)
