"""Figures of runs, trial-to-trial learning and sweeps (the only module that imports matplotlib).

pyplot is imported inside the functions, so importing neurocontrol stays fast
and never touches a display. Without a display (no ``DISPLAY`` /
``WAYLAND_DISPLAY`` on Linux, no ``MPLBACKEND`` set, pyplot not yet imported)
the non-interactive Agg backend is selected.

Every function returns the :class:`matplotlib.figure.Figure`. When ``path`` is
given the figure is saved there and closed in pyplot (the returned object can
still be saved again); otherwise it stays open for ``plt.show()`` and the
caller closes it with ``plt.close(fig)``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError, ShapeError

__all__ = ["plot_result", "plot_compare", "plot_trials", "plot_sweep", "plot_step_responses", "plot_identification",
           "plot_loop_shapes"]

# What plot_result reads of a run. Checked by attribute, not by class, because results imports
# this module (lazily, in Result.plot) and this module must not import results back (no cycle).
_RESULT_ATTRS = ("time", "outputs", "references", "inputs", "saturated", "prediction_error", "inner_iterations",
                 "input_limits", "output_names", "input_names", "metrics", "meta", "n_outputs", "n_inputs",
                 "n_steps")

_REF_COLOR = "0.25"
_SAT_COLOR = "tab:red"
_MAX_STAIRS = 400  # steps drawn one by one; longer runs are binned
_N_BINS = 200


def _pyplot():
    """Import pyplot, selecting Agg when there is no display."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        raise ModuleNotFoundError("plotting needs matplotlib: install it with `pip install matplotlib`.") from None
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(figsize, **subplots):
    """Make a pyplot figure with constrained layout and its axes (``Figure.subplots`` keywords)."""
    fig = _pyplot().figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(**subplots)


def _finish(fig, path, dpi):
    """Save the figure when ``path`` is given, laying it out once, and close it in pyplot; return it.

    ``savefig`` of a figure with a layout engine draws it twice: once without
    rendering, to run the engine, then for the pixels. Running the engine at
    the saving resolution and saving without it gives the same pixels from one
    draw. The figure is closed in pyplot first and saved on its own Agg canvas
    (no window to resize); its engine and resolution are restored afterwards.
    """
    if path is None:
        return fig
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _pyplot().close(fig)
    FigureCanvasAgg(fig)
    engine, figure_dpi = fig.get_layout_engine(), fig.dpi
    try:
        fig.dpi = dpi
        if engine is not None:
            engine.execute(fig)
            fig.set_layout_engine(None)
        fig.savefig(os.fspath(path), dpi=dpi)
    finally:
        fig.dpi = figure_dpi
        if engine is not None:
            fig.set_layout_engine(engine)
    return fig


def _label(name: str, unit: str | None) -> str:
    return f"{name} [{unit}]" if unit else name


def _held(ax, t, u, **kwargs):
    """Draw ``u[k]`` held over ``[t[k], t[k+1])``: the outline ``ax.stairs(u, t, baseline=None)`` draws.

    A stepped line instead of a step patch: adding a patch walks its path in Python to update the data
    limits (about 0.1 s for a 3000-step run), a line takes them from its array. Butt caps and mitred
    joins, as a patch's edge has.
    """
    return ax.plot(t, np.append(u, u[-1]), drawstyle="steps-post", solid_capstyle="butt", solid_joinstyle="miter",
                   **kwargs)


def _integer_ticks(axis):
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _tolerances(result, tolerance) -> np.ndarray:
    """Return the band half-width per output: ``tolerance`` checked, or the metrics' tolerances (NaN: none)."""
    p = result.n_outputs
    if tolerance is None:
        metrics_out = result.metrics.get("outputs", {}) if isinstance(result.metrics.get("outputs"), dict) else {}
        return np.array([metrics_out.get(n, {}).get("tolerance") or np.nan for n in result.output_names], float)
    tol = as_float_array(tolerance, "tolerance")
    tol = np.full(p, float(tol)) if tol.ndim == 0 else tol
    if tol.shape != (p,) or np.any(tol <= 0):
        raise ParameterError(f"`tolerance` must be a positive scalar or have shape ({p},), got {tol.tolist()}.")
    return tol


def _mode_spans(result, mode: str) -> list[tuple[float, float]]:
    """Return the (start, end) times of the steps flown in ``mode`` (:meth:`Result.mode_spans`)."""
    t = result.time
    return [(float(t[a]), float(t[min(b, t.size - 1)])) for a, b in result.mode_spans(mode) if a < t.size]


