"""Sweeps beyond one machine: the seeds of a sweep as tasks on a Dask distributed cluster.

:func:`sweep_on_cluster` runs exactly the jobs of :func:`neurocontrol.experiments.sweeps.sweep`
(one per seed: the scenario's TOML text and the seed, run by the same
top-level function) as Dask tasks and returns the same
:class:`~neurocontrol.experiments.sweeps.SweepResult`, ordered by seed and equal to a
local run. Needs the ``dist`` extra (``pip install -e .[dist]``) on the
client and on every worker, with the same neurocontrol version.

A cluster over several machines::

    # machine A (scheduler; port 8786, dashboard on 8787)
    dask scheduler
    # every worker machine (same Python environment with neurocontrol installed)
    dask worker tcp://A:8786 --nworkers 4 --nthreads 1
    # anywhere
    neurocontrol sweep scenarios/helicopter_hover.toml --seeds 0:1000 --scheduler tcp://A:8786

Use ``--nthreads 1`` and as many ``--nworkers`` as cores: each run is
single-threaded Python and numba. ``--out DIR`` paths are written by the
workers, so give a folder on a shared file system (or leave it out and keep
the summary).

Examples
--------
>>> from dask.distributed import LocalCluster                                     # doctest: +SKIP
>>> with LocalCluster(n_workers=2, processes=True, threads_per_worker=1) as cl:   # doctest: +SKIP
...     res = sweep_on_cluster("scenarios/hover_pid.toml", range(8), cl.scheduler_address)
"""

from __future__ import annotations

import time
from pathlib import Path

from neurocontrol.exceptions import ParameterError
from neurocontrol.experiments.jobs import make_jobs, run_job
from neurocontrol.experiments.sweeps import SweepResult
from neurocontrol.scenario import as_scenario, check_seeds

__all__ = ["sweep_on_cluster", "connect"]

_INSTALL_HINT = "sweeps on a cluster need Dask: install it with `pip install -e .[dist]` (dask[distributed])."


def connect(scheduler):
    """Connect a ``dask.distributed.Client`` to a scheduler address (``tcp://host:8786``), a cluster or a Client.

    Parameters
    ----------
    scheduler : str or dask cluster or dask.distributed.Client
        Where to connect; a Client is returned as it is.

    Returns
    -------
    dask.distributed.Client

    Raises
    ------
    ModuleNotFoundError
        Without dask.distributed (with the install hint).
    ParameterError
        If ``scheduler`` is neither an address, a cluster nor a Client.
    """
    try:
        from dask.distributed import Client
    except ImportError:
        raise ModuleNotFoundError(_INSTALL_HINT) from None
    if isinstance(scheduler, Client):
        return scheduler
    if isinstance(scheduler, str):
        if not scheduler.strip():
            raise ParameterError("`scheduler` must be an address like tcp://host:8786, got an empty string.")
        return Client(scheduler.strip(), set_as_default=False)
    if hasattr(scheduler, "scheduler_address"):
        return Client(scheduler, set_as_default=False)
    raise ParameterError(f"`scheduler` must be an address like tcp://host:8786, a dask cluster or a "
                         f"dask.distributed.Client, got {type(scheduler).__name__}.")


def sweep_on_cluster(scenario, seeds, scheduler, *, out=None, progress: bool = False):
    """Run one scenario for many seeds on a Dask cluster (see :func:`neurocontrol.experiments.sweeps.sweep`).

    Parameters
    ----------
    scenario : Scenario or str or os.PathLike
        The scenario or its file.
    seeds : iterable of int
        Unique non-negative seeds.
    scheduler : str or dask cluster or dask.distributed.Client
        Address of the scheduler (``tcp://host:8786``), a cluster (e.g.
        ``LocalCluster``) or a connected Client (left open).
    out : str or os.PathLike, optional
        As for :func:`~neurocontrol.experiments.sweeps.sweep`; runs are written by the
        workers, so on several machines give a shared folder.
    progress : bool, default False
        Unused (kept for the same signature as the local sweep).

    Returns
    -------
    SweepResult
        Ordered like ``seeds``; ``workers`` is the number of Dask workers.

    Raises
    ------
    ScenarioError
        On a bad scenario, before any task is sent.
    ModuleNotFoundError
        Without dask.distributed.
    """
    sc = as_scenario(scenario)
    seeds = check_seeds(seeds)
    sc.build(seeds[0])  # fail fast, here, not on a worker
    own = not _is_client(scheduler)
    client = connect(scheduler)
    try:
        n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    except TypeError:   # older distributed: no n_workers argument
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    try:
        t0 = time.perf_counter()
        futures = client.map(run_job, make_jobs(sc, seeds, out), pure=False)
        runs = client.gather(futures)
        wall = time.perf_counter() - t0
    finally:
        if own:
            client.close()
    res = SweepResult.from_runs(sc, seeds, runs, wall, n_workers)
    if out is not None:
        res.save(out)
        res.plot(Path(out) / "sweep.png")
    return res


def _is_client(obj) -> bool:
    try:
        from dask.distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)
