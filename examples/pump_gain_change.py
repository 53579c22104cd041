"""A plant change in a script: the tank at P+ loses nothing when its pumps grow 30 % stronger mid-run.

The quadruple tank at its non-minimum-phase operating point (``plants.quadtank``, P+) is flown step by step in a
plain Python loop by the neural controller with its defaults (``build_neural``: they read the env's python-control
model and fly a 276 s identification warm-up). At 400 s the script raises both pump gains by 30 % through the env's
``set_params``; the controller is not told. Its identifier's one-step error trips 3 steps later, its weights go back
to before the change, and while the predictive law flies on one gain factor per pump is learned
(``change_reidentify``, docs/neural_controller.md, "Re-identification after a change"). The loop reads what a
script can read at every step: ``diagnostics()["mode"]`` (``"gains"`` while the factors are learned) and
``input_gains``. Prints the mode and factors every 50 s and the final errors, and plots the levels, pumps and
factors.

Run: ``python examples/pump_gain_change.py [--seed 0] [--out runs/example_pump_gain_change]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurocontrol.controllers.neural import NeuralControllerConfig, build_neural
from plants.quadtank.env import QuadTankEnv

STEPS = 1200            # s (the env's period is 1 s)
CHANGE_AT = 400         # s: both pump gains x1.3
STEP_AT, STEP = 10, np.array([0.5, 0.0])     # the first level's set-point +0.5 V (1 cm) at 10 s


def fly(seed: int) -> dict:
    """Fly the task on ``seed``; return the time series the script logged (levels, references, pumps, factors)."""
    env = QuadTankEnv(operating_point="P+")
    controller = build_neural(NeuralControllerConfig(), env)
    obs, _ = env.reset(seed=seed)
    r0 = np.asarray(env.setpoint, dtype=float)
    controller.reset(obs, r0, seed=seed)
    log = {"y": [], "r": [], "u": [], "gains": [], "mode": []}
    for k in range(STEPS):
        if k == CHANGE_AT:
            p = env.unwrapped.params
            env.unwrapped.set_params({"k1": 1.3 * p["k1"], "k2": 1.3 * p["k2"]})
        r = r0 + STEP * (k >= STEP_AT)
        u = controller.step(obs, r)
        gains = controller.input_gains
        mode = controller.diagnostics()["mode"]
        log["y"].append(obs.copy())
        log["r"].append(r)
        log["u"].append(u.copy())
        log["gains"].append(np.full(2, np.nan) if gains is None else gains)
        log["mode"].append(mode)
        if k % 50 == 0 and k >= CHANGE_AT:
            shown = "-" if gains is None else ", ".join(f"x{a:.3f}" for a in gains)
            print(f"t = {k:4d} s  mode {mode:10s}  factors {shown}  level errors {np.round(obs - r, 3).tolist()} V")
        obs, _, terminated, _, _ = env.step(u)
        if terminated:
            print(f"the env stopped the run at {k + 1} s")
            break
    return {key: np.asarray(v) for key, v in log.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/example_pump_gain_change")
    args = ap.parse_args(argv)
    log = fly(args.seed)
    err = log["y"][-100:] - log["r"][-100:]
    learned = log["gains"][~np.isnan(log["gains"][:, 0])]
    print(f"largest level error over the last 100 s: {np.round(np.abs(err).max(axis=0), 4).tolist()} V "
          f"(band 0.05 V); factors at the end of their learning: "
          + ("-" if not len(learned) else ", ".join(f"x{a:.3f}" for a in learned[-1])))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(log["y"]))
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True, layout="constrained")
    for i, c in enumerate(("tab:blue", "tab:orange")):
        axes[0].plot(t, log["y"][:, i], color=c, label=f"y{i + 1}")
        axes[0].plot(t, log["r"][:, i], "--", color=c, linewidth=0.8)
        axes[1].step(t, log["u"][:, i], where="post", color=c, label=f"pump {i + 1}")
        axes[2].plot(t, log["gains"][:, i], color=c, label=f"factor of pump {i + 1}")
    axes[2].axhline(1.3, color="k", linewidth=0.8, linestyle=":", label="the change (x1.3)")
    for ax, label in zip(axes, ("level [V]", "input [V]", "gain factor")):
        ax.axvline(CHANGE_AT, color="k", linewidth=0.8, linestyle=":")
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time [s]")
    fig.suptitle(f"Quadruple tank P+, seed {args.seed}: pump gains x1.3 at {CHANGE_AT} s, neural defaults")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "pump_gain_change.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'pump_gain_change.png'}")
    return log


if __name__ == "__main__":
    main()
