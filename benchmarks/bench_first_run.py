"""First run and later run of the README's main command: numba compile cost, time to the first message.

Runs ``neurocontrol run scenarios/neural_hover.toml --out DIR`` (the README main command) as a user
would, twice, in a fresh numba cache folder (``NUMBA_CACHE_DIR`` set to an
empty temporary folder: the same as deleting the ``*.nbi``/``*.nbc`` files
under ``neurocontrol/`` and ``plants/``, without touching the caches other
processes use): the first run compiles every kernel it calls, the second
loads them. Each mode is measured with Python's bytecode cache on (a normal
install: ``*.pyc`` files written and reused; kept in a temporary
``PYTHONPYCACHEPREFIX`` folder, already filled by a warm-up run) and off
(``PYTHONDONTWRITEBYTECODE=1``: every process compiles the Python sources of
the package and its dependencies). Figures: end-to-end wall time, time to the
first line the command prints, and the kernel compile time it reports.

Run: ``python benchmarks/bench_first_run.py`` (about a minute); writes
``benchmarks/records/first_run.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, write_record  # noqa: E402

SCENARIO = "neural_hover"


def _run(env: dict, out: Path) -> dict:
    """Run the main command once; return wall time, time to the first line and the compile report."""
    exe = Path(sys.executable).with_name("neurocontrol")
    cmd = [str(exe), "run", f"scenarios/{SCENARIO}.toml", "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    first = None
    lines = []
    for line in proc.stdout:
        if first is None:
            first = time.perf_counter() - t0
        lines.append(line)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit("".join(lines))
    text = "".join(lines)
    m = re.search(r"(\d+) kernels compiled in ([0-9.]+) s", text)
    return {"wall_s": wall, "first_line_s": first, "kernels_compiled": int(m.group(1)) if m else 0,
            "compile_s": float(m.group(2)) if m else 0.0, "first_line": lines[0].strip() if lines else ""}


def main(argv=None) -> int:
    """Measure the first and a later run, with and without Python's bytecode cache, and write the record.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    figures = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nc-first-run-") as tmp:
        tmp = Path(tmp)
        pyc = tmp / "pyc"
        base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONDONTWRITEBYTECODE",
                                                                "PYTHONPYCACHEPREFIX")}
        # warm the bytecode cache (and only it) once
        _run({**base, "PYTHONPYCACHEPREFIX": str(pyc), "NUMBA_CACHE_DIR": str(tmp / "numba-warmup")}, tmp / "w")
        modes = {"bytecode_cached": {"PYTHONPYCACHEPREFIX": str(pyc)},
                 "no_bytecode_cache": {"PYTHONDONTWRITEBYTECODE": "1"}}
        for mode, extra in modes.items():
            env = {**base, **extra, "NUMBA_CACHE_DIR": str(tmp / f"numba-{mode}")}
            first = _run(env, tmp / f"{mode}-1")
            later = _run(env, tmp / f"{mode}-2")
            figures[mode] = {"first_run": first, "later_run": later}
            print(f"{mode:<18} first run {first['wall_s']:5.1f} s (first line after {first['first_line_s']:.2f} s, "
                  f"{first['kernels_compiled']} kernels in {first['compile_s']:.1f} s), later run "
                  f"{later['wall_s']:5.1f} s")
    write_record("first_run", command="python benchmarks/bench_first_run.py", scenarios=[SCENARIO],
                 wall_s=time.perf_counter() - t_all, figures=figures,
                 main_command=f"neurocontrol run scenarios/{SCENARIO}.toml --out runs/hover")
    return 0


if __name__ == "__main__":
    sys.exit(main())