#: How the spans of a mode are shaded: colour, opacity, legend label.
_MODE_SHADES = {"warmup": ("0.5", 0.1, "warm-up"), "fallback": ("tab:purple", 0.12, "fallback flew"),
                "reidentify": ("tab:orange", 0.1, "re-identification"),
                "gains": ("tab:green", 0.08, "input gains re-learned")}


def _shade(ax, spans: dict) -> None:
    for mode, found in spans.items():
        color, alpha, label = _MODE_SHADES[mode]
        for k, (a, b) in enumerate(found):
            ax.axvspan(a, b, color=color, alpha=alpha, lw=0, label=label if k == 0 else None)


def plot_result(result, path=None, *, tolerance=None, units: Mapping[str, str] | None = None,
                title: str | None = None, dpi: int = 120):
    """Plot one closed-loop run.

    Left column: each controlled output with its reference and tolerance band,
    then the identifier's one-step prediction error (log scale). Right column:
    each input as applied (held over the step) with its limits and the steps
    where it saturated shaded, then the inner iterations per step. In a guarded
    run the spans the fallback controller flew (``result.meta["modes"]``) are
    shaded on every output and input, and in every run the warm-up's (grey) and the neural controller's
    re-identifications after a change (``change_reidentify``: orange in open loop, green while the input gains are
    re-learned).

    Parameters
    ----------
    result : neurocontrol.results.Result
        The run.
    path : str or os.PathLike, optional
        Save the figure there (format from the suffix, e.g. ``.png``) and close it.
    tolerance : float or array_like, shape (p,), optional
        Half-width of the band drawn around each reference, in output units.
        Default: ``result.metrics["outputs"][name]["tolerance"]`` when present.
    units : mapping of str to str, optional
        Unit of each output/input by name, for axis labels. Default:
        ``result.meta.get("units", {})``.
    title : str, optional
        Figure title. Default: scenario, status and success from the result.
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from neurocontrol.results import Result
    >>> t = np.linspace(0, 5, 501)
    >>> y = (1 - np.exp(-t))[:, None]
    >>> res = Result(time=t, observations=y, outputs=y, references=np.ones((501, 1)), inputs=np.ones((500, 1)))
    >>> fig = plot_result(res, tolerance=0.05)
    >>> len(fig.axes)
    4
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    missing = [a for a in _RESULT_ATTRS if not hasattr(result, a)]
    if missing:
        raise ParameterError(f"`result` must be a neurocontrol Result (from simulate or Result.load), got "
                             f"{type(result).__name__} without {', '.join(missing)}.")
    p, m = result.n_outputs, result.n_inputs
    tol = _tolerances(result, tolerance)
    units = dict(result.meta.get("units") or {}) if units is None else dict(units)
    rows = max(p, m) + 1
    fig, axes = _figure((11.0, 1.9 * rows + 1.0), nrows=rows, ncols=2, sharex=True, squeeze=False)
    t = result.time
    shaded = {mode: _mode_spans(result, mode) for mode in _MODE_SHADES}
    for i, name in enumerate(result.output_names):
        ax = axes[i, 0]
        _shade(ax, shaded)
        r = result.references[:, i]
        if np.isfinite(tol[i]):
            # a band far wider than the signals covers the axes anyway: drawing it clipped keeps the limits finite
            y = result.outputs[:, i]
            seen = np.concatenate([r, y[np.isfinite(y)]])
            half = min(float(tol[i]), 10.0 * (float(np.ptp(seen)) + float(np.max(np.abs(seen))) + 1.0))
            ax.fill_between(t, r - half, r + half, color="tab:green", alpha=0.15, lw=0,
                            label=f"tolerance ±{tol[i]:.3g}")
        marker = "o" if t.size == 1 else None  # a run with one sample has no line to draw
        ax.plot(t, r, color=_REF_COLOR, ls="--", lw=1.2, marker=marker, label="reference")
        ax.plot(t, result.outputs[:, i], color="tab:blue", lw=1.4, marker=marker, label="output")
        ax.set_ylabel(_label(name, units.get(name)))
        ax.set_title(f"output {name}", fontsize="medium", loc="left")
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    for j, name in enumerate(result.input_names):
        ax = axes[j, 1]
        _shade(ax, shaded)
        u = result.inputs[:, j]
        if result.n_steps:
            _held(ax, t, u, color="tab:orange", lw=1.4, label="input")
        lo, hi = result.input_limits[j]
        for k, lim in enumerate(v for v in (lo, hi) if np.isfinite(v)):
            ax.axhline(lim, color="k", ls=":", lw=1.0, label="limits" if k == 0 else None)
        sat = result.saturated[:, j]
        if sat.any():
            ax.fill_between(t, 0, 1, where=np.append(sat, sat[-1]), step="post", color=_SAT_COLOR, alpha=0.15,
                            lw=0, transform=ax.get_xaxis_transform(), label=f"saturated ({100 * sat.mean():.0f} %)")
        ax.set_ylabel(_label(name, units.get(name)))
        ax.set_title(f"input {name}", fontsize="medium", loc="left")
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    for i in range(p, rows - 1):
        axes[i, 0].set_visible(False)
    for j in range(m, rows - 1):
        axes[j, 1].set_visible(False)

    ax = axes[-1, 0]
    err = np.where(result.prediction_error > 0, result.prediction_error, np.nan)
    if np.any(np.isfinite(err)):
        ax.semilogy(t[1:], err, color="tab:purple", lw=1.0)
    else:
        ax.text(0.5, 0.5, "not applicable (no identifier)", transform=ax.transAxes, ha="center", va="center",
                color="0.4")
        ax.set_yticks([])
    ax.set_ylabel("one-step error norm")
    ax.set_title("identification error", fontsize="medium", loc="left")
    ax.set_xlabel("time [s]")

    ax = axes[-1, 1]
    iters = result.inner_iterations
    if 0 < result.n_steps <= _MAX_STAIRS:
        ax.stairs(iters, t, baseline=None, color="tab:gray", lw=1.2)
    elif result.n_steps:  # per-step counts would be a solid block: show their mean and range per bin
        edges = np.linspace(0, result.n_steps, _N_BINS + 1).astype(int)
        lo = np.minimum.reduceat(iters, edges[:-1])
        hi = np.maximum.reduceat(iters, edges[:-1])
        mean = np.add.reduceat(iters, edges[:-1]) / np.diff(edges)
        bin_t = t[edges]
        ax.stairs(hi, bin_t, baseline=lo, fill=True, color="tab:gray", alpha=0.25, label="min–max")
        ax.stairs(mean, bin_t, baseline=None, color="k", lw=1.2,
                  label=f"mean per {(bin_t[-1] - bin_t[0]) / _N_BINS:.2g} s")
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    ax.set_ylim(bottom=0, top=max(1, int(iters.max(initial=0))) * 1.15)
    _integer_ticks(ax.yaxis)
    ax.set_ylabel("iterations / step")
    ax.set_title("inner iterations", fontsize="medium", loc="left")
    ax.set_xlabel("time [s]")
    ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1.0)

    for row in axes:
        for a in row:
            a.grid(True, alpha=0.3)
    if title is None:
        parts = [str(result.meta.get("scenario", "closed-loop run")), f"status: {result.status}"]
        if "success" in result.metrics:
            parts.append(f"success: {'yes' if result.metrics['success'] else 'no'}")
        bad = ~np.all(np.isfinite(result.outputs), axis=1)
        bad[:-1] |= ~np.all(np.isfinite(result.inputs), axis=1)
        if bad.any():
            t_bad = t[np.flatnonzero(bad)[0]]
            parts.append(f"non-finite from t = {t_bad:.3g} s")
            for a in axes.flat:
                if a.get_visible():
                    a.axvline(t_bad, color=_SAT_COLOR, ls="--", lw=1.0)
        title = " — ".join(parts)
    fig.suptitle(title)
    return _finish(fig, path, dpi)


def plot_compare(results: Mapping, path=None, *, tolerance=None, units: Mapping[str, str] | None = None,
                 marks=(), title: str | None = None, dpi: int = 120):
    """Plot runs of one task side by side: each output with the first run's reference and band, each input.

    Top row: one panel per controlled output, the first run's reference
    (dashed) and tolerance band, every run's output; bottom row: one panel per
    input, every run's input held over its step. A run that ended early (the
    env stopped it) is drawn as far as it went.

    Parameters
    ----------
    results : mapping of str to neurocontrol.results.Result
        The runs by label (the legend), all with the same outputs and inputs.
    path : str or os.PathLike, optional
        Save the figure there and close it.
    tolerance : float or array_like, shape (p,), optional
        Half-width of the band; default the first run's metrics' tolerances (no band where there are none).
    units : mapping of str to str, optional
        Unit of each output/input by name, for axis labels; default the first run's ``meta["units"]``.
    marks : sequence of float, default ()
        Times to mark with a dotted vertical line in every panel (e.g. a plant change).
    title : str, optional
        Figure title.
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from neurocontrol.results import Result
    >>> t = np.linspace(0, 5, 501)
    >>> runs = {f"k = {k}": Result(time=t, observations=(1 - np.exp(-k * t))[:, None],
    ...                            outputs=(1 - np.exp(-k * t))[:, None], references=np.ones((501, 1)),
    ...                            inputs=np.ones((500, 1))) for k in (1, 3)}
    >>> fig = plot_compare(runs, tolerance=0.05, marks=[2.0])
    >>> len(fig.axes)
    2
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    runs = dict(results)
    if not runs or any(not all(hasattr(r, a) for a in _RESULT_ATTRS) for r in runs.values()):
        raise ParameterError("`results` must map labels to neurocontrol Results (from simulate or Result.load), "
                             f"got {[type(r).__name__ for r in runs.values()] or 'none'}.")
    first = next(iter(runs.values()))
    names = (first.output_names, first.input_names)
    if any((r.output_names, r.input_names) != names for r in runs.values()):
        raise ParameterError("`results` must all have the same outputs and inputs, got "
                             f"{[(list(r.output_names), list(r.input_names)) for r in runs.values()]}.")
    p, m = first.n_outputs, first.n_inputs
    tol = _tolerances(first, tolerance)
    marks = [float(v) for v in as_float_array(marks, "marks").reshape(-1)]
    units = dict(first.meta.get("units") or {}) if units is None else dict(units)
    cols = max(p, m)
    fig, axes = _figure((5.5 * cols, 6.5), nrows=2, ncols=cols, sharex=True, squeeze=False)
    t = first.time
    for i, name in enumerate(first.output_names):
        ax = axes[0, i]
        r = first.references[:, i]
        ax.plot(t, r, color=_REF_COLOR, ls="--", lw=1.0, label="set-point")
        if np.isfinite(tol[i]):
            ax.fill_between(t, r - tol[i], r + tol[i], color="0.85", lw=0, label="success band")
        for label, res in runs.items():
            ax.plot(res.time, res.outputs[:, i], lw=1.2, label=label)
        ax.set_ylabel(_label(name, units.get(name)))
    for j, name in enumerate(first.input_names):
        ax = axes[1, j]
        for label, res in runs.items():
            if res.n_steps:
                _held(ax, res.time[:res.n_steps + 1], res.inputs[:, j], lw=1.0, label=label)
        ax.set_ylabel(_label(name, units.get(name)))
        ax.set_xlabel("time [s]")
    for k in range(p, cols):
        axes[0, k].set_visible(False)
    for k in range(m, cols):
        axes[1, k].set_visible(False)
    for a in axes.flat:
        for v in marks:
            a.axvline(v, color="tab:red", lw=0.8, ls=":")
        a.grid(True, alpha=0.3)
    axes[0, 0].legend(loc="best", fontsize="small", framealpha=0.8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path, dpi)


