"""The ``[ilc]`` table of a scenario file: its law from the spec and the trials of a scenario run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from neurocontrol.exceptions import ScenarioError
from neurocontrol.ilc.laws import AbstractILCLaw, PTypeILC
from neurocontrol.ilc.runner import ILCRunner

__all__ = ["run_ilc_scenario"]


def _law_from_spec(spec, output_names) -> AbstractILCLaw:
    """The ILC law of a scenario's ``[ilc]`` table.

    ``law = "p"``: :class:`PTypeILC` with ``gains`` keys ``gain`` (all
    outputs) or ``gain_<output>`` per output (default 1.0), ``lead`` (steps,
    default 30) and ``q_cutoff_hz`` (default 1.5; 0 disables the Q filter).
    """
    gains = dict(spec.gains)
    allowed = {"gain", "lead", "q_cutoff_hz"} | {f"gain_{n}" for n in output_names}
    unknown = sorted(set(gains) - allowed)
    if unknown:
        raise ScenarioError(f"`ilc.gains` has unknown keys {unknown}; allowed: {sorted(allowed)}.")
    base = float(gains.get("gain", 1.0))
    per_output = [float(gains.get(f"gain_{n}", base)) for n in output_names]
    lead = gains.get("lead", 30)
    if float(lead) != int(lead) or int(lead) < 1:
        raise ScenarioError(f"`ilc.gains.lead` must be a whole number of steps >= 1, got {lead!r}.")
    cutoff = float(gains.get("q_cutoff_hz", 1.5))
    return PTypeILC(per_output, lead=int(lead), q_cutoff_hz=cutoff if cutoff > 0 else None)


def run_ilc_scenario(scenario, setup, *, duration, seed, options, tolerance, final_window_s, events=(),
                     callback=None, progress=False, meta=None):
    """Runner of scenarios with an ``[ilc]`` table: repeated trials from the same initial state.

    Returns the **last** trial's :class:`~neurocontrol.results.Result`, its
    metrics extended by ``metrics["ilc"]``: ``trials``, ``status``,
    ``rms_error`` (per output, one value per trial), ``max_error`` and
    ``last_over_first`` (per output, RMS of the last trial over the first).
    Timed events are not supported in ILC scenarios (every trial must be the
    same task).
    """
    if events:
        raise ScenarioError(f"{scenario.source}: [[events]] cannot be combined with [ilc] (every trial must repeat "
                            "the same task); remove one of them.")
    spec = scenario.ilc
    if spec.law != "p":
        raise ScenarioError(f"{scenario.source}: `ilc.law` must be 'p' (P-type with Q-filter) in scenario files, "
                            f"got {spec.law!r}; use neurocontrol.ilc from Python for the gradient law.")
    opts = dict(options or {})
    x0 = opts.pop("initial_state", None)
    if x0 is None:
        obs, _ = setup.env.reset(seed=seed, options=opts or None)
        x0 = np.asarray(getattr(setup.env.unwrapped, "state", obs), dtype=float)
    from neurocontrol.simulation.loop import signal_names

    names = tuple(signal_names(setup.env, setup.controller.output_indices)["output_names"] or
                  (f"y{i}" for i in range(len(setup.controller.output_indices))))
    law = _law_from_spec(spec, names)
    runner = ILCRunner(setup.env, setup.controller, setup.reference, law=law, trials=spec.trials, duration=duration,
                       initial_state=x0, seed=seed, channel="reference", options=opts or None, callback=None)
    res = runner.run()
    if isinstance(tolerance, Mapping):
        tolerance = [tolerance[n] for n in res.output_names]
    elif tolerance is None:
        tolerance = 0.01 * np.max(np.abs(res.last_trial.references), axis=0)
    last = res.last_trial.with_metrics(tolerance=tolerance, final_window_s=final_window_s)
    errors = np.asarray(res.errors)
    ilc = {"trials": int(errors.shape[0]), "status": res.status, "law": repr(law),
           "rms_error": {n: errors[:, i].tolist() for i, n in enumerate(res.output_names)},
           "max_error": {n: np.asarray(res.max_errors)[:, i].tolist() for i, n in enumerate(res.output_names)},
           "last_over_first": {n: float(errors[-1, i] / errors[0, i]) if errors[0, i] > 0 else None
                               for i, n in enumerate(res.output_names)}}
    metrics = dict(last.metrics)
    metrics["ilc"] = ilc
    new_meta = dict(last.meta)
    new_meta.update(dict(meta or {}))
    new_meta["ilc"] = ilc
    return dataclasses.replace(last, metrics=metrics, meta=new_meta)


