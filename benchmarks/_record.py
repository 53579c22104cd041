"""Benchmark records: one JSON file per benchmark under ``benchmarks/records/``, the source of the docs' tables.

A record holds the command that produced it, the git commit, the SHA-256 of
every shipped scenario it ran (``Scenario.sha256``; a record whose hash no
longer matches the shipped file is stale), the machine, and the figures.
``docs/make_tables.py`` turns records into the tables of README.md and docs/.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "benchmarks" / "records"

__all__ = ["RECORDS", "ROOT", "json_safe", "machine", "scenario_hashes", "write_record"]


def json_safe(x):
    """Return ``x`` with every non-finite float, in nested dicts, lists and tuples, replaced by None."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def machine() -> dict:
    """Describe the machine and the numeric stack a record was measured on."""
    import numba
    import numpy

    try:
        load = list(os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        load = None
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "load_average_at_end": load, "python": platform.python_version(),
            "numpy": numpy.__version__, "numba": numba.__version__}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + ("+uncommitted" if dirty else "")


def scenario_hashes(names) -> dict:
    """Map each shipped scenario name (``scenarios/<name>.toml``) to its ``Scenario.sha256``.

    Parameters
    ----------
    names : iterable of str
        Scenario file stems.
    """
    from neurocontrol.scenario import Scenario

    return {n: Scenario.from_toml(ROOT / "scenarios" / f"{n}.toml").sha256 for n in names}


def write_record(name: str, *, command: str, scenarios, figures: dict, wall_s: float, **extra) -> Path:
    """Write ``benchmarks/records/<name>.json`` atomically and return its path.

    Parameters
    ----------
    name : str
        Record name (file stem).
    command : str
        The shell command that reproduces the record.
    scenarios : iterable of str
        Stems of the shipped scenarios the figures come from.
    figures : dict
        The measured figures (JSON-serialisable).
    wall_s : float
        Wall time of the whole measurement, s.
    **extra
        Further top-level fields (e.g. seeds).
    """
    from neurocontrol._files import atomic_write

    record = {"benchmark": name, "command": command, "git_commit": _git_commit(),
              "scenarios": scenario_hashes(scenarios), "measured_at": time.strftime("%Y-%m-%d"),
              "wall_s": round(float(wall_s), 1), "machine": machine(), **extra, "figures": figures}
    RECORDS.mkdir(parents=True, exist_ok=True)
    path = RECORDS / f"{name}.json"
    atomic_write(path, json.dumps(record, indent=1, allow_nan=False) + "\n")
    print(f"record written to {path.relative_to(ROOT)}", file=sys.stderr)
    return path
