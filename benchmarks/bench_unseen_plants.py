"""Plants no setting was chosen on: the neural controller's defaults against the generic LQR-I and PID.

Run:  python benchmarks/bench_unseen_plants.py [--seeds 20] [--noise 0.005] [--workers 2] [--plants a,b]
      [--no-record]

Every default of the neural controller was chosen by measurement on the shipped plants (the helicopter,
the quadruple tank, the planar VTOL, the CSTR, the twin rotor). The eight plants here were written after
those choices, as a user would write a plant of their own (a ``control.nlsys`` wrapped in
:class:`plants.iosys_env.IOSystemEnv`, with its ranges, limits and set-point declared), and no setting was
changed for them:

- ``two_carts``: two carts on hardening springs (``examples/custom_plant.py``), measured by their positions only;
- ``heated_zones``: two coupled heated zones, first-order lags of 20 and 60 s, a 1 s period;
- ``three_states``: a 3-input 3-output coupled linear plant with a cubic damping on its third state;
- ``two_levels``: two coupled integrating levels (inflow pumps against a fixed outflow);
- ``one_mass``: a single-input mass on a hardening spring, measured by its position only;
- ``discrete``: a discrete-time 2x2 linear plant (``dt`` of the system itself);
- ``over_actuated``: three inputs for two outputs;
- ``badly_scaled``: inputs of 0-1000 and +-0.01, outputs moved by both.

Each flies a staircase of four set-points per output (known ahead: the neural controller previews it),
success judged over the last eighth of the run within a tolerance per output. The neural controller is built
with ``NeuralControllerConfig(output_indices=...)`` and nothing else; the generic LQR-I with
``LQRIConfig(output_indices=...)`` at the env's declared set-point (its default weights; it is given the
python-control model, the neural controller is not), and the generic PID with
``PIDAutoConfig(output_indices=...)`` (its loops designed on that model; a plant it refuses is a row of refused
runs with the reason). ``--noise F`` adds sensor noise of ``F`` times each
observation's declared range (success is then also judged on the true outputs). Prints, per plant and
controller, the successes, stopped runs and the median IAE per output (of the true outputs); writes
``benchmarks/records/unseen_plants.json`` (or ``unseen_plants_noise.json``), table in docs/plants.md.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NamedTuple  # noqa: E402

import control  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _record import ROOT, write_record  # noqa: E402

from neurocontrol.controllers.generic import LQRIConfig, build_lqr_i  # noqa: E402
from neurocontrol.controllers.neural import build_neural  # noqa: E402
from neurocontrol.controllers.neural_config import NeuralControllerConfig  # noqa: E402
from neurocontrol.controllers.pid_auto import PIDAutoConfig, build_pid_auto  # noqa: E402
from neurocontrol.exceptions import ParameterError  # noqa: E402
from neurocontrol.reference import MultiSignal, Staircase  # noqa: E402
from neurocontrol.simulation.loop import simulate  # noqa: E402
from plants.iosys_env import IOSystemEnv  # noqa: E402

KINDS = ("neural", "lqr_i", "pid_auto")


class Task(NamedTuple):
    """A plant and its standard task: the env, the staircase's levels per output, run length and tolerances."""

    env: IOSystemEnv
    levels: tuple            # per controlled output, the four set-points
    duration: float          # s
    tolerance: float         # per output, in its unit
    output_indices: tuple    # the controlled outputs within the observation

    def reference(self) -> MultiSignal:
        """The staircase: each output's levels at 0, 1/4, 1/2 and 3/4 of the run."""
        times = tuple(i * self.duration / 4 for i in range(4))
        return MultiSignal(signals=tuple(Staircase(times=times, levels=lv) for lv in self.levels))


def _env(sys_, levels, noise: float, **kw) -> IOSystemEnv:
    """The env of ``sys_``: set-point at the first level of each output, sensor noise ``noise`` of each range."""
    span = np.asarray(kw["observation_high"], float) - np.asarray(kw["observation_low"], float)
    return IOSystemEnv(sys_, setpoint=[lv[0] for lv in levels], output_noise_std=noise * span, **kw)