#: Most lines of :func:`plot_trials` whose legend goes inside the axes; more get it beside them.
_LEGEND_INSIDE = 6
#: Line style and marker of each group of ten lines in :func:`plot_trials` (the colour cycle's length).
_GROUP_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))


def plot_trials(errors_per_trial, path=None, *, names=None, unit: str | None = None,
                title: str = "iterative learning: tracking error per trial", dpi: int = 120):
    """Plot an error norm per ILC trial on a log scale.

    Each column is a line; beyond the colour cycle's ten colours each group of
    ten gets its own line style and marker, and with more than six lines the
    legend sits beside the axes.

    Parameters
    ----------
    errors_per_trial : array_like, shape (K,) or (K, p)
        Error norm (>= 0) of each trial, optionally one column per output;
        NaN marks a failed trial.
    path : str or os.PathLike, optional
        Save the figure there and close it.
    names : sequence of str, optional
        Legend label of each column (default ``y0, y1, ...``).
    unit : str, optional
        Unit of the error norm for the y label.
    title : str
        Figure title.
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_trials(0.5 ** np.arange(10), unit="rad")
    >>> fig.axes[0].get_yscale()
    'log'
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    e = as_float_array(errors_per_trial, "errors_per_trial", finite=False)
    if e.ndim == 1:
        e = e[:, None]
    if e.ndim != 2 or e.shape[0] == 0:
        raise ShapeError(f"`errors_per_trial` must have shape (K,) or (K, p) with K >= 1 trials, got {e.shape}.")
    if np.any(e < 0) or np.any(np.isinf(e)):
        raise ParameterError("`errors_per_trial` must hold error norms >= 0 (NaN for a failed trial).")
    names = [f"y{i}" for i in range(e.shape[1])] if names is None else list(names)
    if len(names) != e.shape[1]:
        raise ShapeError(f"`names` must hold {e.shape[1]} labels (one per column), got {len(names)}.")
    beside = e.shape[1] > _LEGEND_INSIDE          # many lines: the legend beside the axes, not over the lines
    fig, ax = _figure((8.6, 3.8) if beside else (6.4, 3.8))
    trials = np.arange(1, e.shape[0] + 1)
    for i, name in enumerate(names):
        group = (i // 10) % len(_GROUP_STYLES)      # the colour cycle has ten colours: each ten get a new style
        ls, marker = _GROUP_STYLES[group]
        ax.semilogy(trials, np.where(e[:, i] > 0, e[:, i], np.nan), ls=ls, marker=marker, ms=4, lw=1.3, label=name)
    _integer_ticks(ax.xaxis)
    ax.set_xlabel("trial")
    ax.set_ylabel(_label("error norm", unit))
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    if beside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    elif e.shape[1] > 1:
        ax.legend(loc="best", fontsize="small")
    return _finish(fig, path, dpi)


def plot_step_responses(responses, dt: float, path=None, *, output_names=None, input_names=None, compare=None,
                        compare_label: str = "plant", horizon: int | None = None,
                        title: str = "learned step responses (output per unit input)", label: str = "learned",
                        dpi: int = 120):
    """Plot step responses, one panel per output and input, optionally over another set (e.g. the plant's).

    Parameters
    ----------
    responses : array_like, shape (steps, p, m)
        Output i per unit of input j, ``steps`` control steps after the step
        (:meth:`NeuralController.learned_step_response
        <neurocontrol.controllers.neural.NeuralController.learned_step_response>`).
    dt : float
        Control period, s (the time axis).
    path : str or os.PathLike, optional
        Save the figure there and close it.
    output_names, input_names : sequence of str, optional
        Panel labels (default ``y0, ...`` and ``u0, ...``).
    compare : array_like, shape (steps', p, m), optional
        Responses drawn dashed in the same panels (``compare_label`` in the legend).
    compare_label : str, default "plant"
        Legend label of ``compare``.
    horizon : int, optional
        Draw the synthesiser's horizon (control steps) as a vertical line.
    title : str
        Figure title.
    label : str, default "learned"
        Legend label of ``responses``.
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> s = 1.0 - 0.9 ** np.arange(1, 61)
    >>> fig = plot_step_responses(s[:, None, None], 0.1, horizon=20)
    >>> len(fig.axes)
    1
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    r = as_float_array(responses, "responses", (None, None, None), finite=False)
    n, p, m = r.shape
    if n == 0:
        raise ShapeError("`responses` must hold at least one step.")
    if not (isinstance(dt, (int, float, np.number)) and math.isfinite(dt) and dt > 0):
        raise ParameterError(f"`dt` must be a positive number of seconds, got {dt!r}.")
    outs = [f"y{i}" for i in range(p)] if output_names is None else list(output_names)
    ins = [f"u{j}" for j in range(m)] if input_names is None else list(input_names)
    if len(outs) != p or len(ins) != m:
        raise ShapeError(f"`output_names` and `input_names` must hold {p} and {m} labels, got {len(outs)} and "
                         f"{len(ins)}.")
    c = None
    if compare is not None:
        c = as_float_array(compare, "compare", (None, p, m), finite=False)
    fig, axes = _figure((3.4 * m + 0.6, 2.4 * p + 0.6), nrows=p, ncols=m, squeeze=False, sharex=True)
    t = dt * np.arange(1, n + 1)
    for i in range(p):
        for j in range(m):
            ax = axes[i, j]
            ax.plot(t, r[:, i, j], lw=1.4, label=label)
            if c is not None:
                ax.plot(dt * np.arange(1, c.shape[0] + 1), c[:, i, j], ls="--", color=_REF_COLOR, lw=1.2,
                        label=compare_label)
            if horizon is not None:
                ax.axvline(dt * horizon, color=_SAT_COLOR, lw=0.8, alpha=0.6, label="horizon")
            ax.axhline(0.0, color="0.6", lw=0.5)
            ax.set_title(f"{outs[i]} per unit {ins[j]}", fontsize="small")
            ax.grid(True, alpha=0.3)
            if i == p - 1:
                ax.set_xlabel("time after the step [s]")
    if c is not None or horizon is not None:
        axes[0, 0].legend(loc="best", fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    return _finish(fig, path, dpi)


def _metric_array(name, values) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))])
    if arr.dtype == bool:
        return arr
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"metric {name!r} must hold numbers, bools or None, got {arr[:3].tolist()}...") from None


