"""Which online identifier learns the helicopter: linear least squares against the incremental recurrent net.

Run:  python benchmarks/bench_identifier.py [--seeds 5] [--quick]

Protocol (per seed): a PID (``PIDController.from_plant()``) flies a slow
random staircase of set-points (rotor 110-165 rad/s, altitude 0.4-1.7 m, held
3-8 s) with random-step input excitation and the env's sensor noise, for a
120 s training episode and a separate 60 s test episode. Each identifier makes
one online pass over the training data (one ``update`` call per step, timed),
then its weights are frozen; on the test episode its hidden state is driven by
the measured data (teacher forcing) and from every 10th step it free-runs 50
steps on the recorded inputs. The figure is the RMS over starts of the error
of the 50th predicted step against the true (noise-free) state. The floor row
runs the true plant model from the noisy measurement. Prints a table and
writes the record ``benchmarks/records/identifier.json``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import plants  # noqa: E402, F401  (registers the env)
from neurocontrol import PIDController  # noqa: E402
from neurocontrol.controllers.measurement_filter import MeasurementFilter  # noqa: E402
from neurocontrol.controllers.neural import NeuralControllerConfig  # noqa: E402
from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier  # noqa: E402
from neurocontrol.nets.incremental import IncrementalConfig, free_run, one_step_predictions  # noqa: E402
from plants.helicopter import HelicopterParams, observation_bounds, step  # noqa: E402

NOISE = np.array([0.2, 0.002, 0.01, 0.0002, 0.005])   # sensor noise std, as scenarios/sensor_noise.toml
HORIZON, STRIDE = 50, 10
TRAIN_S, TEST_S = 120.0, 60.0
RECORD = Path(__file__).resolve().parent / "records" / "identifier.json"


def fly(seed: int, duration: float):
    """Closed-loop PID episode on a random staircase with input excitation; returns (y, x, u)."""
    rng = np.random.default_rng(seed)
    steps = int(round(duration / 0.01))
    env = gym.make("neurocontrol/Helicopter-v0", sensor_noise_std=NOISE, max_episode_steps=steps + 1)
    obs, info = env.reset(seed=seed, options={"initial_state": [140.0, 1.0, 0.0, 0.12301, 0.0]})
    ctrl = PIDController.from_plant()
    sp = np.array([140.0, 1.0])
    ctrl.reset(obs, sp)
    ys, xs, us = [obs], [info["state"]], []
    next_sp, next_ex, ex = 0, 0, np.zeros(2)
    for t in range(steps):
        if t >= next_sp:
            sp = np.array([rng.uniform(110.0, 165.0), rng.uniform(0.4, 1.7)])
            next_sp = t + int(rng.uniform(3.0, 8.0) / 0.01)
        if t >= next_ex:
            ex = rng.uniform(-1, 1, 2) * np.array([15.0, 40.0])
            next_ex = t + int(rng.uniform(0.1, 0.4) / 0.01)
        obs, _, term, trunc, info = env.step(ctrl.step(obs, sp) + ex)
        ys.append(obs)
        xs.append(info["state"])
        us.append(info["action"])
        if term or trunc:
            raise RuntimeError(f"episode of seed {seed} ended at step {t} (terminated={term})")
    env.close()
    return np.array(ys), np.array(xs), np.array(us)


def make_config(hidden: int) -> IncrementalConfig:
    prm = HelicopterParams()
    return IncrementalConfig(n_outputs=5, n_inputs=2, n_hidden=hidden, output_range=prm.state_ranges.T,
                             input_range=prm.input_limits.T)


def evaluate(cfg, theta, y, x, u):
    """Errors of the 50th free-run step (RMS over starts) against the true state, and the blow-up count."""
    yn, un = cfg.normalize_outputs(y), cfg.normalize_inputs(u)
    _, hidden = one_step_predictions(cfg, theta, yn[:-1], un, np.zeros(cfg.n_hidden))
    lo, hi = observation_bounds()
    errs, bad = [], 0
    for t0 in range(0, u.shape[0] - HORIZON + 1, STRIDE):
        out, _ = free_run(cfg, theta, yn[t0], un[t0:t0 + HORIZON], hidden[t0])
        pred = cfg.denormalize_outputs(out[-1])
        if not (np.all(np.isfinite(pred)) and np.all(pred >= lo) and np.all(pred <= hi)):
            bad += 1
            continue
        errs.append(pred - x[t0 + HORIZON])
    errs = np.array(errs)
    return np.sqrt(np.mean(errs ** 2, axis=0)), bad


def floor(y, x, u):
    """The true plant model run from the noisy measurement, same starts and metric."""
    errs = []
    for t0 in range(0, u.shape[0] - HORIZON + 1, STRIDE):
        s = y[t0].copy()
        for k in range(HORIZON):
            s = step(s, u[t0 + k])
        errs.append(s - x[t0 + HORIZON])
    return np.sqrt(np.mean(np.array(errs) ** 2, axis=0))


def identifiers(noise_var):
    """The compared identifiers: name -> (hidden units, rule)."""
    robust = dict(measurement_noise=noise_var, output_covariance=1.0, hidden_covariance=0.01, dead_zone=0.5,
                  outlier_gate=10.0)
    return {
        "linear least squares (H=0, no forgetting)": (0, DecoupledEKF(measurement_noise=noise_var,
                                                                     output_covariance=1.0)),
        "incremental RTRN H=4, node-decoupled EKF": (4, DecoupledEKF(**robust)),
        "incremental RTRN H=8, node-decoupled EKF": (8, DecoupledEKF(**robust)),
        "incremental RTRN H=4, global EKF": (4, DecoupledEKF(**robust, decoupled=False)),
        "the neural controller's default identifier (H=8, its rule)": (8, NeuralControllerConfig().rule()),
        AS_CONTROLLER: (8, NeuralControllerConfig().rule()),
    }


#: the row trained as the neural controller trains its identifier (see :func:`train`)
AS_CONTROLLER = "the same, as in the controller (blended regressor, noise-scaled R)"


def train(ident, y, u, as_controller: bool) -> None:
    """One online pass over the episode (``u.shape[0]`` transitions).

    ``as_controller``: the regressor is the neural controller's blended state
    (``MeasurementFilter``: the measurement blended with the identifier's
    one-step prediction by the gain from the model-free noise estimate) and the
    EKF's R per signal is at least ``noise_scaled_r`` times that estimate once
    its window is full, as ``NeuralController.step`` does after its warm-up;
    the target is the raw measurement. Otherwise: plain teacher forcing on the
    measurements with a fixed R.
    """
    if not as_controller:
        ident.fit(y, u)
        return
    cfg = ident.config
    filt, scale = MeasurementFilter(cfg.n_outputs), NeuralControllerConfig().noise_scaled_r
    r0 = ident._R.copy()                       # the rule's R: the floor
    yn = cfg.normalize_outputs(y)
    filt.measure(yn[0])
    x = y[0]
    for t in range(u.shape[0]):
        ident.update(x, u[t], y[t + 1])
        filt.measure(yn[t + 1])
        pred = (ident.last_prediction - cfg.output_mid) / cfg.output_half
        x = filt.blend(yn[t + 1], pred) * cfg.output_half + cfg.output_mid
        if t + 1 >= filt.window:
            np.maximum(r0, scale * filt.noise_var, out=ident._R)


def run(seeds: list[int], quick: bool):
    cfg0 = make_config(0)
    noise_var = 2.0 * (NOISE / cfg0.output_half) ** 2   # y(t) and y(t+1) both carry sensor noise
    rows = {name: {"alt_mm": [], "rotor": [], "us": [], "bad": 0, "skipped": 0} for name in identifiers(noise_var)}
    floors = []
    train_s, test_s = (TRAIN_S / 4, TEST_S / 4) if quick else (TRAIN_S, TEST_S)
    for seed in seeds:
        y_tr, _, u_tr = fly(seed, train_s)
        y_te, x_te, u_te = fly(10_000 + seed, test_s)
        fl = floor(y_te, x_te, u_te)
        floors.append((fl[1] * 1e3, fl[0]))
        for name, (hidden, rule) in identifiers(noise_var).items():
            cfg = make_config(hidden)
            ident = IncrementalIdentifier(cfg, rule, rng=seed)
            IncrementalIdentifier(cfg, rule, rng=seed).update(y_tr[0], u_tr[0], y_tr[1])   # compile, not timed
            t0 = time.perf_counter()
            train(ident, y_tr, u_tr, name == AS_CONTROLLER)
            us = (time.perf_counter() - t0) / u_tr.shape[0] * 1e6
            rms, bad = evaluate(cfg, np.array(ident.weights), y_te, x_te, u_te)
            c = ident.counts
            r = rows[name]
            r["alt_mm"].append(float(rms[1] * 1e3))
            r["rotor"].append(float(rms[0]))
            r["us"].append(us)
            r["bad"] += bad + (0 if np.all(np.isfinite(ident.weights)) else 1)
            r["skipped"] += c["dead_zone"] + c["outlier"] + c["non_finite"]
            print(f"seed {seed}: {name}: alt {rms[1] * 1e3:.2f} mm, rotor {rms[0]:.3f} rad/s, {us:.1f} us, "
                  f"bad {bad}, counts {c}", file=sys.stderr)
    return rows, floors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="quarter-length episodes, no record written")
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    rows, floors = run(seeds, args.quick)
    base = float(np.median(rows[next(iter(rows))]["alt_mm"]))
    base_rot = float(np.median(rows[next(iter(rows))]["rotor"]))
    table = []
    fl = np.median(np.array(floors), axis=0)
    table.append({"identifier": "floor: true plant from the noisy measurement", "alt_mm": float(fl[0]),
                  "rotor_rad_s": float(fl[1]), "alt_ratio": None, "rotor_ratio": None, "us_per_update": None,
                  "blow_ups": 0, "alt_mm_per_seed": [float(f[0]) for f in floors]})
    for name, r in rows.items():
        alt, rot = float(np.median(r["alt_mm"])), float(np.median(r["rotor"]))
        table.append({"identifier": name, "alt_mm": alt, "rotor_rad_s": rot, "alt_ratio": alt / base,
                      "rotor_ratio": rot / base_rot, "us_per_update": float(np.median(r["us"])),
                      "blow_ups": r["bad"], "skipped_updates": r["skipped"], "alt_mm_per_seed": r["alt_mm"],
                      "rotor_per_seed": r["rotor"]})
    print(f"\n50-step free-run error at the 50th step, median over {len(seeds)} seeds "
          f"({'quick' if args.quick else 'full'} protocol)\n")
    print(f"| {'identifier':45s} | alt mm | ratio | rotor rad/s | ratio | us/update | blow-ups |")
    print(f"|{'-' * 47}|--------|-------|-------------|-------|-----------|----------|")
    for row in table:
        ra = "-" if row["alt_ratio"] is None else f"{row['alt_ratio']:.2f}"
        rr = "-" if row["rotor_ratio"] is None else f"{row['rotor_ratio']:.2f}"
        us = "-" if row["us_per_update"] is None else f"{row['us_per_update']:.1f}"
        print(f"| {row['identifier']:45s} | {row['alt_mm']:6.2f} | {ra:>5s} | {row['rotor_rad_s']:11.3f} | {rr:>5s} "
              f"| {us:>9s} | {row['blow_ups']:8d} |")
    if args.quick:
        return
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    record = {"benchmark": "identifier", "command": "python benchmarks/bench_identifier.py " + " ".join(argv or
                                                                                                       sys.argv[1:]),
              "git_commit": commit, "seeds": seeds, "horizon_steps": HORIZON, "start_stride": STRIDE,
              "train_s": TRAIN_S, "test_s": TEST_S, "sensor_noise_std": NOISE.tolist(),
              "target": "median altitude error ratio to linear least squares <= 0.5, no blow-up",
              "rows": table,
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count(), "python": platform.python_version()}}
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nrecord written to {RECORD}")


if __name__ == "__main__":
    main()
