"""Fault scenarios over many seeds: non-finite actions, limit violations and recovery to the success band.

For each shipped fault scenario and seeds 0..N-1 (default 100), the run goes
through :func:`neurocontrol.simulation.loop.simulate` with an outermost monitor
wrapper on the env that sees every action the controller sends (before any
fault wrapper) and the *true* plant state (``info["state"]``, not the faulty
measurement). Per run:

* non-finite actions: actions with NaN/inf that reached the env, plus runs
  stopped because the controller diverged (the controller raises instead of
  returning one);
* limit violations: actions outside the env's action space;
* recovery: the true rotor speed and altitude enter the scenario's success
  band (``run.tolerance``) no later than ``t_clear + allowed`` and stay in it
  to the end of the run, where ``t_clear`` is when the fault clears (for a
  persistent fault: its onset) and ``allowed`` 10 s (15 s for a persistent
  loss of effectiveness).

    python benchmarks/bench_faults.py                  # 100 seeds, 2 processes
    python benchmarks/bench_faults.py --seeds 10 --only fault_actuator_loss
    python benchmarks/bench_faults.py --only fault_stuck_actuator --set controller.outlier_gate=4
    python benchmarks/bench_faults.py --controller neural --seeds 20 --workers 2

A full run (every scenario, no ``--set``) writes ``benchmarks/records/faults.json``,
from which ``docs/make_tables.py`` makes the fault tables of README.md and
docs/reliability.md.

``--controller neural`` flies the same fault scenarios with each one's
``[controller]`` table replaced by the ``[controller]`` table of
``scenarios/neural_hover.toml`` (the neural predictive controller; same plant,
signal ranges and warm-up; the faults, events, reference and run settings of
the fault scenario are kept). In ``guarded_actuator_loss`` the table replaces
the guard's ``[controller.inner]`` (the guard's settings and its LQR fallback
are kept): the neural controller under guard. Controller settings that a
fault scenario gives beyond the ``[controller]`` of
``scenarios/helicopter_hover.toml`` are carried over when the neural kind has a
key of the same name (note that a same-named key may mean something else:
``outlier_gate`` is the identifier's error-ratio gate for the adaptive kind, an
EKF innovation gate in predicted standard deviations for the neural kind) and
dropped otherwise; the run prints both lists, and a ``--set controller.KEY``
that the neural kind does not have is dropped the same way. The shipped fault
scenarios set no such keys. A full neural run (every scenario, no ``--set``)
writes ``benchmarks/records/faults_neural.json`` (the same figures, plus the
controller and its source).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import write_record  # noqa: E402
from _swap import swap_controller  # noqa: E402

#: scenario -> (t_clear s, allowed s): when the fault clears (onset if persistent) and the recovery allowance.
CASES = {
    "fault_actuator_loss": (15.0, 15.0),
    "fault_stuck_actuator": (17.0, 10.0),
    "fault_sensor_bias": (15.0, 10.0),
    "fault_sensor_noise": (15.0, 10.0),
    "fault_sensor_dropout": (0.0, 10.0),
    "fault_measurement_delay": (0.0, 10.0),
    "fault_parameter_drift": (30.0, 10.0),
    "guarded_actuator_loss": (15.0, 15.0),
}

#: controller kind -> (record name, shipped scenario whose [controller] table replaces the fault scenario's, or None)
CONTROLLERS = {"adaptive": ("faults", None), "neural": ("faults_neural", "neural_hover")}
#: the [controller] table the fault scenarios were written from (their own settings are what differs from it)
BASELINE = "helicopter_hover"
#: scenario -> why the neural kind does not fly it (none since the guard wraps the neural controller too)
SKIP_NEURAL: dict = {}


def scenario_for(name: str, controller: str = "adaptive"):
    """The shipped fault scenario ``name`` as flown by ``controller``, and the swap report (None: not swapped).

    Parameters
    ----------
    name : str
        A key of :data:`CASES`.
    controller : str, default "adaptive"
        A key of :data:`CONTROLLERS`.

    Raises
    ------
    ScenarioError
        If ``name`` is not a fault scenario of the benchmark, the controller
        kind is unknown, or the kind skips that scenario.
    """
    from neurocontrol.exceptions import ScenarioError
    from neurocontrol.scenario import Scenario

    if name not in CASES:
        raise ScenarioError(f"{name!r} is not a fault scenario of this benchmark; choose from {', '.join(CASES)}.")
    if controller not in CONTROLLERS:
        raise ScenarioError(f"unknown controller {controller!r}; choose from {', '.join(CONTROLLERS)}.")
    sc = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml")
    source = CONTROLLERS[controller][1]
    if source is None:
        return sc, None
    if controller == "neural" and name in SKIP_NEURAL:
        raise ScenarioError(f"{name} is not flown by the neural kind: {SKIP_NEURAL[name]}.")
    table = Scenario.from_toml(ROOT / "scenarios" / f"{source}.toml").to_dict()["controller"]
    baseline = Scenario.from_toml(ROOT / "scenarios" / f"{BASELINE}.toml").to_dict()["controller"]
    data = sc.to_dict()
    if data["controller"]["kind"] != "guarded":
        return swap_controller(sc, table, baseline=baseline)
    # under guard: the learning controller inside it is swapped, the guard's settings and fallback are kept
    own = {"kind": "adaptive", **data["controller"]["inner"]}          # the inner table's default kind
    inner = Scenario.from_dict({**data, "controller": own}, source=sc.source, default_name=sc.name)
    swapped, report = swap_controller(inner, table, baseline=baseline)
    data["controller"]["inner"] = swapped.to_dict()["controller"]
    return Scenario.from_dict(data, source=sc.source, default_name=sc.name), report


class Monitor(gym.Wrapper):
    """Counts bad actions from the controller and records the true controlled outputs."""

    def __init__(self, env, output_indices):
        super().__init__(env)
        self.low = np.asarray(env.action_space.low, dtype=float)
        self.high = np.asarray(env.action_space.high, dtype=float)
        self.out = list(output_indices)
        self.nonfinite = 0
        self.violations = 0
        self.true_outputs = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.true_outputs = [np.asarray(info["state"])[self.out].copy()]
        return obs, info

    def step(self, action):
        a = np.asarray(action, dtype=float)
        if not np.all(np.isfinite(a)):
            self.nonfinite += 1
        elif np.any(a < self.low) or np.any(a > self.high):
            self.violations += 1
        out = self.env.step(action)
        self.true_outputs.append(np.asarray(out[4]["state"])[self.out].copy())
        return out


def run_one(job):
    """One run: ``job`` is ``(scenario name, seed, overrides[, controller])``; returns its figures.

    Parameters
    ----------
    job : tuple
        Scenario name (a key of :data:`CASES`), seed, ``((key, value), ...)``
        applied with ``Scenario.set``, and optionally the controller kind (a
        key of :data:`CONTROLLERS`, default ``"adaptive"``).
    """
    name, seed, overrides = job[:3]
    controller = job[3] if len(job) > 3 else "adaptive"
    from neurocontrol.simulation.loop import simulate

    sc, _ = scenario_for(name, controller)
    for key, value in overrides:
        sc = sc.set(key, value)
    setup = sc.build(seed)
    env = Monitor(setup.env, setup.controller.output_indices)
    t0 = time.perf_counter()
    res = simulate(env, setup.controller, setup.reference, duration=sc.run.duration, seed=setup.seed,
                   options=setup.options, events=setup.events, tolerance=dict(sc.run.tolerance))
    wall = time.perf_counter() - t0
    y = np.array(env.true_outputs)
    refs = res.references[: len(y)]
    tol = np.array([sc.run.tolerance[n] for n in res.output_names])
    inside = np.all(np.abs(y - refs) <= tol, axis=1)
    t = res.time[: len(y)]
    t_clear, allowed = CASES[name]
    # first time from which the outputs stay in the band to the end
    outside_idx = np.flatnonzero(~inside)
    t_in = 0.0 if outside_idx.size == 0 else (t[outside_idx[-1] + 1] if outside_idx[-1] + 1 < len(t) else math.inf)
    completed = res.status == "completed"
    recovered = completed and t_in <= t_clear + allowed
    diverged = res.status == "failed" and "diverged" in str(res.meta.get("stop_reason"))
    modes = res.meta.get("mode_fractions", {})
    return {"scenario": name, "seed": seed, "status": res.status, "recovered": bool(recovered),
            "recovery_s": (t_in - t_clear) if math.isfinite(t_in) else None,
            "nonfinite": env.nonfinite + int(diverged), "violations": env.violations,
            "fallback_fraction": modes.get("fallback", 0.0), "wall_s": wall}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None, help="scenario names (default: all)")
    ap.add_argument("--controller", choices=list(CONTROLLERS), default="adaptive",
                    help="controller kind: the scenarios' own (adaptive) or the [controller] of "
                         "scenarios/neural_hover.toml (neural; in guarded_actuator_loss, inside the guard)")
    ap.add_argument("--json", metavar="FILE", help="write every run's record to FILE")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a scenario value in every run (TOML value), e.g. controller.outlier_gate=4")
    args = ap.parse_args(argv)
    names = args.only or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(CASES)}")
    overrides = tuple(tuple(kv.split("=", 1)) for kv in args.set)
    if any(len(kv) != 2 for kv in overrides):
        ap.error("--set takes KEY=VALUE, e.g. --set controller.outlier_gate=4")
    run_overrides, skipped, swaps = overrides, {}, {}
    if args.controller != "adaptive":
        names, run_overrides, skipped, swaps = _prepare_swap(ap, args.controller, names, overrides)
    jobs = [(n, s, run_overrides) + ((args.controller,) if args.controller != "adaptive" else ())
            for n in names for s in range(args.seeds)]
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        rows = list(pool.map(run_one, jobs, chunksize=4))
    print(f"{len(jobs)} runs in {time.perf_counter() - t0:.0f} s ({args.workers} processes)\n")
    print(f"{'scenario':<26}{'recovered':>12}{'non-finite':>12}{'limit viol.':>12}{'median rec. s':>15}"
          f"{'max rec. s':>12}{'failed':>8}")
    summary = {}
    for n in names:
        rs = [r for r in rows if r["scenario"] == n]
        rec = [r["recovery_s"] for r in rs if r["recovery_s"] is not None]
        s = {"n": len(rs), "recovered": sum(r["recovered"] for r in rs), "nonfinite": sum(r["nonfinite"] for r in rs),
             "violations": sum(r["violations"] for r in rs),
             "median_recovery_s": float(np.median(rec)) if rec else None,
             "max_recovery_s": float(np.max(rec)) if rec else None,
             "failed": sum(r["status"] == "failed" for r in rs),
             "not_recovered_seeds": [r["seed"] for r in rs if not r["recovered"]]}
        summary[n] = s
        med = "-" if s["median_recovery_s"] is None else f"{s['median_recovery_s']:.2f}"
        mx = "-" if s["max_recovery_s"] is None else f"{s['max_recovery_s']:.2f}"
        print(f"{n:<26}{s['recovered']:>8}/{s['n']:<3}{s['nonfinite']:>12}{s['violations']:>12}{med:>15}{mx:>12}"
              f"{s['failed']:>8}")
        if s["not_recovered_seeds"]:
            print(f"{'':<26}not recovered: seeds {s['not_recovered_seeds'][:20]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": rows}, indent=1))
    ok = all(s["nonfinite"] == 0 and s["violations"] == 0 and s["recovered"] >= 0.9 * s["n"] for s in summary.values())
    if args.only is None and not overrides and args.controller == "adaptive":
        write_record("faults", command=f"python benchmarks/bench_faults.py --seeds {args.seeds} --workers "
                     f"{args.workers}", scenarios=names, figures={"summary": summary, "cases": CASES},
                     wall_s=time.perf_counter() - t0, seeds=args.seeds, workers=args.workers)
    elif args.only is None and not overrides:
        record, source = CONTROLLERS[args.controller]
        write_record(record, command=f"python benchmarks/bench_faults.py --controller {args.controller} --seeds "
                     f"{args.seeds} --workers {args.workers}", scenarios=[*names, source, BASELINE],
                     figures={"summary": summary, "cases": {n: CASES[n] for n in names}},
                     wall_s=time.perf_counter() - t0, seeds=args.seeds, workers=args.workers,
                     controller=args.controller, controller_table=f"scenarios/{source}.toml", skipped=skipped,
                     swap=swaps)
    print("\ntargets (0 non-finite, 0 violations, >= 90 % recovered):", "met" if ok else "NOT met")
    return 0 if ok else 1


def _prepare_swap(ap, controller, names, overrides):
    """Drop the scenarios the kind skips, report each swap, drop ``--set controller.*`` keys the kind lacks."""
    from neurocontrol.exceptions import ScenarioError

    skipped = {n: SKIP_NEURAL[n] for n in names if controller == "neural" and n in SKIP_NEURAL}
    for n, why in skipped.items():
        print(f"skipped {n} for the {controller} kind: {why}")
    names = [n for n in names if n not in skipped]
    if not names:
        ap.error(f"no scenario left to fly with the {controller} kind")
    swaps, kept = {}, []
    for n in names:
        sc, report = scenario_for(n, controller)
        swaps[n] = {"carried": [list(kv) for kv in report.carried], "dropped": [k for k, _ in report.dropped]}
        print(f"{n}: {report.describe()}")
        for key, why in report.dropped:
            print(f"    dropped controller.{key}: {why}")
    for key, value in overrides:
        try:
            for n in names:
                sc, _ = scenario_for(n, controller)
                sc.set(key, value)
        except ScenarioError as exc:
            if not key.startswith("controller."):
                ap.error(str(exc))
            print(f"--set {key}={value} dropped: the {controller} kind has no such setting ({exc})")
        else:
            kept.append((key, value))
    print()
    return names, tuple(kept), skipped, swaps


if __name__ == "__main__":
    sys.exit(main())
