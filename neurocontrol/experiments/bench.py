"""Short speed benchmarks for ``neurocontrol bench``: the plant, one RTRL step, and the control steps.

Quick forms (about a second each) of ``benchmarks/bench_plant.py`` and
``benchmarks/bench_rtrl.py``, which stay the reference for careful
measurements (more rounds, single-threaded BLAS, DGEMM peak). Every figure
is the best of a few timing rounds; nothing is asserted.

Examples
--------
>>> from neurocontrol.experiments.bench import bench_rtrl
>>> row = bench_rtrl(sizes=(5,), rounds=1)[0]
>>> row["n_units"], row["us_per_step"] > 0
(5, True)
"""

from __future__ import annotations

import platform
import time

import numpy as np

from neurocontrol._timing import best_rate
from neurocontrol.nets.rtrl import ExactRTRL
from neurocontrol.nets.rtrn import RTRNConfig, stack_z
from neurocontrol.registry import registered
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.simulation.loop import simulate

__all__ = ["bench_rtrl", "bench_control_step", "run_benchmarks"]




def bench_rtrl(sizes=(5, 8, 16, 32), n_inputs: int = 3, rounds: int = 3) -> list[dict]:
    """Microseconds per exact RTRL step (the public :class:`neurocontrol.nets.rtrl.ExactRTRL` strategy) by network size.

    Parameters
    ----------
    sizes : sequence of int, default (5, 8, 16, 32)
        Network sizes (units).
    n_inputs : int, default 3
        Exogenous inputs of each network.
    rounds : int, default 3
        Timing rounds; the best is reported.

    Returns
    -------
    list of dict
        ``n_units``, ``n_inputs`` and ``us_per_step`` for each size.
    """
    rows = []
    for n in sizes:
        cfg = RTRNConfig(n_outputs=int(n), n_inputs=n_inputs)
        rng = np.random.default_rng(n)
        W = rng.normal(0.0, 0.3 / np.sqrt(cfg.n_z), cfg.weight_shape)
        z = stack_z(cfg, rng.uniform(-0.5, 0.5, cfg.n_units), rng.uniform(-1.0, 1.0, n_inputs))
        strategy = ExactRTRL()
        state = strategy.init_state(cfg)
        reps = max(20, int(20_000 / (n * n * cfg.n_z) * 50))

        def run(k, strategy=strategy, W=W, z=z, state=state):
            for _ in range(k):
                strategy.step(W, z, state)

        rate = best_rate(run, reps, rounds)
        rows.append({"n_units": int(n), "n_inputs": n_inputs, "us_per_step": 1e6 / rate})
    return rows


def _timed(controller) -> list:
    """Wrap ``controller.step`` (on the instance) to record each call's wall time (ns), one entry per step."""
    inner, record = controller.step, []

    def step(*args, **kwargs):
        t0 = time.perf_counter_ns()
        u = inner(*args, **kwargs)
        record.append(time.perf_counter_ns() - t0)
        return u

    controller.step = step
    return record


def bench_control_step(seconds: float = 2.0, neural_seconds: float = 4.0) -> dict:
    """Median wall time of one ``controller.step`` (us) of the baselines and the neural controller in a hover loop.

    Every loop runs through :func:`~neurocontrol.simulation.loop.simulate` (seed 0, the helicopter holding its
    set-point). The neural controller runs with its defaults; its median is over the steps of its predictive law
    only, after the warm-up its builder chose (the automatic LQR-I on this plant). ``neural_over_lqr`` is the ratio
    of the two medians measured in this call (issue #13's figure; ``benchmarks/bench_controller.py`` measures it
    more carefully).

    Parameters
    ----------
    seconds : float, default 2.0
        Simulated time of each baseline's loop, s.
    neural_seconds : float, default 4.0
        Simulated time of the neural controller's loop, s (its warm-up included).

    Returns
    -------
    dict
        ``{kind: {"control_step_us": ..., "steps": ...}}`` for ``pid``, ``lqr`` and ``neural`` (its ``steps``
        counts the predictive steps timed), and ``neural_over_lqr``.
    """
    base = Scenario.from_dict({"plant": {"kind": "helicopter"}, "reference": {"kind": "setpoint"},
                               "controller": {"kind": "pid"}, "run": {"duration": float(seconds)}},
                              source="<bench>")
    out = {}
    for kind in ("pid", "lqr"):
        res = run_scenario(base.set("controller.kind", kind), seed=0)
        out[kind] = {"control_step_us": res.metrics["control_step_us"], "steps": res.n_steps}
    sc = base.set("controller.kind", "neural").set("run.duration", float(neural_seconds))
    setup = sc.build(0)
    record = _timed(setup.controller)
    res = simulate(setup.env, setup.controller, setup.reference, duration=sc.run.duration, seed=setup.seed,
                   options=setup.options, events=setup.events, meta=setup.meta)
    law = [ns for a, b in res.mode_spans("predictive") for ns in record[a:b]]
    out["neural"] = {"control_step_us": float(np.median(law)) / 1e3 if law else None, "steps": len(law)}
    lqr, neural = out["lqr"]["control_step_us"], out["neural"]["control_step_us"]
    out["neural_over_lqr"] = neural / lqr if neural and lqr else None
    return out


def _bench_plants(**kwargs) -> dict:
    """Run the speed benchmark of the built-in plant(s) registered in section ``plant_bench``."""
    benches = registered("plant_bench")
    if not benches:
        return {}
    return next(iter(benches.values())).build(**kwargs)


def run_benchmarks(quick: bool = True) -> dict:
    """All short benchmarks, as one JSON-serialisable dict.

    Parameters
    ----------
    quick : bool, default True
        About a second per benchmark; False: the longer forms.

    Returns
    -------
    dict
        ``plant`` (the registered plant's benchmark, section ``plant_bench``), ``rtrl`` (:func:`bench_rtrl`),
        ``control_step`` (:func:`bench_control_step`), ``machine`` (Python
        version, processor, CPU count) and ``quick``.
    """
    import os

    t0 = time.perf_counter()
    res = {
        "plant": _bench_plants(steps=5_000 if quick else 100_000, rounds=2 if quick else 5),
        "rtrl": bench_rtrl(sizes=(5, 16) if quick else (5, 8, 16, 32, 64), rounds=2 if quick else 5),
        "control_step": bench_control_step(seconds=2.0 if quick else 30.0, neural_seconds=4.0 if quick else 30.0),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
        "quick": bool(quick),
    }
    res["wall_time_s"] = time.perf_counter() - t0
    return res
