"""The local process pool of sweeps and comparisons: worker start, the main-guard check, errors raised in the caller.

:func:`run_jobs` runs a list of jobs (:mod:`neurocontrol.experiments.jobs`)
serially in this process or on worker processes plus this one, and reports
how many processes actually ran jobs. Worker processes start from a fork
server (POSIX) or by spawning; both re-import the caller's main script, so a
script that starts a sweep at its top level without an
``if __name__ == "__main__":`` guard would start it again in every worker.
:func:`check_main_guard` finds that case before any process starts and
raises :class:`MainGuardError`; a worker that dies before it takes a job is
reported the same way, never replaced silently by serial runs.
"""

from __future__ import annotations

import ast
import atexit
import multiprocessing
import multiprocessing.util  # registers multiprocessing's exit handler now, so that _join_starters runs before it
import numbers
import os
import sys
import threading
from pathlib import Path

import neurocontrol.scenario
from neurocontrol.exceptions import MainGuardError, ParameterError, WorkerError
from neurocontrol.experiments import jobs as _jobs_module
from neurocontrol.experiments.jobs import run_job
from neurocontrol.registry import builtin_modules

__all__ = ["MainGuardError", "WorkerError", "run_jobs", "default_workers", "check_main_guard",
           "forkserver_preload", "MIN_PARALLEL_RUNS"]

#: The one module of the fork server's preload list named by a string: importing it is its effect
#: (it warms the compiled kernels), so it cannot be imported here; tests/test_sweep.py imports it.
_WARM_MODULE = "neurocontrol.experiments._preload"

#: Fewest runs for which the default worker count is more than one: below it, starting the fork
#: server and the workers costs more than the runs they would take (measured: docs/scenarios.md).
MIN_PARALLEL_RUNS = 12


class Runs(list):
    """The outcomes of :func:`run_jobs` in job order, with ``workers_used``: processes that ran at least one job."""

    workers_used: int = 1


def default_workers(n_jobs: int) -> int:
    """Return the default number of processes for ``n_jobs`` runs.

    One process (serial) below :data:`MIN_PARALLEL_RUNS` runs, else one per
    CPU, at most one per run.

    Parameters
    ----------
    n_jobs : int
        Number of runs.

    Returns
    -------
    int
    """
    if n_jobs < MIN_PARALLEL_RUNS:
        return 1
    return max(1, min(n_jobs, os.cpu_count() or 1))


def forkserver_preload() -> tuple[str, ...]:
    """Name the modules the sweep's fork server imports once before it forks workers.

    The job runner, the scenario package, every module that defines a built-in
    kind (:func:`neurocontrol.registry.builtin_modules`) and the kernel warm-up.

    Returns
    -------
    tuple of str
    """
    names = (_jobs_module.__name__, neurocontrol.scenario.__name__, *builtin_modules(), _WARM_MODULE)
    return tuple(dict.fromkeys(names))


def _mp_context():
    """Return a fork server that has imported neurocontrol once (POSIX), else spawn; never a fork of this process.

    Forking the caller could copy held locks of BLAS, numba or tqdm threads; a
    fork server is a clean single-threaded process, and preloading the package
    there spares each worker the import.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(forkserver_preload()))
        return ctx
    return multiprocessing.get_context("spawn")


# =========================================================================== the main guard


_GUARD_HINT = ("put the script's calls under `if __name__ == \"__main__\":` (worker processes re-import the main "
               "script, and would start the sweep again), or pass workers=1 to run in this process.")


def _is_main_test(test) -> bool:
    """Return True for ``__name__ == "__main__"`` (either order)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


def _guarded(body: list, line: int) -> bool:
    """Return True if ``line`` lies in the body of a main guard among these statements (at any depth)."""
    for node in body:
        if not (node.lineno <= line <= (node.end_lineno or node.lineno)):
            continue
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body and \
                node.body[0].lineno <= line <= (node.body[-1].end_lineno or line):
            return True
        children = [getattr(node, name, None) for name in ("body", "orelse", "finalbody", "handlers")]
        return any(isinstance(c, list) and _guarded(c, line) for c in children) or \
            any(_guarded(h.body, line) for h in getattr(node, "handlers", []) or [])
    return False


