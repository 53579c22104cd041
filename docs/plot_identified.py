"""Draw the P+ tank's identification experiment and its fit: docs/img/identified_pplus.png, ..._steps.png.

The experiment of ``plant_model = "identified"`` on the shipped P+ task's plant (``scenarios/quadtank_pplus.toml``):
the first figure is the experiment's levels against the fitted model's free run, and its pump inputs
(:meth:`neurocontrol.identification.Identification.plot`); the second the fitted model's step responses, each level
per volt of each pump over 400 s, against those of python-control's linearisation of the env's own model at its
operating point, with the fitted horizon (200 steps) marked. The figures of docs/neural_controller.md, "A model
identified before the run", are printed.

Usage: ``python docs/plot_identified.py [--out docs/img]`` from the repository root.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import control
import numpy as np

from neurocontrol.identification import identify
from neurocontrol.plotting import plot_step_responses
from neurocontrol.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
STEPS = 400


def step_responses(sys, steps: int = STEPS) -> np.ndarray:
    """The controlled outputs per unit of each input, 1..``steps`` periods after a held step: (steps, p, m)."""
    resp = control.step_response(sys, T=np.arange(steps + 1) * float(sys.dt))
    return np.moveaxis(np.asarray(resp.outputs)[:, :, 1:], 2, 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT), help="folder for the two figures (default: %(default)s)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sc = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml")
    env = sc.build(0).env
    ident = identify(env, (0, 1))
    ident.plot(out / "identified_pplus.png", output_names=["y1 [V]", "y2 [V]"])
    base = env.unwrapped
    x0, u0 = base.operating_point
    lin = control.linearize(base.sys, x0, u0)
    plant = control.c2d(control.ss(lin.A, lin.B, lin.C[:2], lin.D[:2]), base.dt)
    plot_step_responses(step_responses(ident.model), base.dt, out / "identified_pplus_steps.png",
                        output_names=["y1", "y2"], input_names=["v1", "v2"], compare=step_responses(plant),
                        compare_label="env's model", horizon=200, label="identified",
                        title="the identified model's step responses (V per V) against the env's model")
    print(f"{ident.note}; slowest time constant {ident.slowest_time_constant_s:.4g} s, zero {ident.rhp_zero:.4g} "
          f"rad/s, gains' sign after {ident.sign_steps} steps, free-run fit {ident.free_run_fit:.3f}")
    return ident


if __name__ == "__main__":
    main()
