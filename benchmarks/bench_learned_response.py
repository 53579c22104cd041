"""How well the identifier has learned each plant in closed loop: its step responses against the plant's own.

Run:  python benchmarks/bench_learned_response.py [--seeds 5] [--workers 2] [--plants helicopter_hover,...]
      [--no-record]

For each plant's shipped scenario of ``benchmarks/bench_plants.py`` (flown by the
neural controller with its defaults, as there) and each seed, at the end of the run:

- the identifier's step response of every controlled output to every input,
  from the controller's state (``NeuralController.learned_step_response``,
  a step of 5 % of each input's half range);
- the plant's: a copy of the env stepped by the same amounts from where the run
  ended, every other input held (no model of the plant is used).

The env has advanced one control step past the controller's last measurement,
so both start from nearly, not exactly, the same state. Per output ``i`` and
input ``j`` the error at the synthesiser's horizon ``N`` is that of the responses
to the steps ``s_j`` themselves, scaled by the output's largest one:
``|learned_ij(N) - plant_ij(N)| s_j / max_j' |plant_ij'(N)| s_j'``, so inputs in
different units compare, and a coupling that is small in the plant scores by how
much the model invents, not by a ratio of two small numbers.
Prints, per plant, the median over the seeds per pair, the median learned and
plant responses, and the runs' success; writes
``benchmarks/records/learned_response.json`` (table in docs/neural_controller.md).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import write_record  # noqa: E402
from bench_plants import PLANTS, ROOT, variant  # noqa: E402

from neurocontrol.controllers.learned_response import env_step_response  # noqa: E402
from neurocontrol.scenario import Scenario  # noqa: E402
from neurocontrol.simulation.loop import simulate  # noqa: E402

AMPLITUDE = 0.05      # the step, fraction of each input's half range


def measure(job):
    """One run of ``name`` (neural defaults) and seed: learned and plant responses at the horizon, success."""
    name, seed = job
    sc = variant(Scenario.from_toml(ROOT / f"{name}.toml"), "neural")
    s = sc.build(seed)
    res = simulate(s.env, s.controller, s.reference, duration=sc.run.duration, seed=s.seed, options=s.options,
                   tolerance=dict(sc.run.tolerance) or None, final_window_s=sc.run.final_window_s, events=s.events)
    ctrl = s.controller
    n = ctrl.law.horizon
    out = {"seed": seed, "status": res.status, "success": bool(res.metrics["success"]) and res.status == "completed",
           "outputs": list(res.output_names), "inputs": list(res.input_names), "horizon": n}
    if res.status != "completed":
        return out
    step = AMPLITUDE * ctrl._u_half
    learned = ctrl.learned_step_response(n, amplitude=AMPLITUDE)[-1]
    plant = env_step_response(s.env.unwrapped, np.asarray(res.inputs)[-1], step, ctrl.output_indices, n)[-1]
    scale = np.max(np.abs(plant * step), axis=1, keepdims=True)        # the output's largest response to a step
    out.update(learned=learned.tolist(), plant=plant.tolist(),
               error=(np.abs(learned - plant) * step / np.where(scale > 0, scale, np.nan)).tolist())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plants", default=",".join(PLANTS.values()), help="scenario stems, comma-separated")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    names = args.plants.split(",")
    labels = {v: k for k, v in PLANTS.items()}
    jobs = [(n, s) for n in names for s in range(args.seeds)]
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(measure, jobs))
    fig = {}
    for name in names:
        rs = [r for (n, _), r in zip(jobs, runs) if n == name]
        done = [r for r in rs if "error" in r]
        row = {"plant": labels.get(name, name), "n": len(rs), "success": sum(r["success"] for r in rs),
               "measured": len(done), "horizon": rs[0]["horizon"], "pairs": {}}
        print(f"{row['plant']} ({name}), seeds 0-{args.seeds - 1}: success {row['success']}/{row['n']}, "
              f"responses of {len(done)} completed runs at the horizon ({row['horizon']} steps)")
        for i, o in enumerate(rs[0]["outputs"]):
            for j, u in enumerate(rs[0]["inputs"]):
                err = [r["error"][i][j] for r in done if r["error"][i][j] is not None]
                pair = {"error_median": float(np.median(err)) if err else None,
                        "learned_median": float(np.median([r["learned"][i][j] for r in done])) if done else None,
                        "plant_median": float(np.median([r["plant"][i][j] for r in done])) if done else None}
                row["pairs"][f"{o} per {u}"] = pair
                if err:
                    print(f"  {o:>12} per {u:<16} error {pair['error_median']:.3f}   learned "
                          f"{pair['learned_median']: .4g}   plant {pair['plant_median']: .4g}")
        fig[name] = row
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.0f} s")
    if not args.no_record:
        command = f"python benchmarks/bench_learned_response.py --seeds {args.seeds} --workers {args.workers}"
        if args.plants != ",".join(PLANTS.values()):
            command += f" --plants {args.plants}"
        path = write_record("learned_response", command=command, scenarios=names, figures=fig, wall_s=wall,
                            seeds=list(range(args.seeds)), amplitude=AMPLITUDE)
        print(f"record: {path}")
    return fig


if __name__ == "__main__":
    main()
