"""Result hashes of the shipped scenarios: the behaviour a refactor must keep bit-identical.

Run ``python -m tests.golden.hashes --write`` (from the repository root) after a
deliberate change of behaviour to re-record ``scenario_hashes.json``; the test
``tests/test_golden.py`` compares every shipped scenario against it.

The digests are computed in a process whose numerical libraries use fixed
kernels: OpenBLAS's set :data:`OPENBLAS_CORE` (``OPENBLAS_CORETYPE``) and numpy's
SIMD loops at most AVX2 (``NPY_DISABLE_CPU_FEATURES`` = :data:`NUMPY_DISABLED`).
Both pick their kernels by the CPU at run time, and the same run's last bits
differ between, say, an Intel AVX-512 machine and an AMD one (the LQR designs
and matrix products go through OpenBLAS, the adaptive controller's tanh and
atanh through numpy's loops). Run as a script, the module re-starts itself
with that setting; :func:`pinned_environment` gives it to a caller's
subprocess. The compiled kernels (numba, strict or FMA-contracted arithmetic)
gave the same bits on both machines seen.
"""

from __future__ import annotations

import os
import sys

#: OpenBLAS kernel set of the recorded digests: AVX2 and FMA, which every x86-64 machine this project runs on has.
OPENBLAS_CORE = "Haswell"
#: numpy's run-time SIMD targets switched off for the digests (those beyond AVX2; absent ones are ignored).
NUMPY_DISABLED = "X86_V4 AVX512_ICL AVX512_SPR"


def pinned_environment(base=None) -> dict:
    """``base`` (default ``os.environ``) with the kernels of the digests pinned (see the module), single-threaded."""
    env = dict(os.environ if base is None else base)
    env.update(OPENBLAS_CORETYPE=OPENBLAS_CORE, NPY_DISABLE_CPU_FEATURES=NUMPY_DISABLED, OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    return env


if __name__ == "__main__" and (os.environ.get("OPENBLAS_CORETYPE"), os.environ.get("NPY_DISABLE_CPU_FEATURES")) \
        != (OPENBLAS_CORE, NUMPY_DISABLED):
    # numpy (and its OpenBLAS) must not be loaded before the setting: start again with it
    os.execve(sys.executable, [sys.executable, "-m", "tests.golden.hashes", *sys.argv[1:]], pinned_environment())

import hashlib  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RECORD = Path(__file__).with_name("scenario_hashes.json")
SEEDS = range(5)
#: metrics that measure the machine rather than the run
TIMING_KEYS = {"control_step_us", "wall_time_s", "wall_s"}
RESULT_ARRAYS = ("time", "observations", "outputs", "references", "inputs", "saturated", "prediction_error",
                 "inner_iterations")
ILC_ARRAYS = ("errors", "max_errors", "feedforward", "last_feedforward")


def _strip_timing(value):
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def _update_arrays(h, obj, names) -> None:
    for name in names:
        arr = getattr(obj, name)
        h.update(name.encode())
        if arr is None:
            h.update(b"None")
            continue
        arr = np.ascontiguousarray(arr)
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())


def result_digest(result) -> dict:
    """Two digests of one run: its time series and its metrics (timing metrics left out)."""
    series = hashlib.sha256()
    if hasattr(result, "errors"):          # a trial-to-trial (ILC) result
        _update_arrays(series, result, ILC_ARRAYS)
        for trial in (result.first_trial, result.last_trial):
            if trial is not None:
                _update_arrays(series, trial, RESULT_ARRAYS)
        metrics = {"status": result.status, "stop_reason": result.stop_reason,
                   "last": _strip_timing(result.last_trial.metrics) if result.last_trial is not None else None}
    else:
        _update_arrays(series, result, RESULT_ARRAYS)
        metrics = {"status": result.status, "metrics": _strip_timing(result.metrics)}
    text = json.dumps(metrics, sort_keys=True, allow_nan=True)
    return {"series": series.hexdigest()[:24], "metrics": hashlib.sha256(text.encode()).hexdigest()[:24]}


def scenario_files() -> list[Path]:
    return sorted((ROOT / "scenarios").glob("*.toml"))


def digest(path: Path, seed: int) -> dict:
    import neurocontrol

    return result_digest(neurocontrol.run_scenario(str(path), seed=seed))


def record() -> dict:
    return {p.name: {str(s): digest(p, s) for s in SEEDS} for p in scenario_files()}


if __name__ == "__main__":
    data = record()
    if "--write" in sys.argv:
        RECORD.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD}")
    else:
        print(json.dumps(data, indent=1, sort_keys=True))
