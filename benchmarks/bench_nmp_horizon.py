"""How long a horizon the neural controller's synthesiser needs on the quadruple tank, given an exact model.

The neural controller's step (``neurocontrol.controllers.gauss_newton.gauss_newton_step``: output tracking
on every ``stride``-th horizon step, a penalty on the moves of move-blocked inputs, input limits) is run
here on a model that is *not learned*: the plant's python-control model linearised at the start trim and
discretised, with the plant's true state, so the free run and its Jacobian are exact. The plant is the
nonlinear :class:`plants.quadtank.QuadTankEnv` (RK4; an overflow ends the run). Task: the shipped
``quadtank_pminus``/``quadtank_pplus`` step, +0.5 V of ``y1`` at 10 s, 1200 s.

What it shows (docs/neural_controller.md, "The quadruple tank at P+"): at P+ the step-response gain
matrix ``G(N)`` (outputs ``N`` steps after a held input step) has a positive determinant for short ``N`` and
a negative one at steady state (the right-half-plane zero), so a horizon that ends before the sign flips
asks for input moves of the wrong sign in one direction, and the inputs drift apart to their limits.

    python benchmarks/bench_nmp_horizon.py [--horizons 50,75,100,150,300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import control
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neurocontrol.controllers.gauss_newton import GaussNewtonLaw, gauss_newton_step  # noqa: E402
from plants.quadtank import QuadTankEnv  # noqa: E402

STEP_AT, STEP, DURATION = 10, 0.5, 1200


def step_gains(ad, bd, cd, steps: int) -> np.ndarray:
    """Outputs 0, 1, ..., ``steps`` samples after a unit input step held from sample 0, shape (steps + 1, p, m)."""
    x = np.zeros((ad.shape[0], bd.shape[1]))
    out = [cd @ x]
    for _ in range(steps):
        x = ad @ x + bd
        out.append(cd @ x)
    return np.stack(out)


def fly(operating_point: str, horizon: int) -> dict:
    """One run of the synthesiser on the exact linear model; the figures of one table row."""
    env = QuadTankEnv(operating_point=operating_point)
    x0, u0 = env.operating_point
    lin = control.linearize(env.sys, x0, u0)
    d = control.c2d(control.ss(lin.A, lin.B, lin.C, lin.D), env.dt)
    ad, bd, cd = (np.asarray(a) for a in (d.A, d.B, d.C))
    law = GaussNewtonLaw(horizon=horizon, blocks=(0, 5, 15, 30))
    block_of, eval_steps = law.block_of(), law.eval_steps()
    lo, hi = env.action_space.low.astype(float), env.action_space.high.astype(float)
    mid, half = (hi + lo) / 2, (hi - lo) / 2
    ylo, yhi = env.observation_space.low.astype(float), env.observation_space.high.astype(float)
    ymid, yhalf = (yhi + ylo) / 2, (yhi - ylo) / 2
    nb, m, p = len(law.blocks), bd.shape[1], cd.shape[0]
    # Jacobian of the normalised outputs to the normalised block inputs: held steps from each block's start
    pulse = step_gains(ad, bd, cd, horizon)                                        # (N+1, p, m)
    jac = np.zeros((horizon, p, nb * m))
    for i in range(horizon):                     # output at t+i+1
        for b, start in enumerate(law.blocks):
            end = law.blocks[b + 1] if b + 1 < nb else horizon
            if start <= i:
                # input of block b acts on steps start..min(end, i+1)-1
                g = pulse[i + 1 - start] - pulse[max(i + 1 - end, 0)]
                jac[i, :, b * m:(b + 1) * m] = g * half / yhalf[:, None]
    _, _ = env.reset(seed=0, options={"initial_state": x0})
    u_prev = u0.copy()
    plan = np.tile((u0 - mid) / half, nb)
    r0 = np.asarray(env.setpoint, dtype=float)
    errs, sat, stopped_at = [], 0, None
    for k in range(DURATION):
        r = r0 + np.array([STEP if k >= STEP_AT else 0.0, 0.0])
        dx = env.state - x0
        u_seq = mid + half * plan[block_of * m + np.arange(m)[:, None]].T        # (N, m) physical inputs
        xs, pred = dx.copy(), np.empty((horizon, p))
        for i in range(horizon):
            xs = ad @ xs + bd @ (u_seq[i] - u0)
            pred[i] = cd @ xs + env.setpoint
        new = gauss_newton_step((pred - ymid) / yhalf, jac, plan, (u_prev - mid) / half,
                                np.tile((r - ymid) / yhalf, (horizon, 1)), tracked=np.arange(p),
                                weights=np.ones(p), eval_steps=eval_steps, move_penalty=law.move_penalty,
                                damping=law.damping, range_weight=law.range_weight, bound=law.range_bound)
        plan = np.clip(new, -1.0, 1.0)
        u = mid + half * plan[:m]
        sat += bool(np.any((u <= lo + 1e-9) | (u >= hi - 1e-9)))
        y, _, terminated, _, _ = env.step(u)
        u_prev = u
        errs.append(np.abs(y - r))
        if terminated:
            stopped_at = k + 1
            break
    errs = np.array(errs)
    det_ss = float(np.linalg.det(np.asarray(lin.D) - np.asarray(lin.C) @ np.linalg.solve(lin.A, lin.B)))
    return {"det_N": float(np.linalg.det(pulse[horizon])), "det_ss": det_ss, "final_err": errs[-100:].max(axis=0),
            "u_end": u_prev, "saturated": sat / len(errs), "stopped_at": stopped_at}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", default="50,75,100,150,300", help="comma-separated horizons (steps)")
    args = parser.parse_args(argv)
    horizons = [int(h) for h in args.horizons.split(",")]
    print("operating point | horizon N (steps = s) | det G(N) | det G(steady state) | last 100 s max |y - r| "
          "(V) | inputs at the end (V) | steps saturated | stopped at (s)")
    for op in ("P-", "P+"):
        for n in horizons:
            row = fly(op, n)
            print(f"{op} | {n} | {row['det_N']:+.3f} | {row['det_ss']:+.3f} | "
                  f"{np.array2string(row['final_err'], precision=3)} | {np.array2string(row['u_end'], precision=2)} | "
                  f"{100 * row['saturated']:.0f} % | {row['stopped_at'] if row['stopped_at'] else '-'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