def check_main_guard(what: str = "sweep") -> None:
    """Raise :class:`MainGuardError` if worker processes would re-run the statement that led to this call.

    The statement of the main script's top level on the call stack must sit
    under ``if __name__ == "__main__":``. Nothing is checked when the main
    module is not re-imported by workers (an interactive session, a
    notebook, ``python -c``, a package's ``__main__``) or its source cannot
    be read. Inside a worker that is re-importing the main script, the error
    is raised at once.

    Parameters
    ----------
    what : str, default "sweep"
        Name of the calling function, for the message.

    Raises
    ------
    MainGuardError
        With the file and line of the unguarded statement and the fix.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise MainGuardError(f"{what}() was called while a worker process re-imported the main script; "
                             + _GUARD_HINT)
    where = _unguarded_statement()
    if where is not None:
        raise MainGuardError(f"{what}() with worker processes was called from the top level of {where[0]}, line "
                             f"{where[1]}; " + _GUARD_HINT)


def _unguarded_statement() -> tuple[str, int] | None:
    """Return (file, line) of the main script's top-level statement on the call stack if no main guard holds it."""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if main is None or (spec_name is not None and (spec_name == "__main__" or spec_name.endswith(".__main__"))):
        return None
    if spec_name is None and getattr(main, "__file__", None) is None:
        return None
    top, frame = None, sys._getframe(1)
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            top = frame
        frame = frame.f_back
    if top is None:
        return None
    try:
        tree = ast.parse(Path(top.f_code.co_filename).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    return None if _guarded(tree.body, top.f_lineno) else (top.f_code.co_filename, top.f_lineno)


# =========================================================================== running jobs


def run_jobs(jobs: list, workers: int | None, progress: bool = False, what: str = "sweep") -> Runs:
    """Run jobs serially (``workers=1``) or on ``workers - 1`` worker processes plus this one.

    Parameters
    ----------
    jobs : list of Job
        The runs, from :func:`neurocontrol.experiments.jobs.make_jobs`.
    workers : int or None
        Processes, this one included; None: :func:`default_workers`.
    progress : bool, default False
        A progress bar over runs on a terminal (tqdm, optional).
    what : str, default "sweep"
        Name of the caller, for messages.

    Returns
    -------
    Runs
        The outcomes in job order; ``workers_used`` counts the processes
        that ran at least one job.

    Raises
    ------
    ParameterError
        On a bad ``workers``.
    MainGuardError
        If worker processes are needed and the main script has no main guard.
    WorkerError
        If a worker process exits before taking its jobs.
    """
    if workers is None:
        workers = default_workers(len(jobs))
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ParameterError(f"`workers` must be a positive integer (1 runs serially in this process), "
                             f"got {workers!r}.")
    workers = min(int(workers), len(jobs))
    if workers > 1:
        check_main_guard(what)
    bar = None
    if progress and sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="run", delay=2.0, leave=False, file=sys.stderr, desc=what)
        except ImportError:
            bar = None
    try:
        if workers == 1:
            out = Runs()
            for job in jobs:
                out.append(run_job(job))
                if bar is not None:
                    bar.update(1)
            return out
        return _run_shared(jobs, workers, bar)
    finally:
        if bar is not None:
            bar.close()


