"""The closed-loop runner: one controller, one Gymnasium plant, one reference -> :class:`~neurocontrol.results.Result`.

:func:`simulate` runs the loop of the design (``r(t) -> controller -> u ->
env.step(u) -> y``) for a fixed duration and records every signal, the
controller's learning diagnostics and the wall time of each control step. The
plant integrates itself: the next state always comes from ``env.step``, never
from a controller or network output, and the controller sees only the
observations the env returns.

Timed events (:class:`ParameterChange`, or any :class:`AbstractEvent`
subclass) act on the plant between control steps, e.g. a fault that changes
the drag coefficients half-way through a run.

One seed feeds a :class:`numpy.random.SeedSequence` whose children seed the
plant (noise, disturbances, random initial state: ``env.reset(seed=...)``),
the controller (network initialisation, excitation:
``controller.reset(seed=...)``) and a spare stream that scenario builders use
for draws outside the env (see :func:`seed_streams`).

Examples
--------
>>> import gymnasium as gym, plants
>>> from neurocontrol.controllers.baselines import PIDController
>>> from neurocontrol.reference import Constant, MultiSignal
>>> from neurocontrol.simulation.loop import simulate
>>> env = gym.make("neurocontrol/Helicopter-v0")
>>> reference = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
>>> res = simulate(env, PIDController.from_plant(), reference, duration=30.0, seed=0,
...                tolerance={"rotor_speed": 1.4, "altitude": 0.02})
>>> res.status, res.metrics["success"], res.n_steps
('completed', True, 3000)
"""

from __future__ import annotations

import math
import numbers
import sys
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError
from neurocontrol.results import Result, compute_metrics, per_output_band
from neurocontrol.simulation.events import AbstractEvent

__all__ = ["simulate", "episode_steps", "seed_streams", "SeedStreams", "package_versions", "signal_names"]

#: Units of the helicopter's signals (observations and inputs), for labels and the run record.
_HELICOPTER_UNITS = {"rotor_speed": "rad/s", "altitude": "m", "climb_rate": "m/s", "collective": "rad",
                     "collective_rate": "rad/s", "throttle": "rad/s^2", "collective_servo": "rad/s^2"}
_VERSIONED = ("numpy", "scipy", "gymnasium", "control", "numba", "neurocontrol")
_PROGRESS_DELAY_S = 2.0  # a progress bar appears only for runs that take longer than this


# --------------------------------------------------------------------------- seeds, names, versions


class SeedStreams(NamedTuple):
    """Independent random streams derived from one seed (see :func:`seed_streams`)."""

    #: Entropy of the root :class:`numpy.random.SeedSequence` (equals the seed when one was given).
    entropy: int
    #: Seed passed to ``env.reset(seed=...)``: plant noise, disturbances, random initial state.
    plant: int
    #: Seed passed to ``controller.reset(seed=...)``: network initialisation, excitation.
    controller: int
    #: Spare child sequence for draws outside env and controller (scenario initial-state ranges).
    spare: np.random.SeedSequence


def _as_int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def seed_streams(seed=None) -> SeedStreams:
    """Split one seed into the independent streams of a run.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence or None
        Root seed (a non-negative int). ``None`` draws fresh entropy, which is
        returned so that the run can be repeated.

    Returns
    -------
    SeedStreams
        ``plant`` and ``controller`` as non-negative ints (Gymnasium's
        ``reset`` takes ints), ``spare`` as a SeedSequence, and ``entropy``.

    Raises
    ------
    ParameterError
        If ``seed`` is not a non-negative int, a SeedSequence or None.

    Notes
    -----
    The children are ``SeedSequence(seed).spawn(3)`` in the order plant,
    controller, spare, so each stream is statistically independent of the
    others and adding a draw to one never shifts another.

    Examples
    --------
    >>> s = seed_streams(7)
    >>> s.entropy, s.plant == seed_streams(7).plant, s.plant != s.controller
    (7, True, True)
    """
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif seed is None:
        root = np.random.SeedSequence()
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        root = np.random.SeedSequence(int(seed))
    else:
        raise ParameterError(f"`seed` must be a non-negative int (or None for fresh entropy), got {seed!r}.")
    plant, controller, spare = root.spawn(3)
    return SeedStreams(entropy=int(root.entropy), plant=_as_int_seed(plant), controller=_as_int_seed(controller),
                       spare=spare)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that determine a run's numbers, for the run record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _helicopter_env_class():
    try:
        from plants.helicopter.env import HelicopterEnv
    except ImportError:  # pragma: no cover - plants ships with neurocontrol
        return None
    return HelicopterEnv


