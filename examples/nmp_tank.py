"""A non-minimum-phase plant: what the identifier must learn for a plan that looks past the sign change.

At Johansson's P+ operating point the quadruple tank has a right-half-plane zero: the determinant of its
step-response gains ``G(k)`` (the two lower levels ``k`` seconds after a held unit step of each pump) is
positive for short ``k`` and negative from about 90 s on. A predictive law must plan past that, through a model
whose long-run gains are right. ``scenarios/quadtank_pplus_neural.toml`` gets them from a 300 s excitation
warm-up with two input taps and rate lags at the tank's own scale (``lag_bandwidth``). The neural defaults derive
settings of the same kind from the plant's python-control model (``long_run_signals``: a 276 s warm-up at 0.25 V and
a 184-step horizon; docs/neural_controller.md, "Non-minimum-phase plants: the identification warm-up").

This script flies that warm-up three ways (the scenario's settings; one input tap; the rate lags normalised by
the reference model's bandwidths, as the defaults do on a plant the horizon check does not flag), each around the
start's trim (``warmup_feedforward = false``; the scenario's own warm-up moves its input with the reference step at
10 s), asks each identifier for its step responses at the warm-up's end
(:meth:`~neurocontrol.controllers.neural.NeuralController.learned_step_response`), and plots ``det G(k)`` of
each against the plant's, computed by python-control from its discretised linearisation. Then it flies the
whole scenario once with its settings. Prints ``det G`` at 50, 150 and 300 s of each and the run's outcome.

On seed 0: the plant -1.23 at 150 s; the scenario's settings -1.28, one input tap +2.51, the reference model's
rate scale +2.08 (positive: a plan through those models drives the pumps apart); the whole run ends in its
bands (docs/neural_controller.md, "The quadruple tank at P+").

Run: ``python examples/nmp_tank.py [--seed 0] [--out runs/example_nmp_tank]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import control
import numpy as np

from neurocontrol.scenario import Scenario
from neurocontrol.scenario.core import run_scenario
from plants.quadtank.env import QuadTankEnv

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "quadtank_pplus_neural.toml"
#: Variant -> controller settings changed from the scenario's (None: the key removed, its default).
VARIANTS = {"scenario's settings": {}, "one input tap": {"input_taps": 1},
            "reference-bandwidth rate lags": {"lag_bandwidth": None}}
STEPS = 300                     # length of the step responses compared, control steps (1 s each)
WARMUP = 300                    # the scenario's warm-up, control steps


def plant_determinants(steps: int) -> np.ndarray:
    """``det G(k)``, k = 1..steps, of the P+ tank's python-control linearisation at its trim (zero-order hold)."""
    env = QuadTankEnv(operating_point="P+")
    x0, u0 = env.operating_point
    sampled = control.c2d(control.linearize(env.sys, x0, u0), 1.0)
    out = np.asarray(control.step_response(sampled, T=np.arange(steps + 1)).outputs)      # (p, m, steps + 1)
    return np.array([np.linalg.det(out[:, :, k]) for k in range(1, steps + 1)])


def learned_determinants(changes: dict, seed: int) -> np.ndarray:
    """``det G(k)`` of the identifier's step responses at the end of the warm-up, k = 1..STEPS."""
    table = Scenario.from_toml(SCENARIO).to_dict()
    # the warm-up around the trim the plant's curve is linearised at: its input does not follow the reference step
    # at 10 s, as the scenario's own warm-up does by default (``warmup_feedforward``)
    table["controller"]["warmup_feedforward"] = False
    for key, value in changes.items():
        if value is None:
            del table["controller"][key]
        else:
            table["controller"][key] = value
    setup = Scenario.from_dict(table, source=str(SCENARIO), default_name="quadtank_pplus_neural").build(seed)
    env, controller = setup.env, setup.controller
    y, _ = env.reset(seed=seed, options=setup.options)
    for k in range(WARMUP):
        r = np.asarray(setup.reference(float(k)), dtype=float)
        if k == 0:
            controller.reset(y, r, seed=seed)
        y, *_ = env.step(controller.step(y, r))
    gains = controller.learned_step_response(steps=STEPS, amplitude=0.04)       # (STEPS, p, m), row i: i+1 steps
    return np.linalg.det(gains)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/example_nmp_tank")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    curves = {"plant (python-control)": plant_determinants(STEPS)}
    curves.update({name: learned_determinants(changes, args.seed) for name, changes in VARIANTS.items()})
    for name, det in curves.items():
        print(f"{name:32s} det G at 50 / 150 / 300 s: " + " / ".join(f"{det[k - 1]:+.3g}" for k in (50, 150, 300)))
    result = run_scenario(Scenario.from_toml(SCENARIO), args.seed)
    print(f"the whole scenario, seed {args.seed}: status {result.status}, success {bool(result.metrics['success'])}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    t = np.arange(1, STEPS + 1)
    styles = (("black", "--", 2.0), ("tab:blue", "-", 1.4), ("tab:orange", "-", 1.4), ("tab:red", "-", 1.4))
    for (name, det), (color, line, width) in zip(curves.items(), styles):
        ax.plot(t, det, linestyle=line, color=color, linewidth=width, label=name)
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    for horizon, label in ((50, "default horizon"), (200, "scenario's horizon")):
        ax.axvline(horizon, color="0.5", linestyle=":", linewidth=1)
        ax.annotate(label, (horizon, ax.get_ylim()[1]), fontsize=8, rotation=90, va="top", ha="right")
    ax.set_xlabel("time after a held unit step of each pump [s]")
    ax.set_ylabel("det G(k), gains in V per V")
    ax.set_title(f"quadruple tank at P+, seed {args.seed}: learned at the end of the 300 s warm-up vs the plant")
    ax.legend(fontsize=8)
    fig.savefig(out / "nmp_tank.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'nmp_tank.png'}")
    return {"determinants": curves, "result": result}


if __name__ == "__main__":
    main()
