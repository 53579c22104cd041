"""The one closed loop of the package: controller, Gymnasium plant, reference -> :class:`~neurocontrol.results.Result`.

:func:`simulate` runs the loop of the design (``r(t) -> controller -> u -> env.step(u) -> y``) for a fixed
duration and records every signal, the controller's learning diagnostics and the wall time of each control
step. The plant integrates itself: the next state always comes from ``env.step``, never from a controller or
network output, and the controller sees only the observations the env returns.

Timed events (:class:`ParameterChange`, or any :class:`AbstractEvent` subclass) act on the plant between
control steps, e.g. a fault that changes the drag coefficients half-way through a run. A :class:`TrialSpec`
makes the run one trial of a repeated task (iterative learning control): how the controller starts it and
what the controller is given at each step.

One seed feeds a :class:`numpy.random.SeedSequence` whose children seed the plant (noise, disturbances,
random initial state: ``env.reset(seed=...)``), the controller (network initialisation, excitation:
``controller.reset(seed=...)``) and a spare stream that scenario builders use for draws outside the env
(see :func:`seed_streams`, the only place a root seed is split).

Signal names and units come from the plant's own declarations (``observation_names``, ``input_names``,
``units``, see :func:`signal_names`); this module knows no plant.

Examples
--------
>>> import gymnasium as gym, plants
>>> from neurocontrol import PIDController
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
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neurocontrol._validation import as_float_array, check_positive
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError
from neurocontrol.results import Result, compute_metrics, noiseless_metrics, per_output_band
from neurocontrol.simulation.events import AbstractEvent
from neurocontrol.simulation.run_info import SeedStreams, _space_size, package_versions, seed_streams, signal_names

__all__ = ["simulate", "TrialSpec", "LoopSpec", "check_loop", "episode_steps", "seed_streams", "SeedStreams",
           "package_versions", "signal_names", "sample_reference"]

_PROGRESS_DELAY_S = 2.0  # a progress bar appears only for runs that take longer than this
#: How a trial starts the controller: ``reset`` (fresh, seeded) or ``start_trial`` (keeps what it learned).
TRIAL_STARTS = ("reset", "start_trial")


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
    """Return the control period and the number of steps of an episode of ``duration`` s, checked.

    Parameters
    ----------
    env : gymnasium.Env
        The plant; its period is ``env.unwrapped.dt`` (else ``controller.dt``).
    controller : object
        The controller; a ``dt`` attribute must match the env's period.
    duration : float
        Length of the episode in s.

    Returns
    -------
    dt : float
        Control period in s.
    n_steps : int
        ``round(duration / dt)``, at least 1.

    Raises
    ------
    ParameterError
        If the period is unknown, the controller was designed for another
        period, ``duration`` is shorter than one period, or the env's time
        limit would end the episode early.
    """
    dt = getattr(env.unwrapped, "dt", None) or getattr(controller, "dt", None)
    if not (isinstance(dt, numbers.Real) and dt > 0):
        raise ParameterError("the control period is unknown: give the env a `dt` attribute (s) or the controller "
                             "a `dt`.")
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


class LoopSpec(NamedTuple):
    """What :func:`check_loop` found out about a closed loop before it runs."""

    #: Control period, s.
    dt: float
    #: Number of control steps T.
    n_steps: int
    #: Observation entries that are the controlled outputs (p of them).
    output_indices: tuple[int, ...]
    #: Times of the run, ``k dt`` for k = 0..T, shape (T+1,), s.
    timepts: np.ndarray
    #: The task's set-points at ``timepts``, shape (T+1, p), output units.
    references: np.ndarray


_PROBE_ERRORS = (TypeError, ValueError, IndexError, AttributeError)


def sample_reference(reference, timepts, p: int) -> np.ndarray:
    """Sample a reference at every time of a run, in either of its two accepted forms; return shape (T, p).

    The form is detected once: first the vectorised ``reference(t_array)``
    with the whole time array (T,); if that raises or does not give (T, p)
    (or (T,) when p = 1), the pointwise form ``reference(t) -> (p,)`` is
    called once per time with a float ``t``. A
    :class:`~neurocontrol.reference.MultiSignal` is vectorised; a plain
    function of one float time also works. The gym wrappers accept the
    same two forms.

    Parameters
    ----------
    reference : callable
        ``reference(t_array (T,)) -> (T, p)`` or ``reference(t) -> (p,)``,
        set-points in physical units, times in s.
    timepts : array_like, shape (T,)
        Times in s.
    p : int
        Number of controlled outputs.

    Returns
    -------
    ndarray, shape (T, p)

    Raises
    ------
    ParameterError
        If ``reference`` is not callable.
    ShapeError
        If neither form gives ``p`` set-points per time.

    Examples
    --------
    >>> import numpy as np
    >>> sample_reference(lambda t: (140.0, 1.0 + t), np.array([0.0, 0.5]), 2)
    array([[140. ,   1. ],
           [140. ,   1.5]])
    """
    if not callable(reference):
        raise ParameterError(f"`reference` must be callable as reference(timepts) -> (T, {p}) or reference(t) -> "
                             f"({p},) set-points, e.g. a MultiSignal, got {type(reference).__name__}.")
    timepts = np.asarray(timepts, dtype=np.float64)
    T = timepts.shape[0]
    try:
        refs = np.asarray(reference(timepts), dtype=np.float64)
        vector = f"shape {refs.shape} for a time array of shape ({T},)"
    except _PROBE_ERRORS as exc:
        refs, vector = None, f"{type(exc).__name__}: {exc} for a time array"
    if refs is not None and refs.ndim == 1 and p == 1 and refs.shape == (T,):
        refs = refs[:, None]
    if refs is not None and refs.shape == (T, p):
        return refs
    try:
        first = np.asarray(reference(float(timepts[0])), dtype=np.float64)
        point = f"shape {first.shape} for t = {float(timepts[0])}"
    except _PROBE_ERRORS as exc:
        first, point = None, f"{type(exc).__name__}: {exc} for a float time"
    if first is None or first.size != p or first.shape not in ((p,), (1, p), ()):
        raise ShapeError(f"`reference` must give {p} set-points (one per controlled output) at each time: map a "
                         f"time t (s) to ({p},), or a time array (T,) to (T, {p}); got {vector} and {point}.")
    out = np.empty((T, p))
    out[0] = first.reshape(p)
    for k in range(1, T):
        out[k] = np.asarray(reference(float(timepts[k])), dtype=np.float64).reshape(p)
    return out


def check_loop(env, controller, reference, duration: float) -> LoopSpec:
    """Check that env, controller, reference and duration make a closed loop, and sample the reference.

    :func:`simulate` and the ILC runner call it before they run, so both
    reject the same mistakes with the same errors.

    Parameters
    ----------
    env : gymnasium.Env
        The plant, with a Box observation space.
    controller : object
        Anything with ``output_indices``, ``reset`` and ``step``.
    reference : callable
        ``reference(t_array) -> (T+1, p)`` or ``reference(t) -> (p,)`` set-points
        (see :func:`sample_reference`).
    duration : float
        Simulated time in s (> 0).

    Returns
    -------
    LoopSpec

    Raises
    ------
    ParameterError
        On a wrong env, controller, duration (see :func:`episode_steps`),
        output indices or a reference that is not callable.
    ShapeError
        If the reference does not give one set-point per controlled output.
    NonFiniteError
        If the reference is NaN or infinite at a time of the run.
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
    duration = check_positive(duration, "duration", unit="s")
    dt, n_steps = episode_steps(env, controller, duration)
    output_indices = tuple(int(i) for i in controller.output_indices)
    n_obs = _space_size(env.observation_space)
    if any(not 0 <= i < n_obs for i in output_indices):
        raise ParameterError(f"controller `output_indices` {list(output_indices)} must index the {n_obs} observations.")
    p = len(output_indices)
    timepts = np.arange(n_steps + 1) * dt
    with np.errstate(all="ignore"):     # a signal that overflows is reported by name below, not as a warning
        refs = sample_reference(reference, timepts, p)
    if not np.all(np.isfinite(refs)):
        raise NonFiniteError("`reference` must be finite at every time of the run; check the signal's parameters.")
    _check_reference_range(env, output_indices, timepts, refs)
    return LoopSpec(dt=dt, n_steps=n_steps, output_indices=output_indices, timepts=timepts, references=refs)


