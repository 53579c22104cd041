"""What the identifier learned: its step responses against the plant's, at the end of a run.

The neural controller plans through its identifier network. This script flies a shipped scenario with
``kind = "neural"`` (default settings), then asks the controller for the identifier's step response of every
controlled output to every input from where the run ended
(:meth:`~neurocontrol.controllers.neural.NeuralController.learned_step_response`) and steps a copy of the
plant by the same amounts for comparison (the plant's own nonlinear response from the state the run ended in;
no model of it is used). Prints the responses at the horizon and at the end, how long each takes to settle
(:func:`~neurocontrol.controllers.learned_response.settling_steps`) against the horizon, and writes a plot.

On ``cstr_setpoint`` seed 43 with probing off (``--probe 0``: a run that ends 0.017 mol/L above its c_B set-point)
the model's response of c_B to the dilution rate has the wrong sign at the horizon (+0.036 against the plant's
-0.015 mol/L per 1/h, -2.4 times it), while that of T to the jacket heat is 0.88 of the plant's
(docs/neural_controller.md, "What the identifier learned"); with the default probe the run ends in its bands and
those responses are 0.25 (the right sign) and 0.54 of the plant's at the horizon (the probe informs the gains the
plan uses; "Probing a steady offset").

Run: ``python examples/learned_response.py [--scenario cstr_setpoint] [--seed 43] [--steps 200] [--probe 0]
[--out runs/example_learned_response]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurocontrol.controllers.learned_response import env_step_response, settling_steps
from neurocontrol.plotting import plot_step_responses
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate

ROOT = Path(__file__).resolve().parent.parent / "scenarios"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="cstr_setpoint", help="a shipped scenario's stem (scenarios/<stem>.toml)")
    ap.add_argument("--seed", type=int, default=43)
    ap.add_argument("--steps", type=int, default=200, help="length of the responses, control steps")
    ap.add_argument("--probe", type=float, default=None,
                    help="the controller's `probe` (0: probing off; default: the controller's default)")
    ap.add_argument("--out", default="runs/example_learned_response")
    args = ap.parse_args(argv)

    data = Scenario.from_toml(ROOT / f"{args.scenario}.toml").to_dict()
    data["controller"] = {"kind": "neural"}                      # the defaults, whatever the file flies
    if args.probe is not None:
        data["controller"]["probe"] = args.probe
    sc = Scenario.from_dict(data, source=f"{args.scenario}:neural", default_name=args.scenario)
    setup = sc.build(args.seed)
    res = simulate(setup.env, setup.controller, setup.reference, duration=sc.run.duration, seed=setup.seed,
                   options=setup.options, tolerance=dict(sc.run.tolerance) or None,
                   final_window_s=sc.run.final_window_s, events=setup.events)
    ctrl = setup.controller
    print(f"{args.scenario} seed {args.seed}: status {res.status}, success {bool(res.metrics['success'])}")

    amplitude = 0.05
    learned = ctrl.learned_step_response(args.steps, amplitude=amplitude)
    plant = env_step_response(setup.env.unwrapped, np.asarray(res.inputs)[-1], amplitude * ctrl._u_half,
                                ctrl.output_indices, args.steps)
    outs, ins = list(res.output_names), list(res.input_names)
    h = ctrl.law.horizon
    print(f"step: {amplitude:g} of each input's half range; horizon {h} steps")
    for i, o in enumerate(outs):
        for j, u in enumerate(ins):
            print(f"  {o} per unit {u}: at the horizon learned {learned[h - 1, i, j]: .4g}, plant "
                  f"{plant[h - 1, i, j]: .4g}; after {args.steps} steps learned {learned[-1, i, j]: .4g}, "
                  f"plant {plant[-1, i, j]: .4g}")
    print("settling steps (5 % band), learned:", settling_steps(learned).tolist(),
          " plant:", settling_steps(plant).tolist())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_step_responses(learned, ctrl.dt, out / "learned_response.png", output_names=outs, input_names=ins,
                        compare=plant, horizon=h,
                        title=f"{args.scenario}, seed {args.seed}: identifier vs plant, per unit input")
    print(f"wrote {out / 'learned_response.png'}")
    return {"result": res, "learned": learned, "plant": plant, "horizon": h}


if __name__ == "__main__":
    main()
