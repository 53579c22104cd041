"""Speed of one exact RTRL step, float64, single thread (prints a table; asserts nothing).

Run:  python benchmarks/bench_rtrl.py [--quick]

For each network size n (units) with m = 4 external inputs including the bias
(n = 5 uses the helicopter RTRN: 2 inputs + bias), it reports the time per
RTRL step

* ``py-call``: one compiled numba call per step from a Python loop, with
  preallocated double buffers (what an online learner does every control step);
* ``seq``: per step inside one compiled call over a whole sequence (loss and
  gradient accumulation included);
* ``numpy``: the numpy GEMM form (``matmul(out=)`` into the double buffer);
* ``einsum``: the plain einsum reference;

and GFLOP/s of the best of them counting the sensitivity GEMM, 2 n^3 (n + m)
flops, against the DGEMM peak measured in the same run (2048^3 matmul,
single thread). Targets from the project brief (one core, peak ~42 GFLOP/s):
n >= 64 at >= 75 % of peak; n = 32 <= 95 us; n = 16 <= 12 us; n <= 8
<= 2.5 us per call from Python and <= 1.5 us per step in a compiled loop.
"""

from __future__ import annotations

import os

# single-threaded BLAS before numpy is imported (threadpoolctl is used if present)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:  # noqa: E402
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

from neurocontrol.nets import _kernels  # noqa: E402
from neurocontrol.nets.rtrl import BLAS_MIN_UNITS, ExactRTRL  # noqa: E402
from neurocontrol.nets.rtrn import RTRNConfig, stack_z  # noqa: E402

ROUND_S = 0.02  # target duration of one timing round


