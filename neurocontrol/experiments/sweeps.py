"""Many runs of one scenario: seeds in local processes, summaries, and comparisons of kinds or settings.

:func:`sweep` runs one scenario for many seeds (in-process for small sweeps
or ``workers=1``, else on worker processes of :mod:`neurocontrol.experiments._pool`;
results are ordered by seed and equal to serial runs). :class:`SweepResult`
summarises the per-seed metrics (success rate; median, 10th and 90th
percentile, min and max of every numeric metric, per output where the metric
is per output), exports them to pandas and plots their distributions.
:func:`compare` runs the same scenario in several variants (controller kinds,
values of settings, or both) on identical seeds.

Examples
--------
>>> from neurocontrol.scenario import Scenario
>>> from neurocontrol.experiments.sweeps import sweep
>>> sc = Scenario.from_toml("scenarios/hover_lqr.toml").set("run.duration", "2")  # doctest: +SKIP
>>> res = sweep(sc, range(4), workers=1)                                            # doctest: +SKIP
>>> res.summary()["outputs"]["altitude"]["rmse"]["median"]                         # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocontrol._files import atomic_write
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.experiments._pool import (
    MIN_PARALLEL_RUNS,
    MainGuardError,
    WorkerError,
    default_workers,
    forkserver_preload,
    run_jobs,
)
from neurocontrol.experiments.jobs import finished_run, make_jobs
from neurocontrol.plotting import plot_sweep
from neurocontrol.registry import kind_of
from neurocontrol.results import flatten_metrics
from neurocontrol.scenario import as_scenario, check_seeds, parse_seeds

__all__ = ["sweep", "compare", "SweepResult", "Comparison", "parse_seeds", "check_seeds", "STAT_KEYS", "DEFAULT_KINDS",
           "forkserver_preload", "default_workers", "MainGuardError", "WorkerError", "MIN_PARALLEL_RUNS"]

#: The kinds :func:`compare` flies beside the scenario's own when none are named: those built for any plant.
DEFAULT_KINDS = ("neural", "lqr_i", "pid_auto")
#: Statistics reported for each numeric metric by :meth:`SweepResult.summary`.
STAT_KEYS = ("median", "p10", "p90", "min", "max")
#: Metrics plotted by :meth:`SweepResult.plot` (per-output ones for every output).
_PLOT_METRICS = ("success", "saturation_fraction", "control_step_us")
_PLOT_OUTPUT_METRICS = ("rmse", "final_error", "settling_time")


# =========================================================================== workers


def _run_jobs(jobs: list[tuple], workers: int | None, progress: bool, what: str = "sweep") -> list[dict]:
    """Run jobs through the local pool (:func:`neurocontrol.experiments._pool.run_jobs`)."""
    return run_jobs(jobs, workers, progress, what)


# =========================================================================== results


def _stats(values: Sequence) -> dict:
    arr = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))],
                   dtype=np.float64)
    if arr.size == 0:
        return {**{k: None for k in STAT_KEYS}, "n": 0}
    return {"median": float(np.median(arr)), "p10": float(np.percentile(arr, 10)),
            "p90": float(np.percentile(arr, 90)), "min": float(arr.min()), "max": float(arr.max()), "n": int(arr.size)}


def _is_number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


@dataclass(frozen=True, kw_only=True)
class SweepResult:
    """Per-seed outcomes of one scenario (see :func:`sweep`).

    Attributes
    ----------
    scenario : str
        Scenario name.
    scenario_sha256 : str
        Hash of its settings (:attr:`neurocontrol.scenario.Scenario.sha256`).
    seeds : tuple of int
        In the order given.
    metrics : tuple of dict
        ``Result.metrics`` of each seed.
    statuses : tuple of str
        ``Result.status`` of each seed.
    stop_reasons : tuple of (str or None)
    hints : tuple of (str or None)
        Each run's ``meta["hint"]`` (why a run the env stopped may have failed, when the controller can tell).
    mode_fractions : tuple of dict
        Fraction of steps in each controller mode, per seed.
    wall_time_s : float
        Wall time of the whole sweep.
    workers : int
    units : dict
        Units of the signals, for plots.
    """

    scenario: str
    scenario_sha256: str
    seeds: tuple[int, ...]
    metrics: tuple[dict, ...]
    statuses: tuple[str, ...]
    stop_reasons: tuple = ()
    hints: tuple = ()
    mode_fractions: tuple = ()
    wall_time_s: float = 0.0
    workers: int = 1
    units: dict = field(default_factory=dict)

    @classmethod
    def from_runs(cls, scenario, seeds, runs, wall_time_s: float, workers: int) -> "SweepResult":
        """Collect the outcomes of :func:`neurocontrol.experiments.jobs.run_job` into a sweep result.

        Parameters
        ----------
        scenario : Scenario
            The swept scenario.
        seeds : sequence of int
            The seeds, in the order of ``runs``.
        runs : sequence of dict
            One outcome per seed.
        wall_time_s : float
            Wall time of the sweep.
        workers : int
            Processes (or cluster workers) used.

        Returns
        -------
        SweepResult
        """
        return cls(scenario=scenario.name, scenario_sha256=scenario.sha256, seeds=tuple(seeds),
                   metrics=tuple(r["metrics"] for r in runs), statuses=tuple(r["status"] for r in runs),
                   stop_reasons=tuple(r["stop_reason"] for r in runs), hints=tuple(r.get("hint") for r in runs),
                   mode_fractions=tuple(r["mode_fractions"] for r in runs), wall_time_s=wall_time_s,
                   workers=workers, units=dict(runs[0]["units"]))

    @property
    def n(self) -> int:
        """Number of runs."""
        return len(self.seeds)

    def by_seed(self, seed: int) -> dict:
        """Metrics of one seed.

        Parameters
        ----------
        seed : int
            One of the sweep's seeds.
        """
        try:
            return self.metrics[self.seeds.index(seed)]
        except ValueError:
            raise ParameterError(f"seed {seed!r} is not in this sweep; seeds: {list(self.seeds)}.") from None

    def summary(self) -> dict:
        """Success rate and distribution statistics of every numeric metric.

        Returns
        -------
        dict
            ``n`` (runs), ``success_rate`` (fraction with ``success``), under
            sensor noise ``success_true_rate`` (fraction whose true outputs
            succeed, ``metrics["noiseless"]``) and ``perfect_tracking_rate`` (fraction whose sensor noise alone
            is within the tolerance over the final window: in effect the most the measured success can be), ``statuses``
            ({status: count}), then for every numeric top-level
            metric ``{median, p10, p90, min, max, n}`` (``n`` = runs where it
            is defined; undefined values such as a settling time that never
            happened are left out), and ``outputs`` ``{name: {metric:
            {...}}}`` for the per-output metrics.
        """
        n = self.n
        out: dict = {"n": n, "success_rate": sum(bool(m.get("success")) for m in self.metrics) / n,
                     "statuses": {s: self.statuses.count(s) for s in dict.fromkeys(self.statuses)}}
        if any("noiseless" in m for m in self.metrics):
            out["success_true_rate"] = sum(bool(m.get("noiseless", {}).get("success")) for m in self.metrics) / n
            noisy = [m["noiseless"] for m in self.metrics if "noiseless" in m]
            if all("perfect_tracking_success" in m for m in noisy):     # not in runs saved before it existed
                out["perfect_tracking_rate"] = sum(bool(m["perfect_tracking_success"]) for m in noisy) / n
        first = self.metrics[0]
        for key, value in first.items():
            if key in ("success", "outputs") or not _is_number(value):
                continue
            out[key] = _stats([m.get(key) for m in self.metrics])
        outputs = {}
        for name, per in (first.get("outputs") or {}).items():
            outputs[name] = {k: _stats([(m.get("outputs") or {}).get(name, {}).get(k) for m in self.metrics])
                             for k, v in per.items() if _is_number(v)}
        out["outputs"] = outputs
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable: scenario, hash, seeds, workers, wall time, summary and the per-seed runs."""
        runs = [{"seed": s, "status": st, "stop_reason": r, "hint": h, "mode_fractions": mf, "metrics": m}
                for s, st, r, h, mf, m in zip(self.seeds, self.statuses, self.stop_reasons or [None] * self.n,
                                              self.hints or [None] * self.n, self.mode_fractions or [{}] * self.n,
                                              self.metrics)]
        return {"scenario": self.scenario, "scenario_sha256": self.scenario_sha256, "seeds": list(self.seeds),
                "workers": self.workers, "wall_time_s": self.wall_time_s, "summary": self.summary(), "runs": runs}

    def to_pandas(self):
        """One row per seed: ``seed``, ``status`` and the flattened metrics (``outputs.altitude.rmse``, ...)."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("SweepResult.to_pandas needs pandas: install it with `pip install pandas`.") \
                from None
        rows = [{"seed": s, "status": st, **flatten_metrics(m)} for s, st, m in zip(self.seeds, self.statuses,
                                                                                   self.metrics)]
        return pd.DataFrame(rows)

    def metric_values(self) -> dict:
        """Return ``{metric name: [value per seed]}`` of the plotted metrics (for ``plotting.plot_sweep``)."""
        values = {}
        for key in _PLOT_METRICS:
            if key in self.metrics[0]:
                values[key] = [m.get(key) for m in self.metrics]
        for name in (self.metrics[0].get("outputs") or {}):
            for key in _PLOT_OUTPUT_METRICS:
                values[f"{name} {key}"] = [(m.get("outputs") or {}).get(name, {}).get(key) for m in self.metrics]
        return values

    def plot(self, path=None, **kwargs):
        """Distributions of the main metrics over the seeds (:func:`neurocontrol.plotting.plot_sweep`).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the figure there (PNG) and close it.
        **kwargs
            Passed to :func:`neurocontrol.plotting.plot_sweep`.
        """
        units = {"control_step_us": "us"}
        for name in (self.metrics[0].get("outputs") or {}):
            unit = self.units.get(name)
            if unit:
                units.update({f"{name} rmse": unit, f"{name} final_error": unit})
            units[f"{name} settling_time"] = "s"
        rate = 100 * self.summary()["success_rate"]
        kwargs.setdefault("title", f"{self.scenario}: {self.n} seeds, success {rate:.0f} %")
        return plot_sweep(self.metric_values(), path, units=units, **kwargs)

    def save(self, directory) -> Path:
        """Write ``sweep.json`` (:meth:`to_dict`) and ``runs.csv`` (one row per seed) to a folder, atomically.

        Parameters
        ----------
        directory : str or os.PathLike
            The folder (created if missing).

        Returns
        -------
        pathlib.Path
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "sweep.json", json.dumps(self.to_dict(), indent=2) + "\n")
        flat = [flatten_metrics(m) for m in self.metrics]
        columns = ["seed", "status"] + list(dict.fromkeys(k for row in flat for k in row))
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(columns)
        for s, st, row in zip(self.seeds, self.statuses, flat):
            w.writerow([s, st] + ["" if row.get(c) is None else row.get(c) for c in columns[2:]])
        atomic_write(folder / "runs.csv", buf.getvalue())
        return folder


