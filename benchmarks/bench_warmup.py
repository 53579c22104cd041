"""The neural controller's warm-up on the helicopter: who flies it, how long, and the hand-over check.

Flies the scenarios of ``bench_ablation.py`` (the neural rows: hover,
staircase, sine, off-nominal, doubled sensor noise, drag, thrust and servo
changes) with these warm-ups, the same seeds for each:

- ``pid``: the shipped one (the helicopter's PID at its trim plus APRBS, 1 s);
- ``pid+check``: the same with ``NeuralController(warmup_check=C)``: the
  warm-up goes on, 10 steps at a time, until the identifier's free runs
  predict it (``neurocontrol/controllers/_warmup.py``);
- ``lqr``, ``lqr+check``: the helicopter's LQR (``LQRController.from_plant``)
  flies the warm-up in place of the PID;
- ``pid 0.5 s``, ``pid 0.5 s+check``: the PID warm-up of half a second;
- ``lqr alone``: the helicopter's LQR flies the whole run (the reference).

Columns: success, median altitude IAE, and how many runs the check extended
(and the longest warm-up, in steps). The default seeds, 100-119, are not the
records' seeds of the other benchmarks. Writes
``benchmarks/records/warmup_check.json`` (the table in
docs/neural_controller.md).

    python benchmarks/bench_warmup.py                         # seeds 100-119, check 0.3, 2 workers
    python benchmarks/bench_warmup.py --seeds 100:104 --no-record   # a quick look
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _record import json_safe, write_record  # noqa: E402
from bench_ablation import CHANGES, SCENARIOS, controller_tables, figures, fly_built, scenario_for  # noqa: E402

from neurocontrol.experiments.sweeps import parse_seeds  # noqa: E402
from plants.helicopter.baselines import LQRController  # noqa: E402

VARIANTS = ("pid", "pid+check", "lqr", "lqr+check", "pid 0.5 s", "pid 0.5 s+check", "lqr alone")
NAMES = ("hover", "staircase", "sine_0.3Hz", "off_nominal", "noise_x2", "plant_change", "thrust_change", "servo_loss")


def fly(variant: str, name: str, seed: int, check: float) -> dict:
    """One run of scenario ``name`` with the warm-up ``variant``; success, altitude IAE and warm-up steps."""
    tables = controller_tables()
    if variant == "lqr alone":
        setup = scenario_for(name, "lqr", tables).build(seed)
    else:
        sc = scenario_for(name, "neural", tables)
        setup = (sc.set("controller.warmup_duration", "0.5") if variant.startswith("pid 0.5 s") else sc).build(seed)
        if variant.startswith("lqr"):
            setup.controller.warmup_controller = LQRController.from_plant(rotor_speed=140.0)
        if variant.endswith("+check"):
            setup.controller._set_warmup_check(check, None)   # the constructor's argument, on the built controller
        setup.controller.set_preview(setup.reference)
    res = fly_built(setup)
    f = figures(res, name in CHANGES)
    steps = (getattr(setup.controller, "_n_warmup", 0), getattr(setup.controller, "_warmup_steps", 0))
    return {"success": bool(f["success"]) and res.status == "completed", "stopped": res.status != "completed",
            "altitude_iae": float(f["iae"]["altitude"]), "warmup_steps": int(steps[0]),
            "planned_steps": int(steps[1])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100:120", help="seeds (default 100:120, i.e. 100-119)")
    ap.add_argument("--check", type=float, default=0.3, help="the check's threshold (default 0.3)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--scenarios", default=",".join(NAMES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    variants = [v for v in args.variants.split(",") if v]
    names = [n for n in args.scenarios.split(",") if n]
    bad = [v for v in variants if v not in VARIANTS] + [n for n in names if n not in NAMES]
    if bad:
        ap.error(f"unknown variant or scenario {bad[0]!r}; variants: {', '.join(VARIANTS)}; "
                 f"scenarios: {', '.join(NAMES)}")
    t0 = time.time()
    jobs = [(v, n, s) for v in variants for n in names for s in seeds]
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(fly, *zip(*jobs), [args.check] * len(jobs), chunksize=4))
    table: dict = {}
    for (v, n, _), r in zip(jobs, runs):
        table.setdefault(v, {}).setdefault(n, []).append(r)
    figures_out: dict = {"check": args.check, "rows": {}}
    print(f"{'warm-up':18s}" + "".join(f"{n:>16s}" for n in names))
    for v in variants:
        row, cells = {}, []
        for n in names:
            rs = table[v][n]
            ok = sum(r["success"] for r in rs)
            extended = [r["warmup_steps"] for r in rs if r["warmup_steps"] > r["planned_steps"]]
            row[n] = {"success": ok, "n": len(rs), "stopped": sum(r["stopped"] for r in rs),
                      "altitude_iae_median": float(np.median([r["altitude_iae"] for r in rs])),
                      "extended": len(extended), "longest_warmup_steps": max(extended, default=None)}
            cells.append(f"{ok}/{len(rs)}" + (f" +{len(extended)}" if extended else ""))
        figures_out["rows"][v] = row
        print(f"{v:18s}" + "".join(f"{c:>16s}" for c in cells), flush=True)
    hover = {v: figures_out["rows"][v]["hover"]["altitude_iae_median"] for v in variants if "hover" in names}
    if hover:
        print("hover altitude IAE median: " + ", ".join(f"{v} {x:.4f}" for v, x in hover.items()))
    print(f"({time.time() - t0:.0f} s; '+k': the check extended k runs)")
    if not args.no_record:
        files = sorted({SCENARIOS[n][1] or SCENARIOS[n][0] for n in names} | {"neural_hover.toml"})
        write_record("warmup_check", command=("python benchmarks/bench_warmup.py " + " ".join(argv or sys.argv[1:]))
                     .rstrip(), scenarios=[f[:-5] for f in files], figures=json_safe(figures_out),
                     wall_s=time.time() - t0, seeds=seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