def best_time(fn, rounds: int = 7) -> float:
    """Median over ``rounds`` of the mean time per call (s); calls per round calibrated to ~ROUND_S."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(ROUND_S / once))
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) / reps)
    return statistics.median(times)


def dgemm_peak(n: int = 2048) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    c = np.empty((n, n))
    np.matmul(a, b, out=c)
    t = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(3))
    return 2 * n ** 3 / t / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def problem(n: int, n_inputs: int):
    cfg = RTRNConfig(n_outputs=n, n_inputs=n_inputs)
    rng = np.random.default_rng(n)
    W = rng.normal(0, 0.3 / np.sqrt(cfg.n_z), cfg.weight_shape)
    z = stack_z(cfg, rng.uniform(-0.5, 0.5, n), rng.uniform(-1, 1, n_inputs))
    return cfg, W, z


def einsum_step(W, z, P3, n):
    s = np.einsum("kj,j->k", W, z)
    y = np.tanh(s)
    fp = 1 - y * y
    new = np.einsum("kl,lij->kij", W[:, :n], P3)
    new[np.arange(n), np.arange(n), :] += z
    new *= fp[:, None, None]
    return y, new


def bench(n: int, n_inputs: int, rounds: int) -> dict:
    cfg, W, z = problem(n, n_inputs)
    nz = cfg.n_z
    flops = 2 * n ** 3 * nz
    use_blas = int(n >= BLAS_MIN_UNITS)
    out = {"n": n, "m": n_inputs + 1, "flops": flops}

    # one compiled call per step from Python, double-buffered
    P, Pn = np.zeros((n, n * nz)), np.zeros((n, n * nz))
    y, fp = np.empty(n), np.empty(n)
    bufs = [P, Pn]
    k = _kernels.rtrl_step_kernel
    act = _kernels.TANH

    def py_call():
        k(W, z, bufs[0], bufs[1], y, fp, act, 0, use_blas)
        bufs.reverse()

    for _ in range(50):
        py_call()
    out["py_call"] = best_time(py_call, rounds)

    # the public strategy object (shape checks, buffer bookkeeping)
    rtrl = ExactRTRL()
    st = rtrl.init_state(cfg)
    out["strategy"] = best_time(lambda: rtrl.step(W, z, st), rounds)

    # one compiled call for a whole sequence
    T = int(min(2000, max(4, 0.01 / max(out["py_call"], 1e-7))))
    rng = np.random.default_rng(1)
    U = rng.uniform(-1, 1, (T, n_inputs))
    D = rng.uniform(-0.5, 0.5, (T, n))
    G, Y = np.empty(n * n * nz), np.empty((T, n))
    y0 = np.zeros(n)

    def seq():
        _kernels.rtrl_sequence_kernel(W, y0, U, D, n, 0, act, 1, P, Pn, G, Y, use_blas)

    seq()
    out["seq"] = best_time(seq, rounds) / T

    # numpy GEMM form
    rn = ExactRTRL("numpy")
    stn = rn.init_state(cfg)
    out["numpy"] = best_time(lambda: rn.step(W, z, stn), rounds)

    # einsum reference
    P3 = np.zeros((n, n, nz))
    out["einsum"] = best_time(lambda: einsum_step(W, z, P3, n), max(3, rounds // 2))

    # the bare GEMM of the same shape, for context
    Aw = np.ascontiguousarray(W[:, :n])
    out["gemm"] = best_time(lambda: np.matmul(Aw, P, out=Pn), rounds)
    return out


TARGETS_US = {5: (2.5, 1.5), 8: (2.5, 1.5), 16: (12.0, None), 32: (95.0, None)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, metavar="N",
                    help="network sizes to run (default: 5 8 16 32 64 128)")
    args = ap.parse_args(argv)

    limiter = threadpool_limits(1) if threadpool_limits is not None else None
    print(f"python {platform.python_version()}, numpy {np.__version__}, machine {platform.machine()}, "
          f"threadpoolctl {'yes' if limiter is not None else 'no (env vars set to 1 thread)'}")
    for var in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        print(f"  {var}={os.environ.get(var, '<unset>')}")
    peak = dgemm_peak(1024 if args.quick else 2048)
    print(f"measured DGEMM peak (single thread, {1024 if args.quick else 2048}^3): {peak:.1f} GFLOP/s")
    print(f"BLAS_MIN_UNITS = {BLAS_MIN_UNITS} (numba loops below, BLAS GEMM from there)\n")

    sizes = [(5, 2), (8, 3), (16, 3), (32, 3), (64, 3), (128, 3)]
    if args.sizes:
        sizes = [(n, 2 if n == 5 else 3) for n in args.sizes]
    hdr = (f"{'n':>4} {'m':>2} {'py-call us':>11} {'seq us':>9} {'strategy us':>12} {'numpy us':>10} "
           f"{'einsum us':>11} {'GEMM-only us':>13} {'GFLOP/s':>8} {'% peak':>7} {'x einsum':>9}  target")
    print(hdr)
    print("-" * len(hdr))
    for n, n_in in sizes:
        r = bench(n, n_in, 3 if args.quick else 9)
        best = min(r["py_call"], r["seq"])
        gf = r["flops"] / best / 1e9
        tgt = ""
        if n in TARGETS_US:
            tc, ts = TARGETS_US[n]
            tgt = f"call<={tc:g}: {'ok' if r['py_call'] * 1e6 <= tc else 'MISS'}"
            if ts is not None:
                tgt += f", seq<={ts:g}: {'ok' if r['seq'] * 1e6 <= ts else 'MISS'}"
        else:
            tgt = f">=75% peak: {'ok' if gf >= 0.75 * peak else 'MISS'}"
        print(f"{n:>4} {r['m']:>2} {r['py_call'] * 1e6:>11.2f} {r['seq'] * 1e6:>9.2f} {r['strategy'] * 1e6:>12.2f} "
              f"{r['numpy'] * 1e6:>10.2f} {r['einsum'] * 1e6:>11.1f} {r['gemm'] * 1e6:>13.2f} {gf:>8.1f} "
              f"{100 * gf / peak:>6.0f}% {r['einsum'] / best:>9.1f}  {tgt}")
    print("\nGFLOP/s, % peak and x einsum use the faster of py-call and seq; flops = 2 n^3 (n + m).")


if __name__ == "__main__":
    main()