def signal_names(env, output_indices: Sequence[int]) -> dict:
    """Names and units of an env's observations, inputs and controlled outputs.

    The env may declare ``observation_names`` and ``input_names`` attributes
    (and a ``units`` dict); the helicopter's names are known. Otherwise the
    Result defaults are used (``obs0, ...``, ``u0, ...``, ``y0, ...``).

    Returns
    -------
    dict
        ``observation_names``, ``input_names``, ``output_names`` (tuples or
        None) and ``units`` ({name: unit}).
    """
    base = env.unwrapped
    obs_names = getattr(base, "observation_names", None)
    in_names = getattr(base, "input_names", None)
    units = dict(getattr(base, "units", None) or {})
    heli = _helicopter_env_class()
    if heli is not None and isinstance(base, heli):
        from plants.helicopter.params import INPUT_NAMES, STATE_NAMES

        obs_names, in_names, units = STATE_NAMES, INPUT_NAMES, dict(_HELICOPTER_UNITS)
    out_names = None
    if obs_names is not None:
        obs_names = tuple(obs_names)
        out_names = tuple(obs_names[i] for i in output_indices)
    return {"observation_names": obs_names, "input_names": None if in_names is None else tuple(in_names),
            "output_names": out_names, "units": units}


# --------------------------------------------------------------------------- the runner


def _run_length(modes: list[str]) -> list[dict]:
    segments = []
    for k, m in enumerate(modes):
        if segments and segments[-1]["mode"] == m:
            segments[-1]["end_step"] = k + 1
        else:
            segments.append({"mode": m, "start_step": k, "end_step": k + 1})
    return segments


