import doctest
import os
import subprocess
import sys

import numpy as np
import pytest

import neurocontrol.plotting as plotting
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.plotting import plot_result, plot_sweep, plot_trials
from neurocontrol.results import Result

plt = pytest.importorskip("matplotlib.pyplot")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_figures_left_open():
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


def synthetic_result(T=300, p=2, m=2, dt=0.01, seed=0, prediction=True, **overrides):
    rng = np.random.default_rng(seed)
    t = np.arange(T + 1) * dt
    r = np.where(t[:, None] >= 0.5, 1.0, 0.0) * np.arange(1, p + 1)
    y = r * (1 - np.exp(-np.clip(t[:, None] - 0.5, 0, None) / 0.3)) + rng.normal(0, 0.01, (T + 1, p))
    u = np.clip(rng.normal(0, 1.0, (T, m)), -1.5, 1.5)
    lim = np.tile([-1.5, 1.5], (m, 1))
    kwargs = dict(
        time=t, observations=y, outputs=y, references=r, inputs=u, saturated=np.abs(u) >= 1.5,
        prediction_error=np.exp(-t[1:]) * 0.1 if prediction else None, inner_iterations=rng.integers(0, 3, T),
        output_names=[f"angle{i}" for i in range(p)], input_names=[f"voltage{j}" for j in range(m)],
        input_limits=lim, meta={"scenario": "synthetic", "units": {"angle0": "rad", "voltage0": "V"}},
    )
    kwargs.update(overrides)
    res = Result(**kwargs)
    return res.with_metrics(tolerance=0.05)


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_docstring_examples_run():
    result = doctest.testmod(plotting, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0


def test_plot_result_writes_a_png_and_closes_the_figure(tmp_path):
    res = synthetic_result()
    fig = plot_result(res, tmp_path / "run.png")
    assert_png(tmp_path / "run.png")
    assert fig.number not in plt.get_fignums()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6  # 2 outputs, 2 inputs, identification error, inner iterations
    labels = {ax.get_ylabel() for ax in visible}
    assert {"angle0 [rad]", "angle1", "voltage0 [V]", "one-step error norm", "iterations / step"} <= labels
    assert fig.axes[4].get_yscale() == "log" and fig.axes[4].get_xlabel() == "time [s]"
    # the tolerance band comes from the metrics; saturation is shaded and labelled
    assert any("tolerance ±0.05" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    legend_texts = [t.get_text() for ax in (fig.axes[1], fig.axes[3]) for t in ax.get_legend().get_texts()]
    assert any(text.startswith("saturated (") for text in legend_texts)
    assert "synthetic" in fig._suptitle.get_text()


def test_plot_result_without_path_returns_an_open_figure():
    fig = plot_result(synthetic_result(), tolerance=[0.1, 0.2], units={"angle1": "deg"}, title="my run")
    assert fig.number in plt.get_fignums()
    assert fig._suptitle.get_text() == "my run"
    assert fig.axes[2].get_ylabel() == "angle1 [deg]"
    plt.close(fig)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(p=1, m=2),  # more inputs than outputs: an empty slot is hidden
        dict(p=3, m=1),
        dict(T=0),  # a run that stopped before the first step
        dict(T=1000, prediction=False),  # long baseline run: iterations binned, error "not applicable"
    ],
)
def test_plot_result_shapes_and_edge_cases(tmp_path, kwargs):
    res = synthetic_result(**kwargs)
    plot_result(res, tmp_path / "run.png")
    assert_png(tmp_path / "run.png")


def test_plot_result_shades_the_spans_a_guards_fallback_flew_and_the_warm_up():
    modes = [{"mode": "warmup", "start_step": 0, "end_step": 50}, {"mode": "adaptive", "start_step": 50,
             "end_step": 120}, {"mode": "fallback", "start_step": 120, "end_step": 200},
             {"mode": "adaptive", "start_step": 200, "end_step": 250}, {"mode": "fallback", "start_step": 250,
                                                                       "end_step": 300}]
    res = synthetic_result(meta={"scenario": "guarded", "modes": modes})
    def left(patch):          # a Rectangle (newer matplotlib) or a Polygon
        return patch.get_x() if hasattr(patch, "get_x") else float(np.min(np.asarray(patch.get_xy())[:, 0]))

    fig = plot_result(res)
    try:
        for ax in (fig.axes[0], fig.axes[1]):          # an output and an input
            spans = [p for p in ax.patches if p.get_alpha() == 0.12]
            assert sorted(round(left(p), 6) for p in spans) == [1.2, 2.5]
            assert "fallback flew" in [t.get_text() for t in ax.get_legend().get_texts()]
            warm = [p for p in ax.patches if p.get_alpha() == 0.1]          # the warm-up, grey
            assert [round(left(p), 6) for p in warm] == [0.0] and "warm-up" in \
                [t.get_text() for t in ax.get_legend().get_texts()]
    finally:
        plt.close(fig)
    fig = plot_result(synthetic_result())                # no modes: nothing shaded
    try:
        assert not [p for p in fig.axes[0].patches if p.get_alpha() in (0.1, 0.12)]
    finally:
        plt.close(fig)


