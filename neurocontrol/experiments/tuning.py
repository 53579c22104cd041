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
(an index selects one entry of an array). Each trial sets the sampled
values, runs :func:`neurocontrol.experiments.sweeps.sweep` over the seeds and minimises

    ``failure_weight * (1 - success_rate) + median IAE``

so the success rate ranks first and the IAE breaks ties. The study lives in
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

from neurocontrol._files import atomic_write
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.experiments.sweeps import sweep
from neurocontrol.scenario import TuneParam, TuneSpec, as_scenario, check_seeds, parse_seeds

__all__ = ["TuneParam", "TuneSpec", "TuneResult", "tune", "objective_value"]

_INSTALL_HINT = "tuning needs Optuna: install it with `pip install -e .[tune]` (or `pip install optuna`)."


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
    best_value : float
    best_scenario : Scenario
        The scenario with the best values set.
    trials : tuple of dict
        ``number``, ``value``, ``state``, ``params`` and the ``success_rate``
        and ``median_iae`` of each trial of the study (earlier calls included).
    wall_time_s : float
        Wall time of this call.
    """

    study_name: str
    storage: str
    best_params: dict
    best_value: float
    best_scenario: object
    trials: tuple
    wall_time_s: float = 0.0

    def to_dict(self) -> dict:
        """Return a JSON-serialisable summary."""
        return {"study_name": self.study_name, "storage": self.storage, "best_params": self.best_params,
                "best_value": self.best_value, "n_trials": len(self.trials), "wall_time_s": self.wall_time_s,
                "trials": list(self.trials)}


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
    for key, p in spec.params.items():   # every key must exist and accept its range
        probe = p.choices[0] if p.choices is not None else p.low
        sc.set(key, probe)
    folder = Path(out) if out is not None else Path("runs") / f"tune-{sc.name}"
    folder.mkdir(parents=True, exist_ok=True)
    if storage is None:
        storage = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    name = study_name or sc.name
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize", sampler=sampler,
                                load_if_exists=True)

    def objective(trial):
        trial_sc = sc
        for key, p in spec.params.items():
            trial_sc = trial_sc.set(key, p.suggest(trial, key))
        res = sweep(trial_sc, seed_list, workers=workers)
        summary = res.summary()
        value = objective_value(summary, spec.output, spec.failure_weight)
        trial.set_user_attr("success_rate", summary["success_rate"])
        trial.set_user_attr("median_iae", value - spec.failure_weight * (1.0 - summary["success_rate"]))
        trial.set_user_attr("seeds", list(seed_list))
        return value

    t0 = time.perf_counter()
    if n_new:
        study.optimize(objective, n_trials=int(n_new))
    wall = time.perf_counter() - t0
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ParameterError(f"study {name!r} in {storage} has no completed trial yet; run with trials >= 1.")
    best = study.best_trial
    best_sc = sc
    for key, value in best.params.items():
        best_sc = best_sc.set(key, value)
    rows = tuple({"number": t.number, "value": t.value, "state": t.state.name, "params": dict(t.params),
                  "success_rate": t.user_attrs.get("success_rate"), "median_iae": t.user_attrs.get("median_iae")}
                 for t in study.trials)
    result = TuneResult(study_name=name, storage=storage, best_params=dict(best.params), best_value=float(best.value),
                        best_scenario=best_sc, trials=rows, wall_time_s=wall)
    atomic_write(folder / "best.toml", best_sc.to_toml())
    atomic_write(folder / "tune.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result
