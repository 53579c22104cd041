"""One run of a sweep as a picklable job: what the local process pool and a Dask cluster both execute.

A job carries the scenario as TOML text (so a fresh worker process rebuilds the
exact settings), the seed and the output folder. :func:`run_job` is a top-level
function so that spawned, fork-server and Dask worker processes can import it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

from neurocontrol._files import atomic_write
from neurocontrol.scenario import Scenario, run_scenario

__all__ = ["Job", "make_jobs", "run_job", "finished_run", "DONE_FILE"]

#: The marker a finished seed leaves in its folder (written last, atomically), read by ``--resume``.
DONE_FILE = "run.json"


class Job(NamedTuple):
    """One seed of a sweep: the scenario's TOML text, its source and name, the seed and where to write the run."""

    toml_text: str
    source: str
    name: str
    seed: int
    out: str | None
    overwrite: bool = False


def make_jobs(scenario, seeds, out=None, overwrite: bool = False) -> list[Job]:
    """Make one job per seed of a scenario.

    Parameters
    ----------
    scenario : Scenario
        The scenario (sent as TOML text).
    seeds : sequence of int
        Checked seeds (see :func:`neurocontrol.scenario.check_seeds`).
    out : str or os.PathLike, optional
        Sweep folder: each run goes to ``seed_<n>/``; None: nothing written.
    overwrite : bool, default False
        Replace runs already saved in those folders.

    Returns
    -------
    list of Job
    """
    text = scenario.to_toml()
    return [Job(text, scenario.source, scenario.name, s, None if out is None else str(Path(out) / f"seed_{s}"),
                overwrite) for s in seeds]


def run_job(job: Job) -> dict:
    """Run one job and return its outcome; with an output folder, save the run and its done-marker.

    Parameters
    ----------
    job : Job
        The job (a plain tuple of the same fields also works).

    Returns
    -------
    dict
        ``seed``, ``status``, ``metrics``, ``stop_reason``, ``hint`` (the run's ``meta["hint"]`` or None),
        ``mode_fractions``, ``units``, ``wall_time_s``.
    """
    job = Job(*job)

    sc = Scenario.from_toml_text(job.toml_text, source=job.source, default_name=job.name)
    t0 = time.perf_counter()
    res = run_scenario(sc, seed=job.seed, out=job.out, plots=False, overwrite=bool(job.overwrite))
    run = {"seed": job.seed, "status": res.status, "metrics": res.metrics, "stop_reason": res.meta.get("stop_reason"),
           "hint": res.meta.get("hint"), "mode_fractions": res.meta.get("mode_fractions", {}),
           "units": res.meta.get("units", {}), "wall_time_s": time.perf_counter() - t0}
    if job.out is not None:   # the marker of a finished seed, for --resume: written last, atomically
        atomic_write(Path(job.out) / DONE_FILE, json.dumps({**run, "scenario_sha256": sc.sha256}, indent=2) + "\n")
    return run


def finished_run(out, seed: int, sha: str) -> dict | None:
    """Read the saved outcome of ``seed`` in a sweep folder, if that seed finished with the same settings.

    Parameters
    ----------
    out : str or os.PathLike
        The sweep folder.
    seed : int
        The seed.
    sha : str
        :attr:`Scenario.sha256` of the sweep's scenario.

    Returns
    -------
    dict or None
        The outcome as :func:`run_job` returned it, or None.
    """
    path = Path(out) / f"seed_{seed}" / DONE_FILE
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if run.get("scenario_sha256") != sha or run.get("seed") != seed:
        return None
    run.pop("scenario_sha256", None)
    return run
