"""Quality benchmark of the adaptive controller on the helicopter (printed table, no assertions).

Runs the issue's targets on identical seeds through the public sweep API:

* hover (``scenarios/helicopter_hover.toml``), seeds 0-99, adaptive vs LQR vs PID:
  success count, median settling time (the later of the two outputs), altitude IAE
  mean/median and the adaptive/LQR IAE ratio (targets: >= 95/100 successes, median
  settling <= 10 s, IAE ratio <= 1.5, goal 1.0);
* robustness, seeds 0-99: rotor drag +30 % at t = 15 s and a 4 m/s^2 downward gust
  at t = 15 s; "recovered within 10 s" = back in the success band over the last 5 s
  (t >= 25 s) (target >= 90/100);
* the faithful one-step law on the hover task (seeds 0-19), measured, not a target.

The ILC staircase has its own benchmark (``benchmarks/bench_ilc.py``).

Run: ``python benchmarks/bench_hover_sweep.py [--seeds 100] [--robust-seeds 100] [--workers 2]``.
Writes ``benchmarks/records/hover.json``, from which ``docs/make_tables.py``
makes the README's hover tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from neurocontrol.experiments.sweeps import compare, sweep

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import write_record  # noqa: E402

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
    ap.add_argument("--robust-seeds", type=int, default=None, help="seeds of the drag and gust sweeps "
                    "(default: --seeds)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-record", action="store_true", help="do not write benchmarks/records/hover.json")
    args = ap.parse_args(argv)
    seeds = range(args.seeds)
    robust_seeds = range(args.seeds if args.robust_seeds is None else args.robust_seeds)
    t0 = time.perf_counter()
    fig = {}

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
        fig.setdefault("hover", {})[kind] = {"n": len(runs), "success": ok, "settling_median_s": float(st),
                                             "altitude_iae_mean": float(a.mean()),
                                             "altitude_iae_median": float(np.median(a)),
                                             "control_step_us_median": float(us)}
    fig["compare_table"] = cmp.table()
    fig["compare_wall_s"] = cmp.wall_time_s
    ratio = iae["adaptive"] / iae["lqr"]
    fig["iae_ratio"] = {"ratio_of_means": float(iae["adaptive"].mean() / iae["lqr"].mean()),
                        "mean_of_ratios": float(ratio.mean()), "seeds_le_1_5": int((ratio <= 1.5).sum()),
                        "seeds_le_1_0": int((ratio <= 1.0).sum()), "n": int(ratio.size)}
    print(f"altitude IAE adaptive / LQR: mean of ratios {ratio.mean():.3f}, ratio of means "
          f"{iae['adaptive'].mean() / iae['lqr'].mean():.3f}, seeds with ratio <= 1.5: {(ratio <= 1.5).sum()}, "
          f"<= 1.0: {(ratio <= 1.0).sum()}")

    for name in ("rotor_drag_change", "vertical_gust"):
        runs = _runs(sweep(ROOT / f"{name}.toml", robust_seeds, workers=args.workers))
        ok = sum(bool(r["success"]) for r in runs)
        bad = sum(int(r["nonfinite_actions"]) for r in runs)
        print(f"{name}: recovered within 10 s in {ok}/{len(runs)} seeds, non-finite actions {bad}")
        fig[name] = {"n": len(runs), "recovered": ok, "nonfinite_actions": bad}

    one = _runs(sweep(ROOT / "hover_one_step_law.toml", range(min(20, args.seeds)), workers=args.workers))
    fe = np.array([r["outputs"]["altitude"]["final_error"] for r in one])
    print(f"one-step Chow-Fang law on the hover task: success {sum(bool(r['success']) for r in one)}/{len(one)}, "
          f"altitude final error median {np.median(fe):.3f} m")
    fig["hover_one_step_law"] = {"n": len(one), "success": sum(bool(r["success"]) for r in one),
                                 "altitude_final_error_median_m": float(np.median(fe))}

    wall = time.perf_counter() - t0
    print(f"wall time {wall:.0f} s")
    if not args.no_record:
        command = (f"python benchmarks/bench_hover_sweep.py --seeds {args.seeds} "
                   f"--robust-seeds {len(robust_seeds)} --workers {args.workers}")
        write_record("hover", command=command, wall_s=wall, figures=fig, seeds=args.seeds,
                     robust_seeds=len(robust_seeds),
                     scenarios=["helicopter_hover", "rotor_drag_change", "vertical_gust", "hover_one_step_law"])


if __name__ == "__main__":
    main()