def _check_reference_range(env, output_indices, timepts, refs) -> None:
    """Raise a ParameterError when a set-point leaves the plant's declared (finite) range of that output."""
    space = env.observation_space
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None:
        return
    low, high = np.ravel(low), np.ravel(high)
    names = signal_names(env, output_indices)["output_names"]
    for j, i in enumerate(output_indices):
        lo, hi = float(low[i]), float(high[i])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        bad = np.flatnonzero((refs[:, j] < lo) | (refs[:, j] > hi))
        if bad.size:
            k = int(bad[0])
            name = names[j] if names else f"output {j}"
            raise ParameterError(f"`reference` of {name} reaches {refs[k, j]:g} at t = {timepts[k]:g} s, outside the "
                                 f"plant's range of that output [{lo:g}, {hi:g}]; choose set-points the plant can "
                                 "reach.")


# --------------------------------------------------------------------------- one trial of a repeated task
def _preview_commands(controller, trial, dt):
    """Point a previewing controller at a trial's commands (known for the whole trial, last row held beyond it).

    Returns the controller's own preview to restore after the run, None when nothing was swapped.
    """
    own = getattr(controller, "preview", None)
    if trial is None or trial.references is None or own is None or not hasattr(controller, "set_preview"):
        return None
    table = np.array(trial.references, dtype=np.float64)

    def commanded(timepts):
        idx = np.clip(np.rint(np.asarray(timepts, dtype=np.float64) / dt).astype(np.int64), 0, table.shape[0] - 1)
        return table[idx]

    controller.set_preview(commanded)
    return own