def test_plot_result_of_a_diverged_run(tmp_path):
    res = synthetic_result()
    y = res.outputs.copy()
    y[200:] = np.nan
    u = res.inputs.copy()
    u[199:] = np.nan
    failed = Result(**(res.to_dict() | dict(outputs=y, inputs=u, status="failed")))
    fig = plot_result(failed, tmp_path / "failed.png")
    assert_png(tmp_path / "failed.png")
    assert "failed" in fig._suptitle.get_text() and "non-finite from t = 1.99 s" in fig._suptitle.get_text()


def test_saved_plots_do_not_accumulate_figures(tmp_path):
    res = synthetic_result(T=50)
    # pyplot warns when more than figure.max_open_warning figures are open; filterwarnings=error turns a
    # leak into a failure here
    with plt.rc_context({"figure.max_open_warning": 1}):
        for k in range(2):
            plot_result(res, tmp_path / f"r{k}.png", dpi=40)
            plot_trials(np.ones(3), tmp_path / f"t{k}.png", dpi=40)
            plot_sweep({"a": np.arange(5.0)}, tmp_path / f"s{k}.png", dpi=40)
    assert plt.get_fignums() == []


def test_plot_trials(tmp_path):
    fig = plot_trials(np.column_stack([0.7 ** np.arange(12), 0.5 ** np.arange(12)]), tmp_path / "ilc.png",
                      names=["elevation", "pitch"], unit="rad")
    assert_png(tmp_path / "ilc.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "trial" and ax.get_ylabel() == "error norm [rad]"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["elevation", "pitch"]
    # a failed trial (NaN) and a zero error are left out, not plotted on the log axis
    plot_trials([1.0, np.nan, 0.1, 0.0], tmp_path / "gaps.png")
    assert_png(tmp_path / "gaps.png")


def test_plot_trials_tells_eleven_lines_apart_and_keeps_the_legend_off_them(tmp_path):
    """Beyond the colour cycle's ten colours the lines differ in style (the ILC ablation has eleven variants), and
    with more than six lines the legend sits beside the axes, not over the lines."""
    e = np.outer(0.8 ** np.arange(10), np.arange(1.0, 12.0))
    fig = plot_trials(e, tmp_path / "many.png", names=[f"v{i}" for i in range(11)])
    assert_png(tmp_path / "many.png")
    lines = fig.axes[0].get_lines()
    pairs = {(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(pairs) == 11
    legend = fig.axes[0].get_legend()
    assert legend.get_bbox_to_anchor().x0 > fig.axes[0].get_window_extent().x1      # right of the axes
    few = plot_trials(e[:, :3], names=["a", "b", "c"])
    ax = few.axes[0]
    assert ax.get_legend().get_bbox_to_anchor().x0 < ax.get_window_extent().x1      # placed within the axes
    plt.close(few)


def test_plot_sweep(tmp_path):
    rng = np.random.default_rng(0)
    values = {
        "success": rng.random(40) > 0.25,
        "outputs.angle0.iae": rng.gamma(2.0, 0.1, 40),
        "outputs.angle0.settling_time": [None if x > 2.0 else float(x) for x in rng.gamma(3.0, 0.5, 40)],
        "constant": np.ones(40),
        "all_undefined": [None] * 40,
    }
    fig = plot_sweep(values, tmp_path / "sweep.png", units={"outputs.angle0.iae": "rad s"})
    assert_png(tmp_path / "sweep.png")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5
    assert visible[0].get_title().startswith("success: ")
    assert visible[1].get_xlabel() == "outputs.angle0.iae [rad s]"
    assert any("undefined" in t.get_text() for t in visible[2].get_legend().get_texts())


def test_sweep_from_saved_metrics(tmp_path):
    from neurocontrol.results import flatten_metrics

    runs = [flatten_metrics(synthetic_result(T=100, seed=s).metrics) for s in range(5)]
    values = {k: [run[k] for run in runs] for k in ("success", "outputs.angle0.rmse", "saturation_fraction")}
    plot_sweep(values, tmp_path / "s.png")
    assert_png(tmp_path / "s.png")


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: plot_result("not a result"), ParameterError, r"`result` must be a neurocontrol Result \(from simulate or Result.load\), got str without time, outputs"),
        (lambda: plot_result(synthetic_result(), tolerance=[0.1]), ParameterError,
         r"`tolerance` must be a positive scalar or have shape \(2,\)"),
        (lambda: plot_trials([]), ShapeError, r"K >= 1 trials"),
        (lambda: plot_trials(np.ones((2, 2, 2))), ShapeError, r"`errors_per_trial` must have shape \(K,\) or \(K, p\)"),
        (lambda: plot_trials([1.0, -1.0]), ParameterError, r"error norms >= 0"),
        (lambda: plot_trials(np.ones((3, 2)), names=["a"]), ShapeError, r"`names` must hold 2 labels"),
        (lambda: plot_sweep({}), ParameterError, r"non-empty dict \{metric name: values per run\}"),
        (lambda: plot_sweep({"x": ["a", "b"]}), ParameterError, r"metric 'x' must hold numbers, bools or None"),
    ],
)
def test_plot_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_importing_the_toolkit_does_not_import_matplotlib():
    code = ("import sys, neurocontrol, neurocontrol.reference, neurocontrol.results; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_agg_backend_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    code = ("import matplotlib, numpy as np; from neurocontrol.plotting import plot_trials; "
            f"plot_trials(np.ones(3), {str(tmp_path / 'x.png')!r}); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip().lower() == "agg"
    assert_png(tmp_path / "x.png")


def test_saving_lays_out_once_with_the_pixels_of_a_plain_savefig(tmp_path):
    # plot_result runs the layout engine itself and saves with one draw; savefig of the same figure with its
    # engine (a draw to lay out, then a draw to render) must give the same image
    import matplotlib.image as mpimg

    res = synthetic_result()
    fig = plot_result(res, tmp_path / "once.png", dpi=80)
    assert fig.get_layout_engine() is not None and fig.dpi == plt.rcParams["figure.dpi"]  # both restored
    shown = plot_result(res)
    shown.savefig(tmp_path / "plain.png", dpi=80)
    plt.close(shown)
    np.testing.assert_array_equal(mpimg.imread(tmp_path / "once.png"), mpimg.imread(tmp_path / "plain.png"))
    fig.savefig(tmp_path / "again.png", dpi=80)  # the returned figure can be saved again, laid out anew
    np.testing.assert_array_equal(mpimg.imread(tmp_path / "again.png"), mpimg.imread(tmp_path / "plain.png"))


def test_plot_step_responses_panels_lines_and_errors(tmp_path):
    from neurocontrol.plotting import plot_step_responses

    r = np.cumsum(np.ones((40, 2, 3)), axis=0)
    fig = plot_step_responses(r, 0.5, tmp_path / "s.png", output_names=["a", "b"], input_names=["x", "y", "z"],
                              compare=0.9 * r, horizon=10)
    assert len(fig.axes) == 6 and (tmp_path / "s.png").is_file()
    ax = fig.axes[0]
    assert len(ax.lines) == 4                                     # learned, compare, horizon, zero line
    np.testing.assert_allclose(ax.lines[0].get_xdata(), 0.5 * np.arange(1, 41))
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 0.9 * r[:, 0, 0])
    assert ax.get_title() == "a per unit x"
    with pytest.raises(ShapeError, match="input_names"):
        plot_step_responses(r, 0.5, input_names=["x"])
    with pytest.raises(ShapeError, match="compare"):
        plot_step_responses(r, 0.5, compare=r[:, :1])
    with pytest.raises(ParameterError, match="dt"):
        plot_step_responses(r, 0.0)
    with pytest.raises(ShapeError, match="responses"):
        plot_step_responses(r[:, 0], 0.5)


