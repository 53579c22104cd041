"""Tuning the adaptive hover controller from Python with Optuna: search space and objective built in the script.

Starts from the hover task of ``scenarios/tune_hover.toml``, declares the search
space and the objective in Python (the same ``[tune]`` table a scenario file
holds), runs the trials, prints the best settings, plots the study and saves a
scenario file with the best settings set. With ``--pareto`` the study has two
objectives (the 90th percentile of the altitude IAE and the median control
effort) and the plot shows Optuna's Pareto front.

Run: ``python examples/tune_hover.py [--trials 8] [--seeds 0:3] [--pareto] [--out runs/example_tune]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neurocontrol.experiments.tuning import tune
from neurocontrol.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]

SPACE = ('{"controller.law.move_penalty" = {low = 5.0, high = 45.0, log = true}, '
         '"controller.law.horizon" = {choices = [60, 100, 140]}, '
         '"controller.reference_bandwidth.1" = {low = 3.0, high = 7.0}}')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--seeds", default="0:3")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--pareto", action="store_true", help="two objectives: altitude IAE and control effort")
    ap.add_argument("--out", default="runs/example_tune")
    args = ap.parse_args(argv)

    sc = Scenario.from_toml(ROOT / "scenarios" / "tune_hover.toml").set("run.duration", str(args.duration))
    sc = sc.set("tune.params", SPACE).set("tune.seeds", f'"{args.seeds}"')
    if args.pareto:
        sc = sc.set("tune.objective", '["altitude.iae", "control_effort"]').set("tune.direction", '"minimize"')
    else:
        sc = sc.set("tune.objective", '"altitude.iae"').set("tune.aggregate", '"p90"')
    out = Path(args.out)
    res = tune(sc, trials=args.trials, out=out, study_name=f"example-{'pareto' if args.pareto else 'single'}")

    print(f"{len(res.trials)} trials, objectives {', '.join(res.objectives)} ({', '.join(res.directions)})")
    print(f"best value: {res.best_value}")
    for key, value in res.best_params.items():
        print(f"  {key} = {value}")
    if len(res.pareto) > 1:
        print(f"Pareto front: {len(res.pareto)} trials")
    res.plot(out / "study.png")
    best_file = out / "tuned_hover.toml"
    best_file.write_text(res.best_scenario.to_toml())
    print(f"best settings saved to {best_file}; plot in {out / 'study.png'}")
    return res


if __name__ == "__main__":   # needed: each trial's sweep may start worker processes, which re-import this script
    main()
