"""Open-loop demo flight of the helicopter around hover trim (``neurocontrol plant-demo``)."""

from __future__ import annotations

import math
import time as _time
from pathlib import Path

import numpy as np

from neurocontrol.exceptions import ParameterError
from plants.helicopter.dynamics import trim
from plants.helicopter.env import HelicopterEnv

__all__ = ["run_demo", "demo_inputs"]

_UNITS = ("rad/s", "m", "m/s", "deg", "deg/s")


def demo_inputs(seconds: float, dt: float, trim_input, rng: np.random.Generator) -> np.ndarray:
    """Open-loop input sequence: trim plus random doublets, one per second.

    In each one-second segment, each input gets ``+a`` for 0.5 s then ``-a``
    for 0.5 s (so altitude, a free integrator, does not drift far), with
    amplitudes ``a`` uniform in +-4 (throttle) and +-3 (collective servo) rad/s^2.
    The first second is pure trim. Returns shape (n_steps, 2).
    """
    n = int(round(seconds / dt))
    u = np.tile(np.asarray(trim_input, dtype=np.float64), (n, 1))
    per_seg = int(round(1.0 / dt))
    half = per_seg // 2
    for start in range(per_seg, n, per_seg):
        amp = rng.uniform(-1.0, 1.0, size=2) * np.array([4.0, 3.0])
        u[start:start + half] += amp
        u[start + half:start + per_seg] -= amp
    return u


def run_demo(out="runs/plant-demo", seconds: float = 10.0, seed: int = 0) -> dict:
    """Fly the plant open-loop around hover trim, save plots, print a summary.

    Parameters
    ----------
    out : str or path-like
        Folder for the plots (created if missing): ``states.png`` (the five
        states) and ``inputs.png`` (the two inputs), physical units.
    seconds : float, default 10.0
        Simulated time in s (0 < seconds <= 600).
    seed : int, default 0
        Seed of the random input doublets.

    Returns
    -------
    dict
        ``{"time", "states", "inputs", "files", "wall_time"}`` with arrays of
        shape (n+1,), (n+1, 5), (n, 2).
    """
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= 600):
        raise ParameterError(f"`seconds` must be in (0, 600] s, got {seconds!r}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = HelicopterEnv()
    tp = trim(140.0, 1.0)
    obs, info = env.reset(seed=seed, options={"initial_state": tp.x, "setpoint": (140.0, 1.0)})
    u = demo_inputs(seconds, env.dt, env.trim_action, np.random.default_rng(seed))
    xs = [info["state"]]
    applied = []
    t0 = _time.perf_counter()
    for k in range(u.shape[0]):
        if k == 1:  # time from the second step: the first one loads the compiled kernel
            t0 = _time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(u[k])
        xs.append(info["state"])
        applied.append(info["action"])
        if terminated:
            break
    wall = _time.perf_counter() - t0
    x = np.array(xs)
    ua = np.array(applied)
    t = env.dt * np.arange(x.shape[0])
    files = _plot(out, t, x, ua, tp)
    print(f"plant-demo: {t[-1]:.2f} s simulated ({len(applied)} steps of {env.dt} s, {wall * 1e3:.1f} ms wall); "
          f"rotor {x[:, 0].min():.1f}..{x[:, 0].max():.1f} rad/s, altitude {x[:, 1].min():.3f}.."
          f"{x[:, 1].max():.3f} m; plots: {', '.join(str(f) for f in files)}")
    return {"time": t, "states": x, "inputs": ua, "files": files, "wall_time": wall}


def _plot(out: Path, t, x, u, tp) -> list[Path]:
    from matplotlib.figure import Figure

    scale = np.array([1.0, 1.0, 1.0, 180 / np.pi, 180 / np.pi])
    trim_x = tp.x * scale
    fig = Figure(figsize=(8.0, 9.0), layout="constrained")
    axes = fig.subplots(5, 1, sharex=True)
    labels = ("rotor speed", "altitude", "climb rate", "collective pitch", "collective rate")
    for i, ax in enumerate(axes):
        ax.plot(t, x[:, i] * scale[i], color="tab:blue", label="plant")
        ax.axhline(trim_x[i], color="tab:red", ls="--", lw=1, label="trim")
        ax.set_ylabel(f"{labels[i]}\n({_UNITS[i]})")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle("Helicopter on a stand: open-loop doublets around hover trim (140 rad/s, 1 m)")
    f1 = out / "states.png"
    fig.savefig(f1, dpi=90)

    fig = Figure(figsize=(8.0, 4.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    tu = t[:-1]
    for i, (ax, name, u_star) in enumerate(zip(axes, ("throttle u0", "collective servo u1"),
                                               (tp.throttle, tp.collective_servo))):
        ax.step(tu, u[:, i], where="post", color="tab:green", label="input")
        ax.axhline(u_star, color="tab:red", ls="--", lw=1, label="trim")
        ax.set_ylabel(f"{name}\n(rad/s$^2$)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle("Open-loop inputs")
    f2 = out / "inputs.png"
    fig.savefig(f2, dpi=90)
    return [f1, f2]