def test_plot_compare_panels_runs_and_marks(tmp_path):
    full = synthetic_result(seed=0)
    short = synthetic_result(T=120, seed=1)                 # a run the env stopped early
    three = synthetic_result(p=1, m=3, seed=2)
    fig = plotting.plot_compare({"a": full, "b": short}, marks=[0.5, 2.0])
    try:
        axes = fig.axes
        assert len(axes) == 4
        top, bottom = axes[0], axes[2]
        labels = [ln.get_label() for ln in top.get_lines()]
        assert labels[:1] == ["set-point"] and labels[1:3] == ["a", "b"]
        np.testing.assert_array_equal(top.get_lines()[2].get_xdata(), short.time)     # drawn as far as it went
        np.testing.assert_array_equal(top.get_lines()[1].get_ydata(), full.outputs[:, 0])
        held = bottom.get_lines()[1]
        np.testing.assert_array_equal(held.get_xdata(), short.time)
        np.testing.assert_array_equal(held.get_ydata()[:-1], short.inputs[:, 0])
        for a in axes:                                       # the marks, dotted, in every panel
            xs = [ln.get_xdata()[0] for ln in a.get_lines() if ln.get_linestyle() == ":"]
            assert xs == [0.5, 2.0]
        assert len(top.collections) == 1                     # the first run's band (its metrics' tolerance)
    finally:
        plt.close(fig)
    fig = plotting.plot_compare({"one": three}, tmp_path / "c.png", title="x")
    assert_png(tmp_path / "c.png")
    assert [a.get_visible() for a in fig.axes] == [True, False, False, True, True, True]


@pytest.mark.parametrize("results, match", [
    ({}, r"`results` must map labels to neurocontrol Results"),
    ({"a": "not a result"}, r"`results` must map labels to neurocontrol Results .* got \['str'\]"),
    ({"a": synthetic_result(), "b": synthetic_result(p=1)}, r"`results` must all have the same outputs and inputs"),
])
def test_plot_compare_errors(results, match):
    with pytest.raises(ParameterError, match=match):
        plotting.plot_compare(results)
