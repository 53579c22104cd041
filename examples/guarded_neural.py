"""The neural controller under guard: a noisy hover flown alone and inside a GuardedController with an LQR-I fallback.

Sensor noise of 1 % of each observation's range (``--noise``) makes the neural controller's identifier learn a
model it cannot always fly with (docs/neural_controller.md, "Sensor noise at 1 % of range"); on some seeds the
env stops the run. Inside the guard the same controller flies until an output leaves the envelope (the declared
ranges less ``--margin`` of their width at each end), its identifier diverges or its prediction error jumps; then
the generic LQR-I flies while the neural controller keeps learning in shadow, and hands back after 100 good steps.

The guard keeps the plant; it does not make the noisy flight good: with this noise the true outputs end outside
their bands with the guard or without (seeds 0-99 of ``benchmarks/bench_guard.py``: 36 runs stopped alone, 1 under
guard; none in its bands either way).

Prints, for each: the status, success judged on the true (noiseless) outputs, the share of the run each mode flew,
the failure hint of a lost run and the guard's switches; writes the guarded run's plot (the fallback's spans
shaded) to ``--out``.

Run: ``python examples/guarded_neural.py [--seed 4] [--noise 0.01] [--margin 0.1] [--out runs/guarded_neural]``
(seed 4: the neural controller alone is stopped by the env; with the guard the run completes.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate

ROOT = Path(__file__).resolve().parents[1]


def scenarios(noise: float, margin: float) -> tuple[Scenario, Scenario]:
    """The neural hover with sensor noise, alone and under guard (LQR-I fallback, envelope from the ranges)."""
    data = Scenario.from_toml(ROOT / "scenarios" / "neural_hover.toml").to_dict()
    space = Scenario.from_dict(data).build(0).env.observation_space
    span = np.asarray(space.high) - np.asarray(space.low)
    data["plant"].setdefault("disturbances", {})["sensor_noise_std"] = (noise * span).tolist()
    alone = Scenario.from_dict(data, default_name="neural_hover_noisy")
    data["controller"] = {"kind": "guarded", "inner": data["controller"], "fallback": {"kind": "lqr_i"},
                          "envelope_margin": margin}
    return alone, Scenario.from_dict(data, default_name="guarded_neural_hover_noisy")


def fly(sc: Scenario, seed: int):
    """Run ``sc`` for ``seed``; return the result and the controller (for its switches)."""
    s = sc.build(seed)
    res = simulate(s.env, s.controller, s.reference, duration=s.run.duration, seed=seed, options=s.options,
                   tolerance=dict(s.run.tolerance), final_window_s=s.run.final_window_s)
    return res, s.controller


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--noise", type=float, default=0.01, help="sensor noise std, fraction of each range")
    ap.add_argument("--margin", type=float, default=0.1, help="envelope: declared ranges less this fraction")
    ap.add_argument("--out", default=None, help="folder for the guarded run's plot (default: none)")
    args = ap.parse_args(argv)
    alone, guarded = scenarios(args.noise, args.margin)
    results = {}
    for name, sc in (("neural", alone), ("guarded", guarded)):
        res, ctrl = fly(sc, args.seed)
        results[name] = res
        true = res.metrics.get("noiseless", {}).get("success")
        shares = ", ".join(f"{m} {100 * f:.0f} %" for m, f in res.meta["mode_fractions"].items())
        print(f"{name:8s} {res.status:9s} true-output success {true}; modes: {shares}"
              + (f"; stopped: {res.meta['stop_reason']}" if res.meta.get("stop_reason") else ""))
        if res.meta.get("hint"):                   # why the run may have been lost, as far as the controller can tell
            print(f"         hint: {res.meta['hint']}")
        for sw in getattr(ctrl, "switches", []):
            print(f"         {sw['time']:6.2f} s  {sw['from']} -> {sw['to']}: {sw['reason']}")
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        results["guarded"].plot(path=out / "guarded.png", title=f"neural hover under guard, sensor noise "
                                                               f"{100 * args.noise:g} % of range, seed {args.seed}")
        print(f"plot written to {out / 'guarded.png'}")
    return results


if __name__ == "__main__":
    main()