def plot_sweep(metric_values: Mapping, path=None, *, units: Mapping[str, str] | None = None,
               title: str = "sweep: metric distributions", dpi: int = 120):
    """Plot the distribution of each metric over the runs of a sweep.

    Numeric metrics get a histogram with the median marked; bool metrics
    (e.g. ``success``) a bar chart of the two counts. None or NaN values
    (undefined metrics, e.g. a settling time that never happened) are left
    out and counted in the panel title.

    Parameters
    ----------
    metric_values : mapping of str to array_like
        One sequence of values (one per run) per metric name, e.g. built from
        :func:`neurocontrol.results.flatten_metrics` of each run.
    path : str or os.PathLike, optional
        Save the figure there and close it.
    units : mapping of str to str, optional
        Unit of each metric for the axis label.
    title : str
        Figure title.
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_sweep({"iae": rng.gamma(2.0, 0.1, 50), "success": rng.random(50) > 0.2}, units={"iae": "rad s"})
    >>> len(fig.axes)
    2
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    if not isinstance(metric_values, Mapping) or not metric_values:
        raise ParameterError("`metric_values` must be a non-empty dict {metric name: values per run}.")
    data = {str(k): _metric_array(k, v) for k, v in metric_values.items()}
    units = dict(units or {})
    n = len(data)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = _figure((4.2 * ncols, 3.2 * nrows + 0.4), nrows=nrows, ncols=ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, v) in zip(axes.flat, data.items()):
        if v.dtype == bool:
            counts = [int(np.sum(~v)), int(np.sum(v))]
            ax.bar(["no", "yes"], counts, color=["tab:red", "tab:green"], alpha=0.8)
            ax.set_ylabel("runs")
            ax.set_title(f"{name}: {100 * v.mean():.0f} % yes of n = {v.size}", fontsize="medium")
            _integer_ticks(ax.yaxis)
            continue
        finite = v[np.isfinite(v)]
        undefined = v.size - finite.size
        count = f"n = {finite.size}" + (f" ({undefined} undefined)" if undefined else "")
        if finite.size:
            heights, _, _ = ax.hist(finite, bins="auto" if np.ptp(finite) > 0 else 1, color="tab:blue", alpha=0.75,
                                    label=count)
            ax.set_ylim(top=1.4 * heights.max())  # headroom for the legend
            med = float(np.median(finite))
            ax.axvline(med, color="k", ls="--", lw=1.2, label=f"median {med:.3g}")
            ax.legend(loc="best", fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no finite values\n{count}", transform=ax.transAxes, ha="center", va="center",
                    color="0.4")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel(_label(name, units.get(name)))
        ax.set_ylabel("runs")
        _integer_ticks(ax.yaxis)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _finish(fig, path, dpi)


def plot_identification(identification, path=None, *, output_names=None, dpi: int = 120):
    """Plot an identification experiment's controlled outputs against its fit's free run, one panel per output.

    Parameters
    ----------
    identification : neurocontrol.identification.Identification
        From :func:`neurocontrol.identification.identify`.
    path : str or os.PathLike, optional
        Save the figure there and close it.
    output_names : sequence of str, optional
        Panel labels, one per controlled output (default ``y<i>``, ``i`` the observation entry).
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ident = identification
    out = list(ident.output_indices)
    names = [f"y{i}" for i in out] if output_names is None else list(output_names)
    if len(names) != len(out):
        raise ShapeError(f"`output_names` must hold {len(out)} labels, got {len(names)}.")
    p, m = len(out), ident.inputs[0].shape[1]
    fig, axes = _figure((8.0, 2.0 * (p + m) + 0.8), nrows=p + m, ncols=1, squeeze=False, sharex=True)
    start = 0
    for e, y in enumerate(ident.measured):
        t = ident.dt * (start + np.arange(y.shape[0]))
        for k, i in enumerate(out):
            ax = axes[k, 0]
            ax.plot(t, y[:, i], color=_REF_COLOR, lw=2.4, alpha=0.5, label="measured" if e == 0 else None)
            if ident.simulated:
                ax.plot(t, ident.simulated[e][:, i], lw=1.0, color="C0",
                        label="the fit's free run" if e == 0 else None)
        u = ident.inputs[e]
        for j in range(m if u.shape[0] else 0):
            _held(axes[p + j, 0], t[:u.shape[0] + 1], u[:, j], lw=1.0, color="C2")
        if e > 0:
            for ax in axes[:, 0]:
                ax.axvline(t[0], color="0.6", lw=0.6, ls=":")
        start += y.shape[0]
    for k, name in enumerate([*names, *(f"input u{j}" for j in range(m))]):
        axes[k, 0].set_ylabel(name)
        axes[k, 0].grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("time in the experiment [s]")
    axes[0, 0].legend(loc="best", fontsize="x-small")
    fit = "-" if ident.free_run_fit is None else f"{ident.free_run_fit:.3f}"
    fig.suptitle(f"identification experiment ({'model' if ident.model is not None else 'no model'}; free-run fit "
                 f"{fit})", fontsize="medium")
    return _finish(fig, path, dpi)