def _make_progress(n_steps: int, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # optional: `pip install neurocontrol[progress]`
        return None
    return tqdm(total=n_steps, unit="step", delay=_PROGRESS_DELAY_S, leave=False, file=sys.stderr,
                desc="simulate")


def episode_steps(env, controller, duration: float) -> tuple[float, int]:
    """The control period and the number of steps of an episode of ``duration`` s, checked.

    The period is ``env.unwrapped.dt`` (else ``controller.dt``); a controller
    designed for another period, a duration shorter than one period, or an
    env time limit that would end the episode early are ParameterErrors.
    """
    dt = getattr(env.unwrapped, "dt", None) or getattr(controller, "dt", None)
    if not (isinstance(dt, numbers.Real) and dt > 0):
        raise ParameterError("the control period is unknown: give the env a `dt` attribute (s) or the controller a `dt`.")
    dt = float(dt)
    ctrl_dt = getattr(controller, "dt", None)
    if ctrl_dt is not None and not math.isclose(float(ctrl_dt), dt, rel_tol=1e-9):
        raise ParameterError(f"the controller was designed for dt = {ctrl_dt} s but the env steps dt = {dt} s; "
                             "build the controller with the env's dt.")
    n_steps = int(round(duration / dt))
    if n_steps < 1:
        raise ParameterError(f"`duration` = {duration} s is shorter than one control period ({dt} s).")
    limit = getattr(getattr(env, "spec", None), "max_episode_steps", None)
    if limit is not None and limit < n_steps:
        raise ParameterError(f"the env's time limit ends the episode after {limit} steps but `duration` = {duration} s "
                             f"needs {n_steps}; make it with gymnasium.make(..., max_episode_steps={n_steps}).")
    return dt, n_steps


def simulate(env, controller, reference, *, duration: float, seed=None, options: Mapping | None = None,
             tolerance=None, final_window_s: float = 5.0, events: Sequence[AbstractEvent] = (),
             callback: Callable[[int, dict], bool | None] | None = None, progress: bool = False,
             meta: Mapping | None = None) -> Result:
    """Run one closed-loop episode and return its :class:`~neurocontrol.results.Result`.

    Parameters
    ----------
    env : gymnasium.Env
        The plant, from ``gymnasium.make`` or an instance, with a Box
        observation space in physical units and a control period
        ``env.unwrapped.dt`` in s (else ``controller.dt`` is used).
    controller : AbstractController
        Anything with ``output_indices``, ``reset(observation, reference,
        seed=...)``, ``step(observation, reference) -> action`` and,
        optionally, ``diagnostics()`` and ``dt``.
    reference : MultiSignal or callable
        Set-points of the controlled outputs: ``reference(t)`` maps a time
        array (T,) in s to shape (T, p), physical units.
    duration : float
        Simulated time in s (> 0); rounded to a whole number of control
        periods.
    seed : int or None, optional
        Root seed of the run (see :func:`seed_streams`). None draws fresh
        entropy and records it in ``meta["seed_entropy"]``.
    options : dict, optional
        Passed to ``env.reset(options=...)`` (e.g. ``initial_state``).
    tolerance : float, array_like (p,) or dict {output name: float}, optional
        Allowed final ``|output - reference|`` per output for ``success``.
        Default: 1 % of the largest ``|reference|`` of each output.
    final_window_s : float, default 5.0
        Window at the end of the run over which ``success`` is judged, s.
    events : sequence of AbstractEvent, optional
        Timed actions on the plant. Events timed at or after the end of the
        run do not act; they are listed in ``meta["events_not_reached"]``.
    callback : callable, optional
        ``callback(k, info) -> bool | None`` after each control step ``k``;
        returning ``False`` stops the run (``status = "converged"``,
        ``meta["stop_reason"] = "callback"``). ``info`` holds ``time``
        (s, after the step), ``observation``, ``output``, ``reference``
        (used at step k), ``input`` (applied), ``reward``, ``terminated``,
        ``truncated``, ``diagnostics`` and the env's ``env_info``.
    progress : bool, default False
        Show a tqdm progress bar on stderr when stderr is a terminal, tqdm is
        installed and the run takes longer than about 2 s.
    meta : dict, optional
        Extra JSON-serialisable entries for ``Result.meta`` (e.g. the
        scenario name and hash).

    Returns
    -------
    Result
        ``status`` is ``"completed"`` after every step, ``"failed"`` when
        the plant terminated (left its operating range) or the controller or
        plant diverged, ``"converged"`` when the callback stopped the run.
        ``metrics`` are those of :func:`~neurocontrol.results.compute_metrics`
        plus ``control_step_us`` (median wall time of ``controller.step`` in
        microseconds, the one metric that is not reproducible bit for bit).
        ``meta`` records the seed and its streams, ``dt``, the duration, the
        integrator settings, package versions, units, applied events (and
        those not reached), the
        controller's modes as run-length segments and the stop reason.

    Raises
    ------
    ParameterError
        On an invalid duration, seed, tolerance or event, a controller whose
        ``dt`` differs from the env's, or an env whose time limit ends the
        episode before ``duration``.
    ShapeError
        If the reference does not give one set-point per controlled output.

    Notes
    -----
    Step ``k`` (time ``t_k = k dt``): apply due events; ``r_k =
    reference(t_k)``; ``u = controller.step(y_k, r_k)`` (timed with
    ``time.perf_counter_ns``); ``y_{k+1}, ... = env.step(u)``. ``inputs[k]``
    is the input the env applied (``info["action"]`` when present) and
    ``saturated[k]`` flags an input the env clipped (``info["saturated"]``)
    or that lies on an action-space limit (a controller that clips to its
    own limits sends exactly the limit, which the env does not flag).
    """
    import gymnasium as gym

    if not isinstance(env, gym.Env):
        raise ParameterError(f"`env` must be a gymnasium.Env (from gymnasium.make or an instance), "
                             f"got {type(env).__name__}.")
    if not isinstance(env.observation_space, gym.spaces.Box):
        raise ParameterError(f"`env` must have a Box observation space, got {type(env.observation_space).__name__}; "
                             "flatten it with gymnasium.wrappers.FlattenObservation.")
    for attr in ("output_indices", "reset", "step"):
        if not hasattr(controller, attr):
            raise ParameterError(f"`controller` must have `{attr}` like neurocontrol AbstractController, "
                                 f"got {type(controller).__name__}.")
    if isinstance(duration, bool) or not isinstance(duration, numbers.Real) or not math.isfinite(duration) \
            or duration <= 0:
        raise ParameterError(f"`duration` must be a positive finite time in s, got {duration!r}.")
    dt, n_steps = episode_steps(env, controller, duration)
    base, spec = env.unwrapped, getattr(env, "spec", None)
    if not isinstance(final_window_s, numbers.Real) or isinstance(final_window_s, bool) or final_window_s < 0:
        raise ParameterError(f"`final_window_s` must be a window length >= 0 s, got {final_window_s!r}.")
    events = tuple(events)
    for i, ev in enumerate(events):
        if not isinstance(ev, AbstractEvent):
            raise ParameterError(f"`events[{i}]` must be an event such as ParameterChange, got {type(ev).__name__}.")
        ev.check(env)
    # events at or after the end never act (a shortened run, e.g. --set run.duration=2); they are recorded
    end = n_steps * dt - 1e-9 * dt
    not_reached = [{"kind": ev.kind or type(ev).__name__, "time": ev.time} for ev in events if ev.time >= end]
    events = tuple(sorted((ev for ev in events if ev.time < end), key=lambda e: e.time))  # stable sort
    if callback is not None and not callable(callback):
        raise ParameterError(f"`callback` must be callable as callback(k, info), got {type(callback).__name__}.")

    output_indices = tuple(int(i) for i in controller.output_indices)
    n_obs = int(np.prod(env.observation_space.shape))
    if any(not 0 <= i < n_obs for i in output_indices):
        raise ParameterError(f"controller `output_indices` {list(output_indices)} must index the {n_obs} observations.")
    p = len(output_indices)
    timepts = np.arange(n_steps + 1) * dt
    refs = np.asarray(reference(timepts), dtype=np.float64)
    if refs.ndim == 1 and p == 1:
        refs = refs[:, None]
    if refs.shape != (n_steps + 1, p):
        raise ShapeError(f"`reference` must give {p} set-points (one per controlled output) at each time, "
                         f"got shape {refs.shape[1:] if refs.ndim == 2 else refs.shape} per call.")
    if not np.all(np.isfinite(refs)):
        raise ParameterError("`reference` must be finite at every time of the run.")
    names = signal_names(env, output_indices)
    out_names = names["output_names"] or tuple(f"y{i}" for i in range(p))
    tol = per_output_band(tolerance, "tolerance", out_names, refs)

    act_space = env.action_space
    low = np.asarray(getattr(act_space, "low", -np.inf), dtype=np.float64).ravel()
    high = np.asarray(getattr(act_space, "high", np.inf), dtype=np.float64).ravel()
    m = low.size
    streams = seed_streams(seed)

    observations = np.full((n_steps + 1, n_obs), np.nan)
    inputs = np.full((n_steps, m), np.nan)
    saturated = np.zeros((n_steps, m), dtype=bool)
    pred = np.full(n_steps, np.nan)
    inner = np.zeros(n_steps, dtype=np.int64)
    step_ns = np.zeros(n_steps, dtype=np.int64)
    modes: list[str] = []
    applied_events: list[dict] = []
    diagnostics = getattr(controller, "diagnostics", None)

    obs, info = env.reset(seed=streams.plant, options=None if options is None else dict(options))
    obs = np.asarray(obs, dtype=np.float64).ravel()
    observations[0] = obs
    controller.reset(obs, refs[0], seed=streams.controller)

    status, stop_reason, k_done = "completed", None, 0
    next_event = 0
    bar = _make_progress(n_steps, progress)
    perf = _time.perf_counter_ns
    try:
        for k in range(n_steps):
            t_k = timepts[k]
            while next_event < len(events) and events[next_event].time <= t_k + 1e-9 * dt:
                applied_events.append({**events[next_event].apply(env), "step": k})
                next_event += 1
            r = refs[k]
            t0 = perf()
            try:
                u = controller.step(obs, r)
            except DivergenceError as exc:
                status, stop_reason = "failed", f"controller diverged at t={t_k:.4g} s: {exc}"
                break
            step_ns[k] = perf() - t0
            try:
                obs, reward, terminated, truncated, info = env.step(u)
            except DivergenceError as exc:
                status, stop_reason = "failed", f"plant diverged at t={t_k + dt:.4g} s: {exc}"
                break
            obs = np.asarray(obs, dtype=np.float64).ravel()
            applied = np.asarray(info.get("action", np.clip(u, low, high)), dtype=np.float64).ravel()
            inputs[k] = applied
            with np.errstate(invalid="ignore"):
                on_limit = (applied <= low) | (applied >= high)
            saturated[k] = np.asarray(info.get("saturated", False), dtype=bool) | on_limit
            observations[k + 1] = obs
            diag = diagnostics() if diagnostics is not None else {}
            pe = float(diag.get("prediction_error", math.nan))
            pred[k] = pe if math.isfinite(pe) else math.nan
            inner[k] = int(diag.get("inner_iterations", 0))
            modes.append(str(diag.get("mode", "baseline")))
            k_done = k + 1
            if bar is not None and k_done % 50 == 0:
                bar.update(50)
            if callback is not None:
                cb_info = {"time": float(timepts[k + 1]), "observation": obs.copy(),
                           "output": obs[list(output_indices)].copy(), "reference": r.copy(),
                           "input": applied.copy(), "reward": float(reward), "terminated": bool(terminated),
                           "truncated": bool(truncated), "diagnostics": dict(diag), "env_info": info}
                if callback(k, cb_info) is False:
                    status, stop_reason = "converged", "callback"
                    break
            if terminated:
                status = "failed"
                stop_reason = f"terminated by the env at t={timepts[k + 1]:.4g} s (the plant left its operating range)"
                break
            if truncated and k_done < n_steps:
                stop_reason = f"truncated by the env at t={timepts[k + 1]:.4g} s"
                break
    finally:
        if bar is not None:
            bar.close()

    T = k_done
    time = timepts[: T + 1]
    obs_arr = observations[: T + 1]
    outputs = obs_arr[:, list(output_indices)]
    steps_us = step_ns[:T] / 1e3
    control_step_us = float(np.median(steps_us)) if T else None
    metrics = compute_metrics(time=time, outputs=outputs, references=refs[: T + 1], inputs=inputs[:T],
                              saturated=saturated[:T], tolerance=tol, output_names=out_names,
                              final_window_s=float(final_window_s), control_step_us=control_step_us)
    metrics["steps"] = T
    if status == "failed":
        metrics["success"] = False
    integrator = {"method": getattr(base, "integrator", None)}
    heli = _helicopter_env_class()
    if heli is not None and isinstance(base, heli):
        integrator["method"] = "rk4 (fixed step, end-stop contacts)"
    substeps = getattr(base, "substeps", None)
    if substeps is not None:
        integrator.update(substeps=int(substeps), substep_s=dt / int(substeps))
    mode_counts = {m_: modes.count(m_) for m_ in dict.fromkeys(modes)}
    record = {
        "seed": None if seed is None else streams.entropy,
        "seed_entropy": streams.entropy,
        "seed_streams": {"plant": streams.plant, "controller": streams.controller},
        "dt": dt,
        "duration": n_steps * dt,
        "n_steps_requested": n_steps,
        "integrator": integrator,
        "env_id": getattr(spec, "id", None),
        "env": type(base).__name__,
        "controller": type(controller).__name__,
        "versions": package_versions(),
        "units": names["units"],
        "events": applied_events,
        "events_not_reached": not_reached,
        "modes": _run_length(modes),
        "mode_fractions": {m_: c / T for m_, c in mode_counts.items()} if T else {},
        "stop_reason": stop_reason,
        "output_indices": list(output_indices),
    }
    record.update(dict(meta or {}))
    return Result(time=time, observations=obs_arr, outputs=outputs, references=refs[: T + 1], inputs=inputs[:T],
                  saturated=saturated[:T], prediction_error=pred[:T], inner_iterations=inner[:T],
                  output_names=out_names, input_names=names["input_names"],
                  observation_names=names["observation_names"],
                  input_limits=np.column_stack([low, high]), metrics=metrics, meta=record, status=status)
