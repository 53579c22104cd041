"""Ablation of the neural predictive controller against the shipped adaptive controller, LQR and PID.

Run:  python benchmarks/bench_ablation.py [--seeds 20] [--workers 2] [--scenarios hover,staircase,...]
      [--rows neural,lqr,...] [--record NAME] [--quick]

Rows (controllers): the neural controller (``[controller] kind = "neural"``,
online RTRN identifier and imitator, H = 8); the same with the reference
model's exact response in place of the imitator's prediction; the same with
linear networks (H = 0, i.e. ``learning_rule = "rls"``); the same trained by
the RTRL gradient rule (``learning_rule = "rtrl_gradient"``);
the same with learning frozen at the end of the warm-up (at the change in the
plant-change scenario); the shipped adaptive controller; LQR; PID.
Scenarios: hover, the altitude staircase, an altitude sine at 0.3 Hz, plant
parameters off nominal, sensor noise doubled, and three plant changes at 15 s
unknown to every controller: rotor drag +30 % (``plant_change``), thrust -20 %
(``thrust_change``), collective-servo effectiveness -30 % (``servo_loss``, the
fault scenario's actuator loss).
Each row flies the same seeds of the same scenario (same plant, initial
state, noise); the neural rows get the reference as a function of time
(preview). Columns: success rate, RMSE per output (over the whole run, and
after the change for the plant-change scenario), altitude IAE, median control
step in microseconds; under sensor noise also the success judged on the true
(noiseless) outputs, ``success_true_rate``. Prints a table and writes the record
``benchmarks/records/ablation.json`` (command, commit, machine, figures), or
``benchmarks/records/NAME.json`` with ``--record NAME``. With ``--workers K``
the runs are spread over K processes (results are per seed, so the figures do
not depend on K; step times do, through the machine's load).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import dataclasses  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import json_safe, write_record  # noqa: E402  (benchmarks are scripts, not a package)

from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier  # noqa: E402
from neurocontrol.scenario.core import Scenario  # noqa: E402
from neurocontrol.simulation.loop import simulate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SC = ROOT / "scenarios"
CHANGE_TIME = 15.0   # s, the plant change of the CHANGES scenarios (and the actuator loss's onset)

#: scenario name -> (file with the adaptive controller, file of the neural variant or None: swap the controller)
SCENARIOS = {
    "hover": ("helicopter_hover.toml", "neural_hover.toml"),
    "staircase": ("altitude_staircase.toml", None),
    "sine_0.3Hz": (None, "neural_sine_fast.toml"),
    "off_nominal": (None, "neural_off_nominal.toml"),
    "noise_x2": (None, "neural_noise_doubled.toml"),
    "plant_change": ("rotor_drag_change.toml", None),
    "thrust_change": ("thrust_change.toml", None),
    "servo_loss": ("fault_actuator_loss.toml", None),
}
#: scenarios whose RMSE is taken after CHANGE_TIME and whose "frozen" row freezes learning there
CHANGES = ("plant_change", "thrust_change", "servo_loss")
ROWS = ("neural", "neural exact", "neural H=0", "neural gradient", "neural frozen", "adaptive", "lqr", "pid")


def controller_tables():
    """The [controller] tables of the rows, from the shipped hover scenarios."""
    neural = Scenario.from_toml(SC / "neural_hover.toml").to_dict()["controller"]
    adaptive = Scenario.from_toml(SC / "helicopter_hover.toml").to_dict()["controller"]
    return {"neural": neural, "adaptive": adaptive, "lqr": {"kind": "lqr"}, "pid": {"kind": "pid"}}


def scenario_for(name: str, row: str, tables) -> Scenario:
    """The scenario ``name`` flown by ``row``."""
    adaptive_file, neural_file = SCENARIOS[name]
    base = Scenario.from_toml(SC / (neural_file or adaptive_file))
    data = base.to_dict()
    if row == "adaptive" and adaptive_file is not None:
        return Scenario.from_toml(SC / adaptive_file)
    if row.startswith("neural"):
        ctrl = dict(data["controller"]) if data["controller"].get("kind") == "neural" else dict(tables["neural"])
        if row == "neural H=0":
            ctrl["n_hidden"] = 0
        elif row == "neural exact":
            ctrl["imitator"] = "exact"
        elif row == "neural gradient":
            ctrl["learning_rule"] = "rtrl_gradient"
        elif row == "neural frozen":
            ctrl["learning_until"] = CHANGE_TIME if name in CHANGES else float(ctrl.get("warmup_duration",
                                                                                              1.0))
    else:
        ctrl = dict(tables[row])
    data["controller"] = ctrl
    return Scenario.from_dict(data, source=f"{name}:{row}", default_name=name)


def fly(sc: Scenario, seed: int, *, with_controller: bool = False):
    """One run; returns the Result (and the controller, if asked)."""
    s = sc.build(seed)
    if hasattr(s.controller, "set_preview"):
        s.controller.set_preview(s.reference)
    if with_controller:
        return fly_built(s), s.controller
    return fly_built(s)


def fly_built(s):
    """Fly a built scenario."""
    return simulate(s.env, s.controller, s.reference, duration=s.run.duration, seed=s.seed, options=s.options,
                    tolerance=dict(s.run.tolerance) or None, final_window_s=s.run.final_window_s, events=s.events)


def figures(res, post_change: bool):
    """Success (and on the true outputs under sensor noise), RMSE per output (after the change if asked),
    altitude IAE, median step us."""
    m = res.metrics
    names = list(res.output_names)
    e = np.asarray(res.outputs) - np.asarray(res.references)
    t = np.asarray(res.time)
    sel = t >= CHANGE_TIME if post_change else np.ones(t.shape, bool)
    with np.errstate(invalid="ignore", over="ignore"):    # a run stopped before the change has no post-change RMSE
        rmse = np.sqrt(np.mean(e[sel] ** 2, axis=0)) if sel.any() else np.full(e.shape[1], np.nan)
    true = {"success_true": bool(m["noiseless"]["success"]) and res.status == "completed"} \
        if "noiseless" in m else {}          # under sensor noise: success judged on the true outputs too
    return {"success": bool(m["success"]) and res.status == "completed", **true,
            "rmse": {n: float(rmse[i]) for i, n in enumerate(names)},
            "iae": {n: m["outputs"][n]["iae"] for n in names},
            "step_us": m["control_step_us"]}


def heldout_freerun(res, ctrl):
    """50-step free-run altitude error (m) on the run's last third of identifiers trained on its first two thirds.

    The controller's identifier structure and rule (trained as the controller
    trains it: blended regressor, noise-scaled R, ``bench_identifier.train``),
    and linear least squares (no hidden units, no forgetting), each make one
    online pass over the measured transitions of the first two thirds, are frozen, and free-run
    50 steps on the recorded inputs from every 10th step of the last third
    (hidden state teacher-forced; bench_identifier's protocol, against the
    measurement). Returns ``{"default": m, "linear": m}`` (None if a
    prediction left the declared ranges).
    """
    from bench_identifier import evaluate, train

    y, u = np.asarray(res.observations), np.asarray(res.inputs)
    cfg = ctrl.identifier.config
    if cfg.n_inputs != u.shape[1] or u.shape[0] < 300:
        return None
    k = 2 * u.shape[0] // 3
    out = {}
    lin_cfg = dataclasses.replace(cfg, n_hidden=0)
    lin_rule = DecoupledEKF(measurement_noise=ctrl._rule.measurement_noise, output_covariance=1.0)
    for label, c, rule in (("default", cfg, ctrl._rule), ("linear", lin_cfg, lin_rule)):
        ident = IncrementalIdentifier(c, rule, rng=0)
        train(ident, y[:k + 1], u[:k], as_controller=label == "default")
        rms, bad = evaluate(c, np.array(ident.weights), y[k:], y[k:], u[k:])
        out[label] = None if bad else float(rms[1])
    return out


def run_job(job):
    """One (scenario, row, seed) run in a worker; a crashed run counts as a failure, with its reason."""
    name, row, seed = job
    try:
        res, ctrl = fly(scenario_for(name, row, controller_tables()), seed, with_controller=True)
        out = figures(res, name in CHANGES)
        if row == "neural" and res.status == "completed":
            out["freerun_altitude"] = heldout_freerun(res, ctrl)
        return out
    except Exception as exc:  # noqa: BLE001
        return {"success": False, "rmse": {}, "iae": {}, "step_us": None, "error": repr(exc)}


def _freerun_median(runs):
    """Median held-out free-run altitude error, default and linear, and their median ratio (None: not measured)."""
    pairs = [r["freerun_altitude"] for r in runs if r.get("freerun_altitude")]
    pairs = [p for p in pairs if p["default"] is not None and p["linear"] is not None and p["linear"] > 0]
    if not pairs:
        return None
    return {"default": _median([p["default"] for p in pairs]), "linear": _median([p["linear"] for p in pairs]),
            "ratio": _median([p["default"] / p["linear"] for p in pairs]), "n": len(pairs)}


def _median(values):
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--quick", action="store_true", help="2 seeds, for a smoke test (no record written)")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ap.add_argument("--record", default="ablation", help="record name under benchmarks/records (default ablation)")
    args = ap.parse_args(argv)
    seeds = list(range(2 if args.quick else args.seeds))
    names, rows = args.scenarios.split(","), args.rows.split(",")
    bad = [n for n in names if n not in SCENARIOS] + [r for r in rows if r not in ROWS]
    if bad:
        ap.error(f"unknown scenario or row {bad[0]!r}; scenarios: {', '.join(SCENARIOS)}; rows: {', '.join(ROWS)}")
    out = {}
    t_start = time.time()
    jobs = [(name, row, seed) for name in names for row in rows for seed in seeds]
    if args.workers > 1:
        ctx = multiprocessing.get_context("forkserver")
        with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
            results = dict(zip(jobs, pool.map(run_job, jobs, chunksize=4)))
    else:
        results = None
    for name in names:
        out[name] = {}
        for row in rows:
            runs = [results[(name, row, seed)] if results is not None else run_job((name, row, seed))
                    for seed in seeds]
            outs = sorted({k for r in runs for k in r["rmse"]})
            agg = {"success_rate": float(np.mean([r["success"] for r in runs])),
                   **({"success_true_rate": float(np.mean([r.get("success_true", False) for r in runs]))}
                      if any("success_true" in r for r in runs) else {}),
                   "rmse_median": {k: _median([r["rmse"].get(k) for r in runs]) for k in outs},
                   "iae_median": {k: _median([r["iae"].get(k) for r in runs]) for k in outs},
                   "step_us_median": _median([r["step_us"] for r in runs]),
                   "freerun_altitude_median": _freerun_median(runs),
                   "errors": [r["error"] for r in runs if "error" in r][:3],
                   "per_seed": runs}
            out[name][row] = agg
            rm = "  ".join(f"{k} {v:.4g}" for k, v in agg["rmse_median"].items() if v is not None)
            fr = agg["freerun_altitude_median"]
            fr_txt = "" if fr is None else (f"  50-step alt {fr['default']:.3g} m vs linear {fr['linear']:.3g} "
                                            f"(ratio {fr['ratio']:.2f}, n={fr['n']})")
            true = f" (true outputs {100 * agg['success_true_rate']:5.1f} %)" if "success_true_rate" in agg else ""
            print(f"{name:13s} {row:14s} success {100 * agg['success_rate']:5.1f} %{true}  rmse {rm}  "
                  f"alt IAE {agg['iae_median'].get('altitude') or float('nan'):.3f}  "
                  f"step {agg['step_us_median'] or float('nan'):.1f} us{fr_txt}", flush=True)
    elapsed = time.time() - t_start
    print(f"wall time {elapsed:.0f} s")
    if args.quick or args.no_record:
        return out
    files = {f for n in names for f in SCENARIOS[n] if f} | {"neural_hover.toml", "helicopter_hover.toml"}
    write_record(args.record, command="python benchmarks/bench_ablation.py " + " ".join(
                     argv if argv is not None else sys.argv[1:]),
                 scenarios=sorted(Path(f).stem for f in files), figures={"results": json_safe(out)},
                 wall_s=elapsed, seeds=seeds)
    return out


if __name__ == "__main__":
    main()
