"""Tuning a scenario's settings with Optuna: search space in the scenario file, objective from a seed sweep.

A scenario declares what may be tuned in a ``[tune]`` table::

    [tune]
    seeds = "0:8"              # each trial sweeps these seeds
    output = "altitude"        # tie-break: median IAE of this output ("" = sum over outputs)
    trials = 20                # default number of trials per call

    [tune.params]
    "controller.law.move_penalty" = {low = 2.0, high = 60.0, log = true}
    "controller.reference_bandwidth.1" = {low = 2.0, high = 8.0}
    "controller.disturbance_filter" = {choices = [0.9, 0.95, 0.98]}

Keys are dotted scenario keys as for :meth:`neurocontrol.scenario.Scenario.set`
(an index selects one entry of an array); keys that depend on a tuned key
follow it (e.g. ``controller.law.blocks`` follows ``controller.law.horizon``
unless set explicitly). Each trial sets the sampled values, runs
:func:`neurocontrol.experiments.sweeps.sweep` over the seeds and judges the
sweep by ``objective`` (default ``"score"``:
``failure_weight * (1 - success_rate) + median IAE``, minimised, so the
success rate ranks first and the IAE breaks ties). Any metric of the result
works, per output or overall, with a ``direction`` and an ``aggregate`` over
the seeds::

    objective = "altitude.iae"                      # or "rotor_speed.rmse", "control_effort", "success_rate"
    aggregate = "p90"                               # median (default), mean, min, max, pNN
    objective = ["altitude.iae", "control_effort"]  # two metrics: Optuna's Pareto front (TuneResult.pareto)

From Python, ``Scenario.set("tune.objective", '["altitude.iae", "control_effort"]')``
(and ``"tune.params"``, ...) builds the same table. The study lives in
an Optuna storage (default: an SQLite file in the output folder; any RDB
URL, e.g. ``postgresql://...``, lets several machines share one study) and
is resumed when it exists (``load_if_exists``). Needs the ``tune`` extra
(``pip install -e .[tune]``).

The ``[tune]`` table is decoded by the scenario decoder into
:class:`neurocontrol.scenario.TuneSpec` (re-exported here).
"""

from __future__ import annotations

import json
import math
import numbers
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocontrol._files import atomic_write
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.experiments.sweeps import sweep
from neurocontrol.scenario import TuneParam, TuneSpec, as_scenario, check_seeds, parse_seeds

__all__ = ["TuneParam", "TuneSpec", "TuneResult", "tune", "objective_value", "metric_value"]

_INSTALL_HINT = "tuning needs Optuna: install it with `pip install -e .[tune]` (or `pip install optuna`)."