def sweep(scenario, seeds: Iterable[int], *, workers: int | None = None, out=None,
          progress: bool = False, resume: bool = False) -> SweepResult:
    """Run one scenario for many seeds.

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
        The scenario or its file.
    seeds : iterable of int
        Unique non-negative seeds (e.g. ``range(20)``); one run each.
    workers : int, optional
        Processes to use, this one included: ``workers - 1`` worker
        processes take seeds from the front of the list while this process
        takes them from the back; ``1`` runs serially in this process.
        Default (:func:`default_workers`): serial below
        :data:`MIN_PARALLEL_RUNS` runs, where starting workers costs more
        than it saves, else one per CPU, at most one per seed. Workers start
        from a fresh interpreter (fork server or spawn) that re-imports the
        main script: a script must call ``sweep`` under
        ``if __name__ == "__main__":`` (else :class:`MainGuardError`, before
        any run), and kinds registered in a script must be registered at its
        top level.
    out : str or os.PathLike, optional
        Folder: each run in ``seed_<n>/`` (see
        :func:`neurocontrol.scenario.save_run`, without plots), plus
        ``sweep.json``, ``runs.csv`` and ``sweep.png``.
    progress : bool, default False
        A progress bar over runs on a terminal (tqdm, optional).
    resume : bool, default False
        Continue an interrupted sweep in ``out``: seeds whose ``seed_<n>/run.json``
        (written last, atomically, after each run) holds the same scenario
        hash are not run again; other seeds run and replace any partial
        folder.

    Returns
    -------
    SweepResult
        Ordered like ``seeds``; equal to running each seed serially;
        ``workers`` is the number of processes that ran seeds. An error in a
        worker process is raised here, with the worker's traceback as its
        ``__cause__``.

    Raises
    ------
    ParameterError
        On bad seeds or workers, or ``resume`` without ``out``.
    MainGuardError
        If worker processes are needed and the calling script has no main
        guard (raised before any run).
    WorkerError
        If a worker process exits before running its seeds.
    ScenarioError
        On a bad scenario (before any run starts).
    """
    sc = as_scenario(scenario)
    seeds = check_seeds(seeds)
    sc.build(seeds[0])  # fail fast on a scenario that does not build
    if resume and out is None:
        raise ParameterError("`resume` needs the sweep folder `out` (--out DIR) of the interrupted sweep.")
    done = {s: r for s in seeds if resume and (r := finished_run(out, s, sc.sha256)) is not None}
    todo = [s for s in seeds if s not in done]
    t0 = time.perf_counter()
    used = 1
    fresh = {}
    if todo:
        ran = _run_jobs(make_jobs(sc, todo, out, overwrite=resume), workers, progress)
        used = getattr(ran, "workers_used", 1)
        fresh = dict(zip(todo, ran))
    runs = [done[s] if s in done else fresh[s] for s in seeds]
    res = SweepResult.from_runs(sc, seeds, runs, time.perf_counter() - t0, used)
    if out is not None:
        res.save(out)
        res.plot(Path(out) / "sweep.png")
    return res


