"""Many runs: seed sweeps in local processes, comparisons, tuning with Optuna, sweeps on a Dask cluster, benchmarks."""

from __future__ import annotations

from neurocontrol.experiments.bench import bench_control_step, bench_rtrl, run_benchmarks
from neurocontrol.experiments.distributed import connect, sweep_on_cluster
from neurocontrol.experiments.sweeps import (
    STAT_KEYS,
    Comparison,
    MainGuardError,
    SweepResult,
    WorkerError,
    compare,
    default_workers,
    parse_seeds,
    sweep,
)
from neurocontrol.experiments.tuning import TuneParam, TuneResult, TuneSpec, metric_value, objective_value, tune

__all__ = [
    "sweep",
    "compare",
    "SweepResult",
    "Comparison",
    "parse_seeds",
    "STAT_KEYS",
    "default_workers",
    "MainGuardError",
    "WorkerError",
    "TuneParam",
    "TuneSpec",
    "TuneResult",
    "tune",
    "objective_value",
    "metric_value",
    "sweep_on_cluster",
    "connect",

    "bench_rtrl",
    "bench_control_step",
    "run_benchmarks",
]