def _run_shared(jobs: list, workers: int, bar) -> Runs:
    """Run ``jobs`` on ``workers - 1`` worker processes and on this process, from both ends of the list.

    The workers take jobs from the front, this process from the back, through
    two shared counters under one lock, until they meet. Each worker first
    reports that it started; one that exits before that raises
    :class:`WorkerError` here, and one still starting when every job is done
    is stopped, not waited for. Each result lands in its job's slot.
    """
    ctx = _mp_context()
    lock = ctx.Lock()
    head, tail = ctx.RawValue("q", 0), ctx.RawValue("q", len(jobs))   # next front job; one past the last back job
    results_q = ctx.Queue()
    procs = [ctx.Process(target=_worker_loop, args=(jobs, head, tail, lock, results_q), daemon=True,
                         name=f"neurocontrol-sweep-{k}") for k in range(workers - 1)]
    results: list = [None] * len(jobs)
    started: set = set()
    worker_pids: set = set()
    ran_here = 0

    def take(msg) -> None:   # one message of a worker: started, a finished run, or an error to raise here
        kind, i, value = msg
        if kind == "started":
            started.add(i)
            return
        if kind == "error":
            with lock:
                head.value = tail.value   # the other workers stop after their current job
            exc, remote_tb = value
            if exc is None:
                raise _RemoteError(remote_tb)
            raise exc from _RemoteError(remote_tb)
        worker_pids.add(value.pop("pid"))
        results[i] = value
        if bar is not None:
            bar.update(1)

    def check_started() -> None:   # a worker that died before it started: never fall back silently
        if start_errors:
            raise WorkerError(f"could not start the sweep's worker processes: {start_errors[0]!r}; run with "
                              "workers=1 to run in this process.") from start_errors[0]
        for k, p in enumerate(procs):
            if k not in started and p.exitcode not in (None, 0):
                while not results_q.empty():
                    take(results_q.get())
                if k not in started:
                    raise WorkerError(f"worker process {k} of the sweep exited with code {p.exitcode} before it "
                                      "started (see its traceback above); if it says the main script was "
                                      "re-imported, " + _GUARD_HINT)

    start_errors: list = []
    stop_starting = threading.Event()
    shared = (lock, head, tail, results_q)
    starter = threading.Thread(target=_start_all, args=(procs, start_errors, stop_starting, shared), daemon=True,
                               name="neurocontrol-sweep-starter")
    _STARTERS[:] = [(th, ev) for th, ev in _STARTERS if th.is_alive()]
    _STARTERS.append((starter, stop_starting))
    try:
        starter.start()   # the first start waits for the fork server's preload: this process works meanwhile
        while True:
            with lock:
                if tail.value <= head.value:
                    break
                tail.value -= 1
                i = tail.value
            results[i] = run_job(jobs[i])
            ran_here += 1
            if bar is not None:
                bar.update(1)
            while not results_q.empty():   # the workers' messages so far (and any error, raised now)
                take(results_q.get())
            check_started()
        while any(r is None for r in results):
            take(_next_result(results_q, procs))
        while not results_q.empty():
            take(results_q.get())
        check_started()
        for k, p in enumerate(procs):   # a worker still starting holds no job: stop it rather than wait for it
            if k in started:
                p.join()
    finally:
        stop_starting.set()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
        if not starter.is_alive():   # else the starter keeps the queue and lock alive for a worker still starting
            results_q.close()
    out = Runs(results)
    out.workers_used = (1 if ran_here else 0) + len(worker_pids)
    return out


#: Starter threads of past sweeps whose workers may still be starting; joined at exit (see _join_starters).
_STARTERS: list = []


@atexit.register
def _join_starters() -> None:
    """At exit, let workers still starting see that their sweep is over and exit, before their lock is removed.

    Registered after multiprocessing's own exit handler, so it runs first.
    """
    for thread, stop in _STARTERS:
        stop.set()
        if thread.is_alive():
            thread.join()
    _STARTERS.clear()


def _start_all(procs, errors: list, stop: threading.Event, shared: tuple) -> None:
    """Start the worker processes (in a helper thread) until ``stop`` is set; record an error instead of raising it.

    The thread then waits for the workers it started, so that the lock,
    counters and queue they unpickle while starting outlive the sweep call
    (a worker that starts after the last job finds nothing to do and exits):
    ``shared`` holds them until then.
    """
    started = []
    try:
        for p in procs:
            if stop.is_set():
                break
            p.start()
            started.append(p)
    except BaseException as exc:   # reported by the caller's thread (WorkerError)
        errors.append(exc)
    for p in started:
        p.join()
    del shared


def _worker_loop(jobs, head, tail, lock, results_q) -> None:
    """Report the start, then run jobs from the front until the counters meet; send ``(kind, index, value)``."""
    import pickle
    import traceback

    me = multiprocessing.current_process()
    results_q.put(("started", int(me.name.rsplit("-", 1)[-1]), None))
    while True:
        with lock:
            if head.value >= tail.value:
                return
            i = head.value
            head.value += 1
        try:
            results_q.put(("run", i, {**run_job(jobs[i]), "pid": os.getpid()}))
        except BaseException as exc:   # sent to the parent, which raises it there with this traceback
            remote_tb = f"seed {jobs[i].seed} failed in a worker process:\n{traceback.format_exc()}"
            try:
                pickle.loads(pickle.dumps(exc))
            except Exception:   # an error that does not survive pickling: its traceback text still does
                exc = None
            results_q.put(("error", i, (exc, remote_tb)))
            return


class _RemoteError(Exception):
    """The traceback of an error raised in a sweep worker process (the cause of the re-raised error)."""


def _next_result(results_q, procs) -> tuple:
    """Return the next message of the workers; raise if every worker has exited with results still missing."""
    import queue

    while True:
        try:
            return results_q.get(timeout=0.5)
        except queue.Empty:
            pass
        if not any(p.is_alive() for p in procs) and results_q.empty():
            codes = ", ".join(str(p.exitcode) for p in procs)
            raise WorkerError(f"the sweep's worker processes exited (exit codes {codes}) before finishing their "
                              "runs, e.g. killed for lack of memory; run again with fewer `workers`.")
