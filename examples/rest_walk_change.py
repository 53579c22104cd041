"""A gain change after a long rest: the quadruple tank flown by the neural controller with and without its bias walk.

The quadruple tank at P- (``scenarios/quadtank_pminus.toml``) is open-loop stable and measured by its two lower
levels only, so the neural controller flies it without a warm-up controller, and with the probe and the bias walk
at rest on by default (docs/neural_controller.md, "A bias walk at rest"). At 400 s both pump gains rise by 30 %
(the change variant of ``benchmarks/bench_plants.py``), unknown to the controller. The loop has been at rest for
about 300 s, so the identifier has learned only along one constant regressor.

On seed 39 without the walk (``rest_walk = 0``) the plan swings both pumps after the change, holds pump 1 at its
10 V limit from the 14th step after it (pump 2 mostly there too), and the env stops the run 20 s after the change
(5 of seeds 0-99 are stopped so, none with the walk); with the walk the change goes into the levels' biases and the
run ends within its bands. Prints both runs'
status, success and final errors and writes a plot of the levels and pumps.

Run: ``python examples/rest_walk_change.py [--seed 39] [--out runs/example_rest_walk_change]``
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=39)
    ap.add_argument("--out", default="runs/example_rest_walk_change")
    args = ap.parse_args(argv)

    data = Scenario.from_toml(SCENARIO).to_dict()
    data["events"] = [CHANGE]
    results = {}
    for name, keys in VARIANTS.items():
        data["controller"] = {"kind": "neural", **keys}
        sc = Scenario.from_dict(data, source=f"quadtank_pminus:{name}", default_name="quadtank_pminus")
        res = results[name] = run_scenario(sc, args.seed)
        final = np.asarray(res.outputs)[-1] - np.asarray(res.references)[-1]
        print(f"{name:24s} status {res.status} at {res.time[-1]:g} s, success {bool(res.metrics['success'])}, "
              "final error " + ", ".join(f"{o} {e:+.4g} V" for o, e in zip(res.output_names, final)))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_compare(results, out / "rest_walk_change.png", units={n: "V" for n in ("y1", "y2", "v1", "v2")},
                 marks=[CHANGE["time"]], dpi=110,
                 title=f"Quadruple tank P-, seed {args.seed}: pump gains x1.3 at {CHANGE['time']:g} s (dotted), "
                       "the neural controller with and without its bias walk at rest")
    print(f"wrote {out / 'rest_walk_change.png'}")
    return results


if __name__ == "__main__":
    main()