def _custom_plant():
    spec = importlib.util.spec_from_file_location("custom_plant", ROOT / "examples" / "custom_plant.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_carts(noise: float = 0.0) -> Task:
    levels = ((0.5, -0.3, 0.2, 0.6), (-0.4, 0.3, 0.5, -0.2))
    env = _env(_custom_plant().make_plant(), levels, noise, dt=0.01, substeps=2, input_limits=[[-10.0, 10.0]] * 2,
               observation=["x1", "x2"], observation_low=[-1.5, -1.5], observation_high=[1.5, 1.5],
               x0=lambda rng: np.concatenate([rng.uniform(-0.3, 0.3, 2), np.zeros(2)]))
    return Task(env, levels, 40.0, 0.02, (0, 1))


def _zones(t, x, u, params):
    return np.array([(-x[0] + 0.4 * x[1] + 3.0 * u[0]) / 20.0, (-x[1] + 0.3 * x[0] + 2.0 * u[1] + 0.8 * u[0]) / 60.0])


def heated_zones(noise: float = 0.0) -> Task:
    levels = ((25.0, 35.0, 30.0, 20.0), (25.0, 20.0, 32.0, 28.0))
    sys_ = control.nlsys(_zones, None, states=["T1", "T2"], inputs=["P1", "P2"], outputs=["T1", "T2"], name="zones")
    env = _env(sys_, levels, noise, dt=1.0, substeps=4, input_limits=[[0.0, 10.0]] * 2, observation_low=[0.0, 0.0],
               observation_high=[60.0, 60.0], x0=lambda rng: rng.uniform(10.0, 20.0, 2))
    return Task(env, levels, 1200.0, 0.5, (0, 1))


_A3 = np.array([[-1.0, 0.3, 0.0], [0.2, -0.5, 0.4], [0.0, 0.3, -0.8]])
_B3 = np.array([[1.0, 0.2, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])


def _three(t, x, u, params):
    return _A3 @ x + _B3 @ u - np.array([0.0, 0.0, 0.2 * x[2] ** 3])


def three_states(noise: float = 0.0) -> Task:
    levels = ((1.0, -1.0, 0.5, 0.0), (0.5, 1.0, -0.5, 0.2), (-1.0, 0.5, 1.0, -0.3))
    sys_ = control.nlsys(_three, None, states=["a", "b", "c"], inputs=["u1", "u2", "u3"], outputs=["a", "b", "c"],
                         name="three")
    env = _env(sys_, levels, noise, dt=0.05, substeps=2, input_limits=[[-5.0, 5.0]] * 3, observation_low=[-5.0] * 3,
               observation_high=[5.0] * 3, x0=lambda rng: rng.uniform(-0.5, 0.5, 3))
    return Task(env, levels, 60.0, 0.05, (0, 1, 2))


def _levels(t, x, u, params):
    return np.array([(u[0] - 0.3 * u[1] - 1.0) / 2.0, (u[1] - 0.2 * u[0] - 1.0) / 2.0])


def two_levels(noise: float = 0.0) -> Task:
    levels = ((2.0, 2.5, 1.5, 2.2), (2.0, 1.6, 2.4, 2.8))
    sys_ = control.nlsys(_levels, None, states=["h1", "h2"], inputs=["q1", "q2"], outputs=["h1", "h2"],
                         name="levels")
    env = _env(sys_, levels, noise, dt=0.5, input_limits=[[0.0, 3.0]] * 2, observation_low=[0.0, 0.0],
               observation_high=[4.0, 4.0], state_bounds=[[0.0, 4.0], [0.0, 4.0]],
               x0=lambda rng: rng.uniform(1.5, 2.5, 2))
    return Task(env, levels, 600.0, 0.04, (0, 1))


def _mass(t, x, u, params):
    return np.array([x[1], (-x[0] - 0.8 * x[1] - 0.3 * x[0] ** 3 + u[0]) / 0.5])


def one_mass(noise: float = 0.0) -> Task:
    levels = ((0.5, -0.5, 1.0, 0.0),)
    sys_ = control.nlsys(_mass, None, states=["y", "v"], inputs=["F"], outputs=["y", "v"], name="mass")
    env = _env(sys_, levels, noise, dt=0.05, substeps=2, input_limits=[[-3.0, 3.0]], observation=["y"],
               observation_low=[-2.0], observation_high=[2.0], x0=lambda rng: np.array([rng.uniform(-0.5, 0.5), 0.0]))
    return Task(env, levels, 60.0, 0.02, (0,))


_AD = np.array([[0.9, 0.05], [0.0, 0.8]])
_BD = np.array([[0.1, 0.0], [0.05, 0.2]])


def _discrete(t, x, u, params):
    return _AD @ x + _BD @ u


def discrete(noise: float = 0.0) -> Task:
    levels = ((1.0, -1.0, 0.5, 0.0), (0.5, 1.0, -0.5, 0.2))
    sys_ = control.nlsys(_discrete, None, states=["a", "b"], inputs=["u1", "u2"], outputs=["a", "b"], dt=0.1,
                         name="discrete")
    env = _env(sys_, levels, noise, input_limits=[[-2.0, 2.0]] * 2, observation_low=[-3.0, -3.0],
               observation_high=[3.0, 3.0], x0=lambda rng: rng.uniform(-0.5, 0.5, 2))
    return Task(env, levels, 60.0, 0.03, (0, 1))


def _over(t, x, u, params):
    return np.array([-0.5 * x[0] + u[0] + 0.5 * u[2], -0.3 * x[1] + u[1] + 0.5 * u[2]])


def over_actuated(noise: float = 0.0) -> Task:
    levels = ((1.0, -1.0, 0.5, 0.0), (0.5, 1.0, -0.5, 0.2))
    sys_ = control.nlsys(_over, None, states=["a", "b"], inputs=["u1", "u2", "u3"], outputs=["a", "b"], name="over")
    env = _env(sys_, levels, noise, dt=0.1, substeps=2, input_limits=[[-1.0, 1.0]] * 3, observation_low=[-4.0, -4.0],
               observation_high=[4.0, 4.0], x0=lambda rng: rng.uniform(-0.5, 0.5, 2))
    return Task(env, levels, 80.0, 0.03, (0, 1))


def _scaled(t, x, u, params):
    return np.array([(-x[0] + 0.002 * u[0] + 50.0 * u[1]) / 5.0, (-x[1] + 0.001 * u[0] - 80.0 * u[1]) / 8.0])


def badly_scaled(noise: float = 0.0) -> Task:
    levels = ((1.0, 1.5, 0.8, 1.2), (0.8, 0.3, 1.0, 0.5))
    sys_ = control.nlsys(_scaled, None, states=["a", "b"], inputs=["q", "v"], outputs=["a", "b"], name="scaled")
    env = _env(sys_, levels, noise, dt=0.2, substeps=2, input_limits=[[0.0, 1000.0], [-0.01, 0.01]],
               observation_low=[-2.0, -2.0], observation_high=[3.0, 3.0], x0=lambda rng: rng.uniform(0.5, 1.0, 2))
    return Task(env, levels, 200.0, 0.02, (0, 1))


#: name -> the task's maker (sensor noise as a fraction of each observation's range).
PLANTS = {f.__name__: f for f in (two_carts, heated_zones, three_states, two_levels, one_mass, discrete,
                                  over_actuated, badly_scaled)}


def controller(task: Task, kind: str):
    """The controller ``kind`` for ``task`` with its defaults: ``neural`` (the reference previewed), ``lqr_i`` or
    ``pid_auto``."""
    if kind == "neural":
        ctrl = build_neural(NeuralControllerConfig(output_indices=task.output_indices), task.env)
        ctrl.set_preview(task.reference())
        return ctrl
    if kind == "lqr_i":
        return build_lqr_i(LQRIConfig(output_indices=task.output_indices), task.env)
    if kind == "pid_auto":
        return build_pid_auto(PIDAutoConfig(output_indices=task.output_indices), task.env)
    raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")


def fly(name: str, kind: str, seed: int, noise: float = 0.0) -> dict:
    """One run of plant ``name`` under ``kind``: status, success (measured, and true under noise), IAE per output."""
    task = PLANTS[name](noise)
    names = task.env.observation_names
    try:
        ctrl = controller(task, kind)
    except ParameterError as exc:            # a kind that refuses the plant: a row of refused runs, with the reason
        return {"seed": seed, "status": "refused", "success": False, "true_success": False, "iae": {}, "true_iae": {},
                "error": str(exc).splitlines()[0]}
    res = simulate(task.env, ctrl, task.reference(), duration=task.duration, seed=seed,
                   tolerance={names[i]: task.tolerance for i in task.output_indices},
                   final_window_s=task.duration / 8)
    m = res.metrics
    true = m.get("noiseless", m)         # without sensor noise the measured outputs are the true ones
    done = res.status == "completed"
    return {"seed": seed, "status": res.status, "success": done and bool(m["success"]),
            "true_success": done and bool(true["success"]),
            "iae": {o: float(v["iae"]) for o, v in m["outputs"].items()},
            "true_iae": {o: float(v["iae"]) for o, v in true["outputs"].items()}}


def _job(job):
    return fly(*job)


def summarise(runs: list) -> dict:
    """Successes, stopped runs and the median IAE per output (completed runs) of one plant and controller."""
    done = [r for r in runs if r["status"] == "completed"]
    outputs = list(done[0]["iae"]) if done else []
    refused = [r["error"] for r in runs if r["status"] == "refused"]
    def medians(key):
        return {o: float(np.median([r[key][o] for r in done])) if done else None for o in outputs}

    return {"n": len(runs), "success": sum(r["success"] for r in runs),
            "true_success": sum(r["true_success"] for r in runs), "stopped": len(runs) - len(done) - len(refused),
            "iae_median": medians("iae"), "true_iae_median": medians("true_iae"),
            **({"refused": len(refused), "error": refused[0]} if refused else {})}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    ap.add_argument("--noise", type=float, default=0.0, help="sensor noise, fraction of each observation's range")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plants", default=",".join(PLANTS), help="comma-separated, of: " + ", ".join(PLANTS))
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    plants = [p for p in args.plants.split(",") if p]
    unknown = [p for p in plants if p not in PLANTS]
    if unknown:
        ap.error(f"unknown plant {unknown[0]!r}; choose from {', '.join(PLANTS)}")
    t0 = time.perf_counter()
    jobs = [(p, k, s, args.noise) for p in plants for k in KINDS for s in range(args.seeds)]
    with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(_job, jobs))
    figures = {}
    for p in plants:
        figures[p] = {}
        for k in KINDS:
            row = figures[p][k] = summarise([r for (jp, jk, _, _), r in zip(jobs, runs) if (jp, jk) == (p, k)])
            iae = ", ".join(f"{o} {v:.3g}" if v is not None else f"{o} -" for o, v in row["true_iae_median"].items())
            true = f", true outputs {row['true_success']}/{row['n']}" if args.noise else ""
            why = f" (refused: {row['error']})" if row.get("refused") else ""
            print(f"{p:14s} {k:8s} success {row['success']:2d}/{row['n']}{true}, stopped {row['stopped']}, "
                  f"median IAE{' of the true outputs' * bool(args.noise)}: {iae}{why}", flush=True)
    wall = time.perf_counter() - t0
    print(f"{len(jobs)} runs in {wall:.0f} s")
    if not args.no_record and args.plants == ",".join(PLANTS):
        name = "unseen_plants_noise" if args.noise else "unseen_plants"
        command = f"python benchmarks/bench_unseen_plants.py --seeds {args.seeds} --workers {args.workers}" + (
            f" --noise {args.noise:g}" if args.noise else "")
        write_record(name, command=command, scenarios=(), figures=figures, wall_s=wall, seeds=list(range(args.seeds)),
                     noise=args.noise, sources=source_hashes())
    return figures


def source_hashes() -> dict:
    """SHA-256 of the files that define these plants and tasks (this script, and the example it takes a plant from)."""
    import hashlib

    return {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest()
            for p in ("benchmarks/bench_unseen_plants.py", "examples/custom_plant.py")}


if __name__ == "__main__":
    main()