def plot_loop_shapes(shapes: Mapping, path=None, *, title: str = "PI/PID loops on the model", dpi: int = 120):
    """Plot each loop's ``|S|`` and ``|T|`` against frequency, with the bound it was designed for.

    Parameters
    ----------
    shapes : mapping
        :meth:`ModelPIDController.loop_shapes <neurocontrol.controllers.pid_auto.ModelPIDController.loop_shapes>`:
        ``frequency`` (rad/s, n), ``S`` and ``T`` (k loops by n), ``outputs`` and ``inputs`` (k), ``bound``.
    path : str or os.PathLike, optional
        Save the figure there and close it.
    title : str
        Figure title.
    dpi : int, default 120
        Resolution when saving.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> w = np.geomspace(0.01, 10.0, 50)
    >>> L = 1.0 / (1j * w)
    >>> fig = plot_loop_shapes({"frequency": w, "S": [np.abs(1 / (1 + L))], "T": [np.abs(L / (1 + L))],
    ...                         "outputs": ["y"], "inputs": [0], "bound": 1.7})
    >>> len(fig.axes)
    1
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    try:
        w = as_float_array(shapes["frequency"], "shapes['frequency']", (None,))
        S = as_float_array(shapes["S"], "shapes['S']", (None, w.shape[0]), finite=False)
        T = as_float_array(shapes["T"], "shapes['T']", (S.shape[0], w.shape[0]), finite=False)
        outputs, inputs, bound = list(shapes["outputs"]), list(shapes["inputs"]), float(shapes["bound"])
    except KeyError as exc:
        raise ParameterError(f"`shapes` lacks {exc}; pass ModelPIDController.loop_shapes().") from None
    if len(outputs) != S.shape[0] or len(inputs) != S.shape[0]:
        raise ShapeError(f"`shapes` must name {S.shape[0]} outputs and inputs, got {len(outputs)} and {len(inputs)}.")
    k = S.shape[0]
    fig, axes = _figure((6.0, 2.4 * k + 0.6), nrows=k, ncols=1, squeeze=False, sharex=True)
    for i in range(k):
        ax = axes[i, 0]
        ax.loglog(w, S[i], lw=1.4, label="|S|")
        ax.loglog(w, T[i], lw=1.4, label="|T|")
        ax.axhline(bound, color=_SAT_COLOR, ls="--", lw=0.9, label=f"bound {bound:g}")
        ax.set_title(f"loop {outputs[i]} (input {inputs[i]}), every other loop closed", fontsize="small")
        ax.set_ylabel("gain")
        ax.set_ylim(bottom=1e-3)           # the low-frequency |S| falls off by decades; the peaks are what matter
        ax.grid(True, which="both", alpha=0.3)
    axes[-1, 0].set_xlabel("frequency [rad/s]")
    axes[0, 0].legend(loc="best", fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    return _finish(fig, path, dpi)
