"""Many runs of one scenario: seeds in local processes, summaries, and controller comparisons.

:func:`sweep` runs one scenario for many seeds (a process pool by default,
serially in-process with ``workers=1``; results are ordered by seed and equal
to serial runs). :class:`SweepResult` summarises the per-seed metrics
(success rate; median, 10th and 90th percentile, min and max of every
numeric metric, per output where the metric is per output), exports them to
pandas and plots their distributions. :func:`compare` runs the same scenario
with several controller kinds on identical seeds.

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
import multiprocessing
import numbers
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import neurocontrol.scenario
from neurocontrol._files import atomic_write
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.experiments import jobs as _jobs_module
from neurocontrol.experiments.jobs import finished_run, make_jobs, run_job
from neurocontrol.registry import builtin_modules
from neurocontrol.results import flatten_metrics
from neurocontrol.scenario import as_scenario, check_seeds, parse_seeds

__all__ = ["sweep", "compare", "SweepResult", "Comparison", "parse_seeds", "check_seeds", "STAT_KEYS",
           "forkserver_preload"]

#: The one module of the fork server's preload list named by a string: importing it is its effect
#: (it warms the compiled kernels), so it cannot be imported here; tests/test_sweep.py imports it.
_WARM_MODULE = "neurocontrol.experiments._preload"

#: Statistics reported for each numeric metric by :meth:`SweepResult.summary`.
STAT_KEYS = ("median", "p10", "p90", "min", "max")
#: Metrics plotted by :meth:`SweepResult.plot` (per-output ones for every output).
_PLOT_METRICS = ("success", "saturation_fraction", "control_step_us")
_PLOT_OUTPUT_METRICS = ("rmse", "final_error", "settling_time")


# =========================================================================== workers


def _default_workers(n_jobs: int) -> int:
    return max(1, min(n_jobs, os.cpu_count() or 1))


def forkserver_preload() -> tuple[str, ...]:
    """Name the modules the sweep's fork server imports once before it forks workers.

    The job runner, the scenario package, every module that defines a built-in
    kind (:func:`neurocontrol.registry.builtin_modules`) and the kernel warm-up.

    Returns
    -------
    tuple of str
    """
    names = (_jobs_module.__name__, neurocontrol.scenario.__name__, *builtin_modules(), _WARM_MODULE)
    return tuple(dict.fromkeys(names))


def _mp_context():
    """Return a fork server that has imported neurocontrol once (POSIX), else spawn; never a fork of this process.

    Forking the caller could copy held locks of BLAS, numba or tqdm threads; a
    fork server is a clean single-threaded process, and preloading the package
    there spares each worker the import (about 2 s with the compiled kernels).
    """
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(forkserver_preload()))
        return ctx
    return multiprocessing.get_context("spawn")


def _run_jobs(jobs: list[tuple], workers: int | None, progress: bool) -> list[dict]:
    if workers is None:
        workers = _default_workers(len(jobs))
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ParameterError(f"`workers` must be a positive integer (1 runs serially in this process), "
                             f"got {workers!r}.")
    bar = None
    if progress and sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="run", delay=2.0, leave=False, file=sys.stderr, desc="sweep")
        except ImportError:
            bar = None
    try:
        if workers == 1 or len(jobs) == 1:
            out = []
            for job in jobs:
                out.append(run_job(job))
                if bar is not None:
                    bar.update(1)
            return out
        return _run_shared(jobs, min(workers, len(jobs)), bar)
    finally:
        if bar is not None:
            bar.close()


def _run_shared(jobs: list[tuple], workers: int, bar) -> list[dict]:
    """Run ``jobs`` on ``workers - 1`` worker processes and on this process, from both ends of the list.

    The workers take jobs from the front, this process from the back, through
    two shared counters under one lock, until they meet. This process has
    imported the package already, so it works from the first second while
    the workers start; and as nobody holds a job it has not started, the
    two sides finish within one run of each other. Each result lands in its
    job's slot, so the order is the job order.
    """
    ctx = _mp_context()
    lock = ctx.Lock()
    head, tail = ctx.RawValue("q", 0), ctx.RawValue("q", len(jobs))   # next front job; one past the last back job
    results_q = ctx.Queue()
    procs = [ctx.Process(target=_worker_loop, args=(jobs, head, tail, lock, results_q), daemon=True,
                         name=f"neurocontrol-sweep-{k}") for k in range(workers - 1)]
    results: list = [None] * len(jobs)

    def take(msg) -> None:   # one message of a worker: a finished run, or an error to raise here
        i, ok, value = msg
        if not ok:
            with lock:
                head.value = tail.value   # the other workers stop after their current job
            exc, remote_tb = value
            if exc is None:
                raise _RemoteError(remote_tb)
            raise exc from _RemoteError(remote_tb)
        results[i] = value
        if bar is not None:
            bar.update(1)

    try:
        for p in procs:
            p.start()
        while True:
            with lock:
                if tail.value <= head.value:
                    break
                tail.value -= 1
                i = tail.value
            results[i] = run_job(jobs[i])
            if bar is not None:
                bar.update(1)
            while not results_q.empty():   # the workers' finished runs so far (and any error, raised now)
                take(results_q.get())
        while any(r is None for r in results):
            take(_next_result(results_q, procs))
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
        results_q.close()
    return results


def _worker_loop(jobs, head, tail, lock, results_q) -> None:
    """Run jobs from the front until the counters meet (a sweep worker); send ``(index, ok, run or error)``."""
    import pickle
    import traceback

    while True:
        with lock:
            if head.value >= tail.value:
                return
            i = head.value
            head.value += 1
        try:
            results_q.put((i, True, run_job(jobs[i])))
        except BaseException as exc:   # sent to the parent, which raises it there with this traceback
            remote_tb = f"seed {jobs[i].seed} failed in a worker process:\n{traceback.format_exc()}"
            try:
                pickle.loads(pickle.dumps(exc))
            except Exception:   # an error that does not survive pickling: its traceback text still does
                exc = None
            results_q.put((i, False, (exc, remote_tb)))
            return


class _RemoteError(Exception):
    """The traceback of an error raised in a sweep worker process (the cause of the re-raised error)."""


def _next_result(results_q, procs) -> tuple:
    """Return the next message of the workers; raise if every worker has exited with results still missing."""
    import queue

    while True:
        try:
            return results_q.get(timeout=0.5)
        except queue.Empty:
            pass
        if not any(p.is_alive() for p in procs) and results_q.empty():
            codes = ", ".join(str(p.exitcode) for p in procs)
            raise RuntimeError(f"the sweep's worker processes exited (exit codes {codes}) before finishing their "
                               "runs, e.g. killed for lack of memory; run again with fewer `workers`.")


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
                   stop_reasons=tuple(r["stop_reason"] for r in runs),
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
            ``n`` (runs), ``success_rate`` (fraction with ``success``),
            ``statuses`` ({status: count}), then for every numeric top-level
            metric ``{median, p10, p90, min, max, n}`` (``n`` = runs where it
            is defined; undefined values such as a settling time that never
            happened are left out), and ``outputs`` ``{name: {metric:
            {...}}}`` for the per-output metrics.
        """
        n = self.n
        out: dict = {"n": n, "success_rate": sum(bool(m.get("success")) for m in self.metrics) / n,
                     "statuses": {s: self.statuses.count(s) for s in dict.fromkeys(self.statuses)}}
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
        runs = [{"seed": s, "status": st, "stop_reason": r, "mode_fractions": mf, "metrics": m}
                for s, st, r, mf, m in zip(self.seeds, self.statuses, self.stop_reasons or [None] * self.n,
                                           self.mode_fractions or [{}] * self.n, self.metrics)]
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
        from neurocontrol.plotting import plot_sweep

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
        Processes to use, this one included (default: one per CPU, at most
        one per seed): ``workers - 1`` worker processes take seeds from the
        front of the list while this process takes them from the back.
        ``1`` runs serially in this process. Workers start from a fresh
        interpreter (fork server or spawn), so kinds registered in a script
        must be registered at its top level.
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
        Ordered like ``seeds``; equal to running each seed serially.
        An error in a worker process is raised here, with the worker's
        traceback as its ``__cause__``.

    Raises
    ------
    ParameterError
        On bad seeds or workers, or ``resume`` without ``out``.
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
    workers = _default_workers(max(1, len(todo))) if workers is None else workers
    t0 = time.perf_counter()
    fresh = dict(zip(todo, _run_jobs(make_jobs(sc, todo, out, overwrite=resume), workers, progress))) if todo else {}
    runs = [done[s] if s in done else fresh[s] for s in seeds]
    res = SweepResult.from_runs(sc, seeds, runs, time.perf_counter() - t0, workers)
    if out is not None:
        res.save(out)
        res.plot(Path(out) / "sweep.png")
    return res


