"""Quality benchmark of the adaptive controller on the helicopter (printed table, no assertions).

Runs the issue's targets on identical seeds through the public sweep API:

* hover (``scenarios/helicopter_hover.toml``), seeds 0-99, adaptive vs LQR vs PID:
  success count, median settling time (the later of the two outputs), altitude IAE
  mean/median and the adaptive/LQR IAE ratio (targets: >= 95/100 successes, median
  settling <= 10 s, IAE ratio <= 1.5, goal 1.0);
* robustness, seeds 0-99: rotor drag +30 % at t = 15 s and a 4 m/s^2 downward gust
  at t = 15 s; "recovered within 10 s" = back in the success band over the last 5 s
  (t >= 25 s) (target >= 90/100);
* the faithful one-step law on the hover task (seeds 0-19), measured, not a target;
* the ILC staircase (trial 10 RMS altitude error / trial 1; target <= 30 %).

Run: ``python benchmarks/bench_hover_sweep.py [--seeds 100] [--workers 2]`` (about 10 min on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neurocontrol.experiments.sweeps import compare, sweep
from neurocontrol.scenario import Scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent / "scenarios"


def _settle(run):
    outs = run["outputs"]
    times = [outs[n]["settling_time"] for n in outs]
    return np.inf if any(t is None for t in times) or not run["success"] else max(times)


def _runs(sweep_result):
    return list(sweep_result.metrics)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    seeds = range(args.seeds)
    t0 = time.perf_counter()

    cmp = compare(ROOT / "helicopter_hover.toml", ["adaptive", "lqr", "pid"], seeds, workers=args.workers)
    print(f"hover task, seeds 0-{args.seeds - 1} (identical initial states per seed)")
    print(f"{'controller':<10} {'success':>8} {'settle med s':>13} {'alt IAE mean':>13} {'alt IAE med':>12} "
          f"{'step us med':>12}")
    iae = {}
    for kind, res in cmp.sweeps.items():
        runs = _runs(res)
        ok = sum(bool(r["success"]) for r in runs)
        a = np.array([r["outputs"]["altitude"]["iae"] for r in runs])
        iae[kind] = a
        st = np.median([_settle(r) for r in runs])
        us = np.median([r["control_step_us"] for r in runs])
        print(f"{kind:<10} {ok:>5}/{len(runs):<3} {st:>12.2f} {a.mean():>13.4f} {np.median(a):>12.4f} {us:>12.1f}")
    ratio = iae["adaptive"] / iae["lqr"]
    print(f"altitude IAE adaptive / LQR: mean of ratios {ratio.mean():.3f}, ratio of means "
          f"{iae['adaptive'].mean() / iae['lqr'].mean():.3f}, seeds with ratio <= 1.5: {(ratio <= 1.5).sum()}, "
          f"<= 1.0: {(ratio <= 1.0).sum()}")

    for name in ("rotor_drag_change", "vertical_gust"):
        runs = _runs(sweep(ROOT / f"{name}.toml", seeds, workers=args.workers))
        ok = sum(bool(r["success"]) for r in runs)
        bad = sum(int(r["nonfinite_actions"]) for r in runs)
        print(f"{name}: recovered within 10 s in {ok}/{len(runs)} seeds, non-finite actions {bad}")

    one = _runs(sweep(ROOT / "hover_one_step_law.toml", range(min(20, args.seeds)), workers=args.workers))
    fe = np.array([r["outputs"]["altitude"]["final_error"] for r in one])
    print(f"one-step Chow-Fang law on the hover task: success {sum(bool(r['success']) for r in one)}/{len(one)}, "
          f"altitude final error median {np.median(fe):.3f} m")

    ilc = run_scenario(Scenario.from_toml(ROOT / "ilc_staircase.toml"), seed=0).metrics["ilc"]
    alt = ilc["rms_error"]["altitude"]
    print(f"ILC staircase: altitude RMS trial 1 {alt[0] * 1000:.2f} mm -> trial {len(alt)} {alt[-1] * 1000:.3f} mm "
          f"({100 * alt[-1] / alt[0]:.1f} % of trial 1)")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