# =========================================================================== comparison


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The same scenario in several variants on identical seeds (see :func:`compare`).

    A variant is a controller kind, a combination of settings, or both.

    Attributes
    ----------
    scenario : str
    seeds : tuple of int
    sweeps : dict of str to SweepResult
        By variant label (the kind, ``key=value``, or both joined by ``, ``), in order.
    wall_time_s : float
    variants : dict of str to dict
        By label: the settings that variant changes (``{"controller.kind": "lqr"}``, ...).
    skipped : dict of str to str
        Kinds of the default set that refuse the scenario's plant, with the reason (none when kinds were named).
    """

    scenario: str
    seeds: tuple[int, ...]
    sweeps: dict
    wall_time_s: float = 0.0
    variants: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        """Return one row per variant with its success rate and the medians of the main metrics.

        A row holds ``variant`` (the label), ``controller`` (the label, for a
        comparison of kinds only), ``n``, ``success_rate``, ``failed``, under sensor noise
        ``success_true_rate`` and ``perfect_tracking_rate`` (see :meth:`SweepResult.summary`), and, per
        output, the medians of ``iae``, ``rmse``, ``final_error``,
        ``settling_time`` and ``overshoot``, then the medians of
        ``control_effort``, ``saturation_fraction`` and ``control_step_us``.
        """
        rows = []
        for label, sw in self.sweeps.items():
            s = sw.summary()
            row = {"variant": label, "controller": label, "n": s["n"], "success_rate": s["success_rate"],
                   "failed": s["statuses"].get("failed", 0)}
            row.update({k: s[k] for k in ("success_true_rate", "perfect_tracking_rate") if k in s})
            for name, per in s["outputs"].items():
                for key in ("iae", "rmse", "final_error", "settling_time", "overshoot"):
                    if key in per:
                        row[f"{name}.{key}"] = per[key]["median"]
            for key in ("control_effort", "saturation_fraction", "control_step_us"):
                if key in s:
                    row[key] = s[key]["median"]
            rows.append(row)
        return rows

    def format_table(self) -> str:
        """Return the :meth:`table` as aligned text, one column per variant."""
        rows = self.table()
        keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("variant", "controller")))
        width = max(len(k) for k in keys) + 2

        def fmt(v):
            if v is None:
                return "-"
            if isinstance(v, float):
                return f"{v:.4g}"
            return str(v)

        col = max(12, *(len(r["variant"]) + 2 for r in rows))
        lines = [" " * width + "".join(f"{r['variant']:>{col}}" for r in rows)]
        for k in keys:
            lines.append(f"{k:<{width}}" + "".join(f"{fmt(r.get(k)):>{col}}" for r in rows))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable: scenario, seeds, wall time, the table, each variant's settings and summary."""
        return {"scenario": self.scenario, "seeds": list(self.seeds), "wall_time_s": self.wall_time_s,
                "table": self.table(), "variants": {k: dict(v) for k, v in self.variants.items()},
                "controllers": {k: sw.summary() for k, sw in self.sweeps.items()}, "skipped": dict(self.skipped)}

    def to_pandas(self):
        """Return the :meth:`table` as a DataFrame indexed by variant."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("Comparison.to_pandas needs pandas: install it with `pip install pandas`.") \
                from None
        return pd.DataFrame(self.table()).drop(columns="controller").set_index("variant")

    def plot(self, path=None, **kwargs):
        """Side by side: one row per metric, one column per variant (histograms over the seeds).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the figure there (PNG) and close it.
        **kwargs
            Passed to :func:`neurocontrol.plotting.plot_sweep`.
        """
        values = {}
        per_variant = {k: sw.metric_values() for k, sw in self.sweeps.items()}
        metrics = list(next(iter(per_variant.values())))
        for metric in metrics:
            for label, vals in per_variant.items():
                values[f"{label}: {metric}"] = vals[metric]
        kwargs.setdefault("title", f"{self.scenario}: {' | '.join(self.sweeps)} on {len(self.seeds)} seeds")
        return plot_sweep(values, path, **kwargs)


def split_values(text: str) -> list[str]:
    """Split ``"5,15,45"`` or ``"[0, 10],[0, 20]"`` at the commas outside brackets, braces and quotes.

    Parameters
    ----------
    text : str
        Comma-separated TOML values, as after ``--vary KEY=``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> split_values('5, 15,45'), split_values('[0, 10],[0, 20]'), split_values('"a,b",c')
    (['5', '15', '45'], ['[0, 10]', '[0, 20]'], ['"a,b"', 'c'])
    """
    items, depth, quote, cur = [], 0, None, []
    for ch in str(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    items.append("".join(cur).strip())
    return [i for i in items if i]


def _vary_table(vary) -> dict:
    """Check ``vary``: ``{key: values}``, or ``"key=v1,v2"`` strings (one per key); return ``{key: [values]}``."""
    if isinstance(vary, str):
        vary = [vary]
    if not isinstance(vary, dict):
        table = {}
        for item in vary:
            key, sep, values = str(item).partition("=")
            if not sep or not key.strip():
                raise ParameterError(f"`vary` must look like KEY=V1,V2,..., e.g. controller.law.move_penalty=5,15,45;"
                                     f" got {item!r}.")
            table[key.strip()] = [_toml_value(v) for v in split_values(values)]
        vary = table
    out = {}
    for key, values in vary.items():
        values = [values] if isinstance(values, str) else list(values)
        if not values:
            raise ParameterError(f"`vary` gives no values for {key!r}; list at least one, e.g. {key}=1,2.")
        out[str(key)] = values
    if not out:
        raise ParameterError("`vary` must name at least one setting, e.g. {'controller.law.move_penalty': [5, 15]}.")
    return out


def _toml_value(text: str):
    """Parse one value as ``Scenario.set`` does: a TOML value, else the bare string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _label(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def compare(scenario, controllers: Sequence[str] | str | None = None, seeds: Iterable[int] = range(10), *,
            vary=None, workers: int | None = None, out=None, progress: bool = False) -> Comparison:
    """Run one scenario in several variants (controller kinds, settings, or both) on the same seeds.

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
    controllers : sequence of str or str, optional
        Registered controller kinds (a string: comma-separated). A kind other
        than the scenario's own runs with its default settings; the scenario's
        own kind keeps its settings. Default without ``vary``: the scenario's
        own kind and :data:`DEFAULT_KINDS` (the kinds built for any plant), leaving
        out, in ``Comparison.skipped`` with the reason, those that refuse the
        plant; with ``vary``: the scenario's own controller only.
    seeds : iterable of int
    vary : dict of str to sequence, or str or sequence of str, optional
        Settings to compare: dotted scenario keys (as for
        :meth:`~neurocontrol.scenario.Scenario.set`) and their values, e.g.
        ``{"controller.law.move_penalty": [5, 15, 45]}`` or
        ``"controller.law.move_penalty=5,15,45"``. Several keys give every
        combination (and every combination with each controller kind).
    workers : int, optional
        Processes for all runs together (see :func:`sweep`).
    out : str or os.PathLike, optional
        Folder: one sub-folder per variant (as :func:`sweep`; the label with
        ``/`` and spaces replaced), plus ``comparison.json`` and
        ``comparison.png``.
    progress : bool, default False

    Returns
    -------
    Comparison

    Raises
    ------
    ParameterError
        On repeated kinds, a malformed ``vary`` or bad seeds.
    ScenarioError
        On an unknown controller kind, key or value (before any run starts).
    MainGuardError
        As for :func:`sweep`.

    Examples
    --------
    >>> comp = compare("scenarios/hover_pid.toml", seeds=range(4),
    ...                vary={"controller.kp_alt": [0.03, 0.06]})        # doctest: +SKIP
    >>> print(comp.format_table())                                      # doctest: +SKIP
    """
    import itertools

    sc = as_scenario(scenario)
    by_default = controllers is None and vary is None
    if controllers is None:
        own = kind_of(type(sc.controller))
        controllers = [own] if vary is not None else list(dict.fromkeys([own, *DEFAULT_KINDS]))
    if isinstance(controllers, str):
        controllers = [c.strip() for c in controllers.split(",") if c.strip()]
    controllers = list(controllers)
    if not controllers or len(set(controllers)) != len(controllers):
        raise ParameterError(f"`controllers` must name distinct controller kinds, got {controllers!r}.")
    seeds = check_seeds(seeds)
    table = _vary_table(vary) if vary is not None else {}
    combos = list(itertools.product(*table.values())) if table else [()]
    variants, settings = {}, {}
    for kind in controllers:
        try:
            base = sc.set("controller.kind", kind)
        except ScenarioError as exc:
            if "missing key `controller." not in str(exc):
                raise
            raise ScenarioError(f"{exc} Controller kind {kind!r} has settings without defaults, so compare cannot "
                                f"switch {sc.name!r} to it; compare from a scenario whose [controller] is "
                                f"{kind!r} (its settings are kept).") from None
        for combo in combos:
            v = base
            for key, value in zip(table, combo):
                v = v.set(key, value)
            parts = ([kind] if len(controllers) > 1 or not table else []) + \
                [f"{key.rsplit('.', 1)[-1] if _unique_tail(table, key) else key}={_label(val)}"
                 for key, val in zip(table, combo)]
            label = ", ".join(parts)
            variants[label] = v
            settings[label] = {"controller.kind": kind, **{k: val for k, val in zip(table, combo)}}
    if len(variants) != len(controllers) * len(combos):
        raise ParameterError(f"`vary` repeats a value: the variants {list(variants)} are not distinct.")
    skipped = {}
    for label, v in list(variants.items()):
        try:
            v.build(seeds[0])
        except ScenarioError as exc:
            if not by_default or label == controllers[0]:
                raise
            skipped[label] = str(exc).splitlines()[0]          # a default kind that refuses this plant
            del variants[label], settings[label]
    jobs, spans = [], {}
    for label, v in variants.items():
        start = len(jobs)
        jobs += make_jobs(v, seeds, None if out is None else Path(out) / _folder(label))
        spans[label] = (start, len(jobs))
    t0 = time.perf_counter()
    runs = _run_jobs(jobs, workers, progress, "compare")
    wall = time.perf_counter() - t0
    used = getattr(runs, "workers_used", 1)
    sweeps = {label: SweepResult.from_runs(variants[label], seeds, runs[a:b], wall, used)
              for label, (a, b) in spans.items()}
    comp = Comparison(scenario=sc.name, seeds=seeds, sweeps=sweeps, wall_time_s=wall, variants=settings,
                      skipped=skipped)
    if out is not None:
        folder = Path(out)
        for label, sw in sweeps.items():
            sw.save(folder / _folder(label))
        atomic_write(folder / "comparison.json", json.dumps(comp.to_dict(), indent=2) + "\n")
        comp.plot(folder / "comparison.png")
    return comp


def _unique_tail(table: dict, key: str) -> bool:
    tail = key.rsplit(".", 1)[-1]
    return sum(k.rsplit(".", 1)[-1] == tail for k in table) == 1


def _folder(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._=-" else "_" for c in label.replace(", ", "__"))