# =========================================================================== comparison


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The same scenario with several controller kinds on identical seeds (see :func:`compare`).

    Attributes
    ----------
    scenario : str
    seeds : tuple of int
    sweeps : dict of str to SweepResult
        By controller kind, in the order given.
    wall_time_s : float
    """

    scenario: str
    seeds: tuple[int, ...]
    sweeps: dict
    wall_time_s: float = 0.0

    def table(self) -> list[dict]:
        """Return one row per controller with its success rate and the medians of the main metrics.

        A row holds ``controller``, ``n``, ``success_rate``, ``failed`` and, per
        output, the medians of ``rmse``, ``final_error``, ``settling_time`` and
        ``overshoot``, then the medians of ``saturation_fraction`` and
        ``control_step_us``.
        """
        rows = []
        for kind, sw in self.sweeps.items():
            s = sw.summary()
            row = {"controller": kind, "n": s["n"], "success_rate": s["success_rate"],
                   "failed": s["statuses"].get("failed", 0)}
            for name, per in s["outputs"].items():
                for key in ("rmse", "final_error", "settling_time", "overshoot"):
                    if key in per:
                        row[f"{name}.{key}"] = per[key]["median"]
            for key in ("saturation_fraction", "control_step_us"):
                if key in s:
                    row[key] = s[key]["median"]
            rows.append(row)
        return rows

    def format_table(self) -> str:
        """Return the :meth:`table` as aligned text, one column per controller."""
        rows = self.table()
        keys = list(dict.fromkeys(k for r in rows for k in r if k != "controller"))
        width = max(len(k) for k in keys) + 2

        def fmt(v):
            if v is None:
                return "-"
            if isinstance(v, float):
                return f"{v:.4g}"
            return str(v)

        col = max(12, *(len(r["controller"]) + 2 for r in rows))
        lines = [" " * width + "".join(f"{r['controller']:>{col}}" for r in rows)]
        for k in keys:
            lines.append(f"{k:<{width}}" + "".join(f"{fmt(r.get(k)):>{col}}" for r in rows))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable: scenario, seeds, wall time, the table, and each controller's summary."""
        return {"scenario": self.scenario, "seeds": list(self.seeds), "wall_time_s": self.wall_time_s,
                "table": self.table(), "controllers": {k: sw.summary() for k, sw in self.sweeps.items()}}

    def to_pandas(self):
        """Return the :meth:`table` as a DataFrame indexed by controller."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("Comparison.to_pandas needs pandas: install it with `pip install pandas`.") \
                from None
        return pd.DataFrame(self.table()).set_index("controller")

    def plot(self, path=None, **kwargs):
        """Side by side: one row per metric, one column per controller (histograms over the seeds).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the figure there (PNG) and close it.
        **kwargs
            Passed to :func:`neurocontrol.plotting.plot_sweep`.
        """
        from neurocontrol.plotting import plot_sweep

        values = {}
        per_kind = {k: sw.metric_values() for k, sw in self.sweeps.items()}
        metrics = list(next(iter(per_kind.values())))
        for metric in metrics:
            for kind, vals in per_kind.items():
                values[f"{kind}: {metric}"] = vals[metric]
        kwargs.setdefault("title", f"{self.scenario}: {', '.join(self.sweeps)} on {len(self.seeds)} seeds")
        return plot_sweep(values, path, **kwargs)


def compare(scenario, controllers: Sequence[str] = ("adaptive", "lqr", "pid"), seeds: Iterable[int] = range(10), *,
            workers: int | None = None, out=None, progress: bool = False) -> Comparison:
    """Run one scenario with each controller kind on the same seeds.

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
    controllers : sequence of str
        Registered controller kinds. A kind other than the scenario's own
        runs with its default settings; the scenario's own kind keeps its
        settings.
    seeds : iterable of int
    workers : int, optional
        Processes for all runs together (see :func:`sweep`).
    out : str or os.PathLike, optional
        Folder: ``<kind>/`` per controller (as :func:`sweep`), plus
        ``comparison.json`` and ``comparison.png``.
    progress : bool, default False

    Returns
    -------
    Comparison

    Raises
    ------
    ScenarioError
        On an unknown controller kind (before any run starts).
    """
    sc = as_scenario(scenario)
    if isinstance(controllers, str):
        controllers = [c.strip() for c in controllers.split(",") if c.strip()]
    controllers = list(controllers)
    if not controllers or len(set(controllers)) != len(controllers):
        raise ParameterError(f"`controllers` must name distinct controller kinds, got {controllers!r}.")
    seeds = check_seeds(seeds)
    variants = {}
    for kind in controllers:
        try:
            variants[kind] = sc.set("controller.kind", kind)
        except ScenarioError as exc:
            if "missing key `controller." not in str(exc):
                raise
            raise ScenarioError(f"{exc} Controller kind {kind!r} has settings without defaults, so compare cannot "
                                f"switch {sc.name!r} to it; compare from a scenario whose [controller] is "
                                f"{kind!r} (its settings are kept).") from None
    for v in variants.values():
        v.build(seeds[0])
    jobs, spans = [], {}
    for kind, v in variants.items():
        start = len(jobs)
        jobs += make_jobs(v, seeds, None if out is None else Path(out) / kind)
        spans[kind] = (start, len(jobs))
    workers = _default_workers(len(jobs)) if workers is None else workers
    t0 = time.perf_counter()
    runs = _run_jobs(jobs, workers, progress)
    wall = time.perf_counter() - t0
    sweeps = {kind: SweepResult.from_runs(variants[kind], seeds, runs[a:b], wall, workers)
              for kind, (a, b) in spans.items()}
    comp = Comparison(scenario=sc.name, seeds=seeds, sweeps=sweeps, wall_time_s=wall)
    if out is not None:
        folder = Path(out)
        for kind, sw in sweeps.items():
            sw.save(folder / kind)
        atomic_write(folder / "comparison.json", json.dumps(comp.to_dict(), indent=2) + "\n")
        comp.plot(folder / "comparison.png")
    return comp