def _readonly(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class TrialSpec:
    """How one run of :func:`simulate` is a trial of a repeated task (iterative learning control).

    Parameters
    ----------
    start : {"reset", "start_trial"}, default "reset"
        How the controller starts: ``"reset"`` calls ``controller.reset(y(0),
        r_c(0), seed=controller_seed)`` (a fresh controller);
        ``"start_trial"`` calls ``controller.start_trial(y(0), r_c(0))``,
        which keeps what the controller learned in earlier trials.
    references : array_like, shape (T, p), optional
        What the controller is given as its reference at steps 0..T-1
        (``r_c``, e.g. the task's reference shifted by a learned
        feedforward). Default: the task's reference. The run's record keeps
        the task's reference either way.
    feedforward : array_like, shape (T, m), optional
        Passed as ``controller.step(y, r_c, feedforward=v(t))``; the
        controller adds it to its action inside its limits. Default: none.
    reseed_plant : bool, default True
        Reset the env with the run's plant seed; False resets it with
        ``seed=None``, so its random stream continues from the previous
        trial (new noise and gusts every trial, as on a rig).

    Raises
    ------
    ParameterError
        On an unknown ``start`` or a ``reseed_plant`` that is not a bool.
    ShapeError, NonFiniteError
        On arrays that are not 2-D or not finite.
    """

    start: str = "reset"
    references: np.ndarray | None = None
    feedforward: np.ndarray | None = None
    reseed_plant: bool = True

    def __post_init__(self):
        if self.start not in TRIAL_STARTS:
            raise ParameterError(f"`start` must be one of {TRIAL_STARTS}, got {self.start!r}.")
        for name in ("references", "feedforward"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _readonly(as_float_array(value, name, (None, None))))
        if not isinstance(self.reseed_plant, (bool, np.bool_)):
            raise ParameterError(f"`reseed_plant` must be True or False, got {self.reseed_plant!r}.")
        object.__setattr__(self, "reseed_plant", bool(self.reseed_plant))

    def _check(self, controller, n_steps: int, p: int, m: int) -> None:
        """Raise if the trial does not fit a loop of ``n_steps`` steps, p outputs and m inputs."""
        if self.start == "start_trial" and not callable(getattr(controller, "start_trial", None)):
            raise ParameterError(f"`trial.start` = 'start_trial' needs a controller with start_trial(observation, "
                                 f"reference), {type(controller).__name__} has none; use start='reset'.")
        if self.references is not None and self.references.shape != (n_steps, p):
            raise ShapeError(f"`trial.references` must have shape ({n_steps}, {p}) (one row per control step), "
                             f"got {self.references.shape}.")
        if self.feedforward is not None and self.feedforward.shape != (n_steps, m):
            raise ShapeError(f"`trial.feedforward` must have shape ({n_steps}, {m}) (one row per control step, "
                             f"one column per input), got {self.feedforward.shape}.")


# --------------------------------------------------------------------------- the loop


def simulate(env, controller, reference, *, duration: float, seed=None, options: Mapping | None = None,
             tolerance=None, final_window_s: float = 5.0, events: Sequence[AbstractEvent] = (),
             callback: Callable[[int, dict], bool | None] | None = None, progress: bool = False,
             meta: Mapping | None = None, trial: TrialSpec | None = None) -> Result:
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
        optionally, ``diagnostics()``, ``dt`` and (for trials)
        ``start_trial(observation, reference)``.
    reference : MultiSignal or callable
        Set-points of the controlled outputs, physical units, in either
        form (detected once, see :func:`sample_reference`): vectorised,
        ``reference(t_array)`` maps a time array (T,) in s to shape (T, p),
        as a :class:`~neurocontrol.reference.MultiSignal` does; or pointwise,
        ``reference(t)`` maps one time in s (a float) to shape (p,).
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
        (the task's, at step k), ``input`` (applied), ``reward``,
        ``terminated``, ``truncated``, ``diagnostics`` and the env's
        ``env_info``.
    progress : bool, default False
        Show a tqdm progress bar on stderr (a terminal, tqdm installed, a run longer than about 2 s).
    meta : dict, optional
        Extra JSON-serialisable entries for ``Result.meta`` (e.g. the scenario name and hash).
    trial : TrialSpec, optional
        Run as one trial of a repeated task: how the controller starts, the
        reference it is given and the feedforward at each step, whether the
        plant is reseeded. Default: a single episode (reset, the task's
        reference, no feedforward, plant seeded).

    Returns
    -------
    Result
        ``status`` is ``"completed"`` after every step, ``"failed"`` when the plant terminated (left its operating
        range) or the controller or plant diverged, ``"converged"`` when the callback stopped the run.
        ``metrics`` are those of :func:`~neurocontrol.results.compute_metrics` plus ``control_step_us`` (median
        wall time of ``controller.step`` in microseconds, the one metric that is not reproducible bit for bit)
        and, when the env reports ``info["noiseless_observation"]`` (sensor noise), ``noiseless``
        (:func:`~neurocontrol.results.noiseless_metrics`: success and errors of the true outputs). ``meta``
        records the seed and its streams, ``dt``, the duration, the integrator settings, package versions,
        units, applied events (and those not reached), the controller's modes as run-length segments, the stop
        reason (a sentence) and ``stop_kind`` (None, ``"callback"``, ``"terminated"``, ``"truncated"`` or
        ``"diverged"``), the trial settings when ``trial`` was given, ``hint`` when the env stopped the run and the
        controller's ``failure_hint()`` gave a sentence (:meth:`~neurocontrol.controllers.neural.NeuralController.
        failure_hint`), and ``controller_notes``, what its ``run_notes()`` returned at the end when not empty.

    Raises
    ------
    ParameterError
        On an invalid duration, seed, tolerance, event or trial, a controller
        whose ``dt`` differs from the env's, or an env whose time limit ends
        the episode before ``duration``.
    ShapeError
        If the reference (or the trial's references or feedforward) does not
        fit the controlled outputs, inputs and steps.
    NonFiniteError
        If the reference is not finite.

    Notes
    -----
    Step ``k`` (time ``t_k = k dt``): apply due events; ``r_k =
    reference(t_k)``; ``u = controller.step(y_k, r_c(k)[, feedforward=v(k)])``
    (timed with ``time.perf_counter_ns``; ``r_c = r`` without a trial);
    ``y_{k+1}, ... = env.step(u)``. The loop never changes ``u``: the
    controller applies its limits and the plant clips for itself.
    ``inputs[k]`` is the input the env applied (``info["action"]`` when
    present) and ``saturated[k]`` flags an input the env clipped
    (``info["saturated"]``) or that lies on an action-space limit (a
    controller that clips to its own limits sends exactly the limit, which
    the env does not flag).
    """
    spec = check_loop(env, controller, reference, duration)
    dt, n_steps, output_indices, timepts, refs = spec
    base, env_spec = env.unwrapped, getattr(env, "spec", None)
    final_window_s = check_positive(final_window_s, "final_window_s", unit="s", allow_zero=True)
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

    n_obs = _space_size(env.observation_space)
    p = len(output_indices)
    names = signal_names(env, output_indices)
    out_names = names["output_names"]
    tol = per_output_band(tolerance, "tolerance", out_names, refs)

    act_space = env.action_space
    low = np.asarray(getattr(act_space, "low", -np.inf), dtype=np.float64).ravel()
    high = np.asarray(getattr(act_space, "high", np.inf), dtype=np.float64).ravel()
    m = low.size
    if trial is not None and not isinstance(trial, TrialSpec):
        raise ParameterError(f"`trial` must be a TrialSpec or None, got {type(trial).__name__}.")
    if trial is not None:
        trial._check(controller, n_steps, p, int(getattr(controller, "n_inputs", m)))
    ctrl_refs = refs if trial is None or trial.references is None else trial.references
    feedforward = None if trial is None else trial.feedforward
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

    plant_seed = streams.plant if trial is None or trial.reseed_plant else None
    obs, info = env.reset(seed=plant_seed, options=None if options is None else dict(options))
    obs = np.asarray(obs, dtype=np.float64).ravel()
    observations[0] = obs
    noiseless = None          # the env's observations without its sensor noise, when it reports them
    if "noiseless_observation" in info:
        noiseless = np.full((n_steps + 1, n_obs), np.nan)
        noiseless[0] = as_float_array(info["noiseless_observation"], "info['noiseless_observation']", (n_obs,),
                                      finite=False)
    if trial is not None and trial.start == "start_trial":
        controller.start_trial(obs, ctrl_refs[0])
    else:
        controller.reset(obs, ctrl_refs[0], seed=streams.controller)

    status, stop_reason, stop_kind, k_done = "completed", None, None, 0
    next_event = 0
    own_preview = _preview_commands(controller, trial, dt)
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
                if feedforward is None:
                    u = controller.step(obs, ctrl_refs[k])
                else:
                    u = controller.step(obs, ctrl_refs[k], feedforward=feedforward[k])
            except DivergenceError as exc:
                status, stop_kind, stop_reason = "failed", "diverged", f"controller diverged at t={t_k:.4g} s: {exc}"
                break
            step_ns[k] = perf() - t0
            try:
                obs, reward, terminated, truncated, info = env.step(u)
            except DivergenceError as exc:
                status, stop_kind, stop_reason = "failed", "diverged", f"plant diverged at t={t_k + dt:.4g} s: {exc}"
                break
            obs = np.asarray(obs, dtype=np.float64).ravel()
            applied = np.asarray(info["action"] if "action" in info else np.clip(u, low, high), float).ravel()
            inputs[k] = applied
            with np.errstate(invalid="ignore"):
                on_limit = (applied <= low) | (applied >= high)
            saturated[k] = np.asarray(info.get("saturated", False), dtype=bool) | on_limit
            observations[k + 1] = obs
            if noiseless is not None:
                noiseless[k + 1] = info.get("noiseless_observation", obs)
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
                    status, stop_kind, stop_reason = "converged", "callback", "callback"
                    break
            if terminated:
                status, stop_kind = "failed", "terminated"
                stop_reason = f"terminated by the env at t={timepts[k + 1]:.4g} s (the plant left its operating range)"
                break
            if truncated and k_done < n_steps:
                stop_kind, stop_reason = "truncated", f"truncated by the env at t={timepts[k + 1]:.4g} s"
                break
    finally:
        if bar is not None:
            bar.close()
        if own_preview is not None:
            controller.set_preview(own_preview)

    T = k_done
    time = timepts[: T + 1]
    obs_arr = observations[: T + 1]
    outputs = obs_arr[:, list(output_indices)]
    control_step_us = float(np.median(step_ns[:T] / 1e3)) if T else None
    metrics = compute_metrics(time=time, outputs=outputs, references=refs[: T + 1], inputs=inputs[:T],
                              saturated=saturated[:T], tolerance=tol, output_names=out_names,
                              final_window_s=float(final_window_s), control_step_us=control_step_us)
    metrics["steps"] = T
    if noiseless is not None:
        metrics["noiseless"] = noiseless_metrics(metrics, time, noiseless[: T + 1, list(output_indices)],
                                                 refs[: T + 1], inputs[:T], saturated[:T], measured=outputs)
    if status == "failed":
        metrics["success"] = False
        metrics.get("noiseless", {})["success"] = False
    ask = getattr(controller, "failure_hint", None) if stop_kind == "terminated" else None
    hint = ask() if callable(ask) else None
    integrator, substeps = {"method": getattr(base, "integrator", None)}, getattr(base, "substeps", None)
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
        "env_id": getattr(env_spec, "id", None),
        "env": type(base).__name__,
        "controller": type(controller).__name__,
        "versions": package_versions(),
        "units": names["units"],
        "events": applied_events,
        "events_not_reached": not_reached,
        "modes": _run_length(modes),
        "mode_fractions": {m_: c / T for m_, c in mode_counts.items()} if T else {},
        "stop_reason": stop_reason, "stop_kind": stop_kind,
        **({"hint": str(hint)} if hint else {}),
        **({"controller_notes": n} if callable(getattr(controller, "run_notes", None)) and (n := controller.run_notes())
           else {}),
        "output_indices": list(output_indices),
    }
    if trial is not None:
        record["trial_start"] = trial.start
        record["plant_reseeded"] = trial.reseed_plant
        record["feedforward"] = trial.feedforward is not None
    record.update(dict(meta or {}))
    return Result(time=time, observations=obs_arr, outputs=outputs, references=refs[: T + 1], inputs=inputs[:T],
                  saturated=saturated[:T], prediction_error=pred[:T], inner_iterations=inner[:T],
                  output_names=out_names, input_names=names["input_names"],
                  observation_names=names["observation_names"],
                  input_limits=np.column_stack([low, high]), metrics=metrics, meta=record, status=status)