def metric_value(result, metric: str, aggregate: str = "median", *, output: str = "",
                 failure_weight: float = 1000.0) -> float:
    """Judge a sweep by one metric aggregated over its seeds.

    Parameters
    ----------
    result : SweepResult
        The sweep.
    metric : str
        ``"score"`` (see :func:`objective_value`), ``"success_rate"``, a
        top-level metric (``"control_effort"``), ``"<output>.<metric>"``
        (``"altitude.iae"``) or a per-output metric name alone (the sum over
        the outputs, per seed).
    aggregate : str, default "median"
        ``"median"``, ``"mean"``, ``"min"``, ``"max"`` or ``"pNN"`` (a percentile).
    output, failure_weight
        For ``"score"`` only.

    Returns
    -------
    float
        NaN when a seed has no finite value (e.g. a settling time that never
        happened, or a diverged run).

    Raises
    ------
    ParameterError
        If the metric does not exist in the result (the message lists them).
    """
    if metric == "score":
        return objective_value(result.summary(), output, failure_weight)
    if metric == "success_rate":
        return float(np.mean([bool(m.get("success")) for m in result.metrics]))
    first = result.metrics[0]
    outputs = first.get("outputs") or {}
    head, _, tail = metric.partition(".")
    if tail and head in outputs and tail in outputs[head]:
        values = [(m.get("outputs") or {}).get(head, {}).get(tail) for m in result.metrics]
    elif not tail and metric in first and metric != "outputs":
        values = [m.get(metric) for m in result.metrics]
    elif not tail and outputs and all(metric in per for per in outputs.values()):
        values = [sum(_num((m.get("outputs") or {}).get(name, {}).get(metric)) for name in outputs)
                  for m in result.metrics]
    else:
        names = ["score", "success_rate"] + [k for k, v in first.items() if k != "outputs" and _is_num(v)]
        names += [f"{o}.{k}" for o, per in outputs.items() for k, v in per.items() if _is_num(v)]
        raise ParameterError(f"`tune.objective` {metric!r} is not a metric of the result; use one of "
                             f"{', '.join(names)} (or a per-output name alone for the sum over outputs).")
    arr = np.array([_num(v) for v in values], dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        return math.nan
    if aggregate in ("median", "mean", "min", "max"):
        return float(getattr(np, aggregate)(arr))
    return float(np.percentile(arr, float(aggregate[1:])))


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(v) -> float:
    return float(v) if _is_num(v) or isinstance(v, bool) else math.nan


def objective_value(summary: dict, output: str = "", failure_weight: float = 1000.0) -> float:
    """Compute ``failure_weight * (1 - success_rate) + median IAE`` of a :meth:`SweepResult.summary`.

    Parameters
    ----------
    summary : dict
        A sweep summary.
    output : str, default ""
        The output whose median IAE counts ("" = the sum over all outputs).
    failure_weight : float, default 1000.0
        Weight of the failure rate.

    Returns
    -------
    float
        The objective (1e12 in place of a non-finite value).

    Raises
    ------
    ParameterError
        If ``output`` is not a controlled output of the sweep.
    """
    outputs = summary["outputs"]
    if output and output not in outputs:
        raise ParameterError(f"`tune.output` {output!r} is not a controlled output; the outputs are "
                             f"{', '.join(outputs)}.")
    names = [output] if output else list(outputs)
    iae = 0.0
    for name in names:
        med = outputs[name].get("iae", {}).get("median")
        iae += math.inf if med is None else float(med)
    value = failure_weight * (1.0 - summary["success_rate"]) + iae
    return value if math.isfinite(value) else 1e12


@dataclass(frozen=True, kw_only=True)
class TuneResult:
    """The outcome of :func:`tune`: the study's best so far and every trial.

    Attributes
    ----------
    study_name, storage : str
    best_params : dict
        Dotted scenario key -> value.
        With several objectives: those of the Pareto trial that is best in
        the first objective.
    best_value : float or tuple of float
        The objective (a tuple with several objectives).
    best_scenario : Scenario
        The scenario with the best values set.
    trials : tuple of dict
        ``number``, ``value`` (a list with several objectives), ``state``,
        ``params``, ``success_rate``, ``median_iae`` and ``metrics`` (each
        objective's value) of each trial of the study (earlier calls included).
    wall_time_s : float
        Wall time of this call.
    objectives, directions : tuple of str
        What was optimised, and how.
    pareto : tuple of dict
        The Pareto front (``number``, ``values``, ``params``), best first
        objective first; one entry for a single objective.
    study : optuna.Study or None
        The live study (for Optuna's plots); not saved.
    """

    study_name: str
    storage: str
    best_params: dict
    best_value: float | tuple
    best_scenario: object
    trials: tuple
    wall_time_s: float = 0.0
    objectives: tuple = ("score",)
    directions: tuple = ("minimize",)
    pareto: tuple = ()
    study: object = None

    def to_dict(self) -> dict:
        """Return a JSON-serialisable summary."""
        return {"study_name": self.study_name, "storage": self.storage, "objectives": list(self.objectives),
                "directions": list(self.directions), "best_params": self.best_params,
                "best_value": self.best_value, "pareto": list(self.pareto), "n_trials": len(self.trials),
                "wall_time_s": self.wall_time_s, "trials": list(self.trials)}

    def plot(self, path=None):
        """Plot the study with Optuna's matplotlib plots: the optimisation history, or the Pareto front of two.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the figure there (PNG).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import warnings

        optuna = _import_optuna()
        study = self.study if self.study is not None else optuna.load_study(study_name=self.study_name,
                                                                              storage=self.storage)
        names = list(self.objectives)
        with warnings.catch_warnings():   # Optuna marks its matplotlib plots experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if len(names) == 1:
                ax = optuna.visualization.matplotlib.plot_optimization_history(study, target_name=names[0])
            else:
                ax = optuna.visualization.matplotlib.plot_pareto_front(study, target_names=names)
        if path is not None:
            ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        return ax


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ModuleNotFoundError(_INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def tune(scenario, *, trials: int | None = None, storage: str | None = None, seeds=None, out=None,
         study_name: str | None = None, workers: int | None = None, sampler_seed: int | None = 0) -> TuneResult:
    """Tune the settings declared in a scenario's ``[tune]`` table with Optuna (TPE).

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
        Must hold a ``[tune]`` table.
    trials : int, optional
        New trials to run now; default ``tune.trials``. 0 only reports.
    storage : str, optional
        Optuna storage URL; default ``sqlite:///<out>/optuna.db``. Any RDB
        URL shared by several machines makes them work on one study.
    seeds : str or iterable of int, optional
        Seeds of each trial's sweep; default ``tune.seeds``.
    out : str or os.PathLike, optional
        Folder for the default storage, ``best.toml`` (the scenario with the
        best values) and ``tune.json``; default ``runs/tune-<scenario name>``.
    study_name : str, optional
        Default: the scenario name.
    workers : int, optional
        Processes of each trial's sweep (see :func:`neurocontrol.experiments.sweeps.sweep`).
    sampler_seed : int or None, default 0
        Seed of the TPE sampler (None: fresh entropy).

    Returns
    -------
    TuneResult

    Raises
    ------
    ScenarioError
        If the scenario has no ``[tune]`` table or a tuned key does not
        exist (checked before any trial runs).
    ModuleNotFoundError
        Without Optuna (with the install hint).
    """
    optuna = _import_optuna()
    sc = as_scenario(scenario)
    spec = getattr(sc, "tune", None)
    if spec is None:
        raise ScenarioError(f"{sc.source}: no [tune] table; declare the search space, e.g.\n[tune.params]\n"
                            "\"controller.law.move_penalty\" = {low = 2.0, high = 60.0, log = true}")
    n_new = spec.trials if trials is None else trials
    if isinstance(n_new, bool) or not isinstance(n_new, numbers.Integral) or n_new < 0:
        raise ParameterError(f"`trials` must be a non-negative integer, got {trials!r}.")
    seed_list = parse_seeds(spec.seeds) if seeds is None else \
        (parse_seeds(seeds) if isinstance(seeds, str) else check_seeds(seeds))
    for key, p in spec.params.items():   # every key must exist and accept every end of its range
        probes = p.choices if p.choices is not None else (p.low, p.high)
        for probe in probes:
            try:
                sc.set(key, probe)
            except ScenarioError as exc:
                raise ScenarioError(f"[tune.params] {key!r} = {probe!r} does not fit the scenario: {exc}") from None
    objectives, directions = spec.objectives, spec.directions
    folder = Path(out) if out is not None else Path("runs") / f"tune-{sc.name}"
    folder.mkdir(parents=True, exist_ok=True)
    if storage is None:
        storage = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    name = study_name or sc.name
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    study = optuna.create_study(study_name=name, storage=storage, directions=list(directions), sampler=sampler,
                                load_if_exists=True)
    worst = tuple(1e12 if d == "minimize" else -1e12 for d in directions)

    def objective(trial):
        trial_sc = sc
        for key, p in spec.params.items():
            trial_sc = trial_sc.set(key, p.suggest(trial, key))
        res = sweep(trial_sc, seed_list, workers=workers)
        values = [metric_value(res, o, spec.aggregate, output=spec.output, failure_weight=spec.failure_weight)
                  for o in objectives]
        values = [v if math.isfinite(v) else w for v, w in zip(values, worst)]
        summary = res.summary()
        trial.set_user_attr("success_rate", summary["success_rate"])
        trial.set_user_attr("median_iae", objective_value(summary, spec.output, 0.0))
        trial.set_user_attr("metrics", dict(zip(objectives, values)))
        trial.set_user_attr("seeds", list(seed_list))
        return values[0] if len(values) == 1 else tuple(values)

    t0 = time.perf_counter()
    if n_new:
        study.optimize(objective, n_trials=int(n_new))
    wall = time.perf_counter() - t0
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ParameterError(f"study {name!r} in {storage} has no completed trial yet; run with trials >= 1.")
    sign = 1.0 if directions[0] == "minimize" else -1.0
    front = sorted(study.best_trials, key=lambda t: (sign * t.values[0], t.number))
    best = front[0]
    best_sc = sc
    for key, value in best.params.items():
        best_sc = best_sc.set(key, value)
    multi = len(objectives) > 1
    rows = tuple({"number": t.number, "value": (list(t.values) if multi else t.value) if t.values else None,
                  "state": t.state.name, "params": dict(t.params), "success_rate": t.user_attrs.get("success_rate"),
                  "median_iae": t.user_attrs.get("median_iae"), "metrics": t.user_attrs.get("metrics")}
                 for t in study.trials)
    pareto = tuple({"number": t.number, "values": list(t.values), "params": dict(t.params)} for t in front)
    result = TuneResult(study_name=name, storage=storage, best_params=dict(best.params),
                        best_value=tuple(best.values) if multi else float(best.value), best_scenario=best_sc,
                        trials=rows, wall_time_s=wall, objectives=objectives, directions=directions, pareto=pareto,
                        study=study)
    atomic_write(folder / "best.toml", best_sc.to_toml())
    atomic_write(folder / "tune.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result
