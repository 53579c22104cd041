"""A gain change after a long rest: the quadruple tank flown by the neural controller with and without its bias walk.

The quadruple tank at P- (``scenarios/quadtank_pminus.toml``) is open-loop stable and measured by its two lower
levels only, so the neural controller flies it without a warm-up controller, and with the probe and the bias walk
at rest on by default (docs/neural_controller.md, "A bias walk at rest"). At 400 s both pump gains rise by 30 %
(the change variant of ``benchmarks/bench_plants.py``), unknown to the controller. The loop has been at rest for
about 300 s, so the identifier has learned only along one constant regressor.

Without the walk (``rest_walk = 0``) a few runs are lost after the change: the plan swings both pumps, holds one
at a limit, and the env stops the run within about 20 s (4-5 of seeds 0-99; none with the walk). Which seeds
those are differs between machines, since after the change the runs are chaotic and the last bits of a run depend
on the machine's numerical kernels: seed 39 on the machine this example was written on, seeds 33, 40, 68 and 95 on
another. So by default the example flies the first of ``CANDIDATES`` that the env stops without the walk, then the
same seed with the walk, which ends within its bands. Prints both runs' status, success and final errors and writes
a plot of the levels and pumps.

Run: ``python examples/rest_walk_change.py [--seed N] [--out runs/example_rest_walk_change]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurocontrol.plotting import plot_compare
from neurocontrol.scenario import Scenario
from neurocontrol.scenario.core import run_scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "quadtank_pminus.toml"
CHANGE = {"kind": "parameter_change", "time": 400.0, "factors": {"k1": 1.3, "k2": 1.3}}
VARIANTS = {"rest_walk = 0 (off)": {"rest_walk": 0.0}, "default (walk at rest)": {}}
OFF, ON = VARIANTS
#: Seeds the env stopped after the change without the walk, in two measurements of seeds 0-99 on two machines.
CANDIDATES = (39, 33, 40, 68, 95)


def scenario(name: str) -> Scenario:
    """The P- tank task with the pump-gain change, flown by the neural controller of variant ``name``."""
    data = Scenario.from_toml(SCENARIO).to_dict()
    data["events"] = [CHANGE]
    data["controller"] = {"kind": "neural", **VARIANTS[name]}
    return Scenario.from_dict(data, source=f"quadtank_pminus:{name}", default_name="quadtank_pminus")


def first_lost(seeds):
    """Return ``(seed, result)``: the first of ``seeds`` whose run without the walk is stopped (or the last)."""
    for seed in seeds:
        result = run_scenario(scenario(OFF), seed)
        if result.status != "completed":
            break
    return seed, result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None,
                    help=f"the seed (default: the first of {list(CANDIDATES)} that is lost without the walk)")
    ap.add_argument("--out", default="runs/example_rest_walk_change")
    args = ap.parse_args(argv)

    results = {}
    if args.seed is None:
        seed, results[OFF] = first_lost(CANDIDATES)
        if results[OFF].status == "completed":
            print(f"none of seeds {list(CANDIDATES)} is lost without the walk on this machine; showing seed {seed}")
    else:
        seed, results[OFF] = args.seed, run_scenario(scenario(OFF), args.seed)
    results[ON] = run_scenario(scenario(ON), seed)
    print(f"seed {seed}")
    for name, res in results.items():
        final = np.asarray(res.outputs)[-1] - np.asarray(res.references)[-1]
        print(f"{name:24s} status {res.status} at {res.time[-1]:g} s, success {bool(res.metrics['success'])}, "
              "final error " + ", ".join(f"{o} {e:+.4g} V" for o, e in zip(res.output_names, final)))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_compare(results, out / "rest_walk_change.png", units={n: "V" for n in ("y1", "y2", "v1", "v2")},
                 marks=[CHANGE["time"]], dpi=110,
                 title=f"Quadruple tank P-, seed {seed}: pump gains x1.3 at {CHANGE['time']:g} s (dotted), "
                       "the neural controller with and without its bias walk at rest")
    print(f"wrote {out / 'rest_walk_change.png'}")
    return {"seed": seed, **results}


if __name__ == "__main__":
    main()
