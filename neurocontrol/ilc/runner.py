"""The trial runner of iterative learning control: every trial through :func:`~neurocontrol.simulation.simulate`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError
from neurocontrol.ilc.laws import AbstractILCLaw, TrialContext, _readonly, resolve_channel
from neurocontrol.ilc.result import ILCResult
from neurocontrol.simulation.loop import TrialSpec, check_loop, seed_streams, signal_names, simulate

__all__ = ["EXCITATION_MODES", "ILCRunner"]

#: controller modes (``diagnostics()["mode"]``) that excite the plant instead of tracking the reference (the
#: neural controller's warm-up and open-loop re-identification after a change, an autotuned PID's relay test)
EXCITATION_MODES = ("warmup", "tuning", "reidentify")


class ILCRunner:
    r"""Repeat a finite-horizon tracking task and learn a feedforward from trial to trial.

    Parameters
    ----------
    env : gymnasium.Env
        The plant, with a Box observation space (physical units), reset
        option ``"initial_state"`` and a control period ``env.unwrapped.dt``
        (else ``controller.dt``). Its time limit must allow ``duration``.
    controller : AbstractController
        Closed-loop controller (or a pure-feedforward one that returns
        zeros): ``output_indices``, ``reset(observation, reference,
        seed=...)``, ``step(observation, reference, feedforward=None)``, and
        optionally ``start_trial(observation, reference)`` (Notes).
    reference : MultiSignal or callable
        ``reference(timepts)`` -> (T+1, p) set-points of the controlled
        outputs, physical units.
    law : AbstractILCLaw
        :class:`PTypeILC`, :class:`GradientILC`, ...
    trials : int
        Largest number of trials (>= 1).
    duration : float
        Length of a trial in s, rounded to whole control periods.
    initial_state : array_like
        Plant state every trial starts from (``env.reset(options={"initial_state": ...})``).
    seed : int or None
        Root seed, split by :func:`~neurocontrol.simulation.seed_streams`
        into the plant's and the controller's seeds exactly as for a single
        :func:`~neurocontrol.simulation.simulate` run. None draws fresh
        entropy (recorded in ``meta``).
    channel : {"reference", "input"} or AbstractChannel, default "reference"
        Where the feedforward enters (:data:`CHANNELS`).
    carry_weights : bool, default True
        Each trial continues from what the controller learned in the
        previous one (Notes); False resets the controller before every trial.
    tol : float or None, default None
        Stop with status ``"converged"`` once every output's RMS error changes
        by less than ``tol`` (relative) from one trial to the next.
    callback : callable, optional
        ``callback(trial, info) -> bool | None`` after each successful trial;
        ``False`` stops the run (status ``"converged"``, stop reason
        ``"callback"``). ``info``: ``rms`` (p,), ``max_abs`` (p,),
        ``feedforward`` (the next one), ``result`` (the trial's Result).
    initial_feedforward : array_like, shape (T, c), optional
        Feedforward of trial 1 (default zeros), e.g. a previous run's
        ``result.feedforward``.
    options : dict, optional
        More ``env.reset`` options of the plant.
    repeat_disturbances : bool, default False
        True reseeds the env with the same seed every trial (identical noise
        and gusts: the idealised repeatable task); False seeds it once, so
        noise and gusts are new each trial, as on a rig.
    keep_trials : bool, default False
        Keep every trial's :class:`~neurocontrol.results.Result` (the first
        and the last are always kept).
    tolerance : float, array_like (p,) or dict, optional
        Success band of each trial's metrics, as in
        :func:`~neurocontrol.simulation.simulate`.
    final_window_s : float, default 5.0
        Window of each trial's ``success`` metric, s.
    exclude_excitation : bool, default True
        Hand the law a trial's error without the rows of the controller's
        warm-up excitation and its settling when the next trial skips the
        warm-up (Notes); False: every row, as measured.
    continue_learned : bool, default False
        Start trial 1 too with the controller's ``start_trial`` (keeping what
        it learned before this run, e.g. in a run on another task) instead of
        ``reset``; needs ``carry_weights`` and a controller with ``start_trial``.
        With a learned correction for the new task, e.g. the network ILC's
        ``law.feedforward_network.predict(references)``, as
        ``initial_feedforward``, trial 1 shows what carries over.

    Raises
    ------
    ParameterError
        On an invalid count, duration, seed, tol, callback, env/controller
        mismatch or a law that cannot run on this loop.
    ShapeError
        On a reference or feedforward of the wrong shape.
    NonFiniteError
        On a reference, initial state or feedforward that is not finite.

    Notes
    -----
    **Trial loop.** Every trial is one :func:`~neurocontrol.simulation.simulate`
    run with a :class:`~neurocontrol.simulation.TrialSpec`: ``r_c, v_in =
    channel.commands(r, v)``, then at step ``t`` ``u = controller.step(y(t),
    r_c(t), feedforward=v_in(t))`` and ``y(t+1) = env.step(u)``. The runner
    never changes ``u`` (the controller applies its limits, the plant clips
    for itself). The plant integrates itself: its state is only ever set by
    ``env.reset`` to ``initial_state`` before a trial. After the trial,
    ``e = r - y`` over steps 1..T feeds ``law.update`` with a
    :class:`TrialContext`. A trial fails (status ``"failed"``) when the
    episode terminates or is truncated, the controller or plant diverges,
    or a measurement is not finite.

    **What the law learns from.** With ``exclude_excitation`` (default), when
    trial k+1 will start with ``start_trial``, the rows of trial k's error in
    which the controller was exciting the plant (``diagnostics()["mode"]`` in
    :data:`EXCITATION_MODES`), and as many rows again after them, are zero in
    the error given to ``law.update`` and marked in ``TrialContext.excluded``;
    the reported errors are the full ones.

    **Controller contract between trials.** Before trial 1:
    ``controller.reset(y(0), r_c(0), seed=controller_seed)``. Before each
    later trial, with ``carry_weights=True``: ``controller.start_trial(y(0),
    r_c(0))`` if the controller has it, else the same ``reset`` as trial 1
    (baselines: integrators back to zero). ``start_trial`` must keep every
    learned quantity (network weights, learning-rule state such as RLS
    covariances), restart the per-episode state (step counter, previous
    input, reference-model state, integrators) from the new first
    measurement, skip warm-up excitation, and draw no random numbers, so a
    run is reproducible from its seed. With ``carry_weights=False`` every
    trial calls ``reset(..., seed=controller_seed)``: the same fresh
    controller each trial, only the feedforward carries over.

    Examples
    --------
    >>> import gymnasium as gym, plants
    >>> from neurocontrol import LQRController
    >>> from neurocontrol.ilc import PTypeILC
    >>> from neurocontrol.reference import Constant, MultiSignal, Staircase
    >>> ref = MultiSignal(signals=(Constant(value=140.0),
    ...                            Staircase(times=[0.0, 0.5], levels=[1.0, 1.2], smoothing_time=1.0)))
    >>> x0 = plants.trim(140.0, 1.0).x
    >>> runner = ILCRunner(gym.make("neurocontrol/Helicopter-v0"), LQRController.from_plant(), ref,
    ...                    law=PTypeILC([0.5, 0.5], lead=30, q_cutoff_hz=2.0), trials=3, duration=3.0,
    ...                    initial_state=x0, seed=0)
    >>> res = runner.run()
    >>> res.status, res.errors.shape, bool(res.errors[-1, 1] < res.errors[0, 1])
    ('running', (3, 2), True)
    """

    def __init__(self, env, controller, reference, *, law: AbstractILCLaw, trials: int, duration: float,
                 initial_state, seed=None, channel="reference", carry_weights: bool = True, tol: float | None = None,
                 callback: Callable | None = None, initial_feedforward=None, options: Mapping | None = None,
                 repeat_disturbances: bool = False, keep_trials: bool = False, tolerance=None,
                 final_window_s: float = 5.0, exclude_excitation: bool = True, continue_learned: bool = False):
        loop = check_loop(env, controller, reference, duration)
        if not isinstance(law, AbstractILCLaw):
            raise ParameterError(f"`law` must be an ILC law such as PTypeILC(gain) or GradientILC(step), "
                                 f"got {type(law).__name__}.")
        self.trials = check_int(trials, "trials", low=1)
        self.initial_state = _readonly(as_float_array(initial_state, "initial_state", (None,)))
        self._streams = seed_streams(seed)
        self.channel = resolve_channel(channel)
        for name, flag in (("carry_weights", carry_weights), ("repeat_disturbances", repeat_disturbances),
                           ("keep_trials", keep_trials), ("exclude_excitation", exclude_excitation),
                           ("continue_learned", continue_learned)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ParameterError(f"`{name}` must be True or False, got {flag!r}.")
        if continue_learned and not (carry_weights and callable(getattr(controller, "start_trial", None))):
            raise ParameterError(f"`continue_learned` starts trial 1 with the controller's start_trial(), so it "
                                 f"needs carry_weights=True and a controller that has one "
                                 f"({type(controller).__name__}: carry_weights={carry_weights}).")
        self.continue_learned = bool(continue_learned)
        self.tol = None if tol is None else check_positive(tol, "tol", unit="(relative change), or None")
        if callback is not None and not callable(callback):
            raise ParameterError(f"`callback` must be callable as callback(trial, info), got "
                                 f"{type(callback).__name__}.")
        options = dict(options or {})
        if "initial_state" in options:
            raise ParameterError("give the initial state as `initial_state`, not in `options`.")
        self.final_window_s = check_positive(final_window_s, "final_window_s", unit="s", allow_zero=True)

        dt, n_steps, p = loop.dt, loop.n_steps, len(loop.output_indices)
        m = getattr(controller, "n_inputs", None)
        if m is None:
            m = int(np.prod(env.action_space.shape))
        c = self.channel.n_channels(n_inputs=int(m), n_outputs=p)
        if initial_feedforward is None:
            v0 = np.zeros((n_steps, c))
        else:
            v0 = as_float_array(initial_feedforward, "initial_feedforward", (n_steps, c))
        law.check(n_channels=c, n_outputs=p, n_steps=n_steps, dt=dt, channel=self.channel, controller=controller)

        self.env, self.controller, self.reference, self.law = env, controller, reference, law
        self.duration, self.dt, self.n_steps = n_steps * dt, dt, n_steps
        self.carry_weights, self.repeat_disturbances = bool(carry_weights), bool(repeat_disturbances)
        self.keep_trials, self.exclude_excitation = bool(keep_trials), bool(exclude_excitation)
        self.callback, self.options, self.tolerance = callback, options, tolerance
        self.output_indices = loop.output_indices
        self.timepts = _readonly(loop.timepts)
        self.references = _readonly(loop.references)
        self.initial_feedforward = _readonly(v0)
        self.output_names = signal_names(env, loop.output_indices)["output_names"]

    # ----------------------------------------------------------------- one trial
    def _start(self, k: int) -> str:
        """Return how trial k (1-based) starts the controller: ``"reset"`` or ``"start_trial"``."""
        carry = (k > 1 or self.continue_learned) and self.carry_weights and \
            callable(getattr(self.controller, "start_trial", None))
        return "start_trial" if carry else "reset"

    def _trial(self, k: int, v: np.ndarray):
        """Run trial k (1-based) with feedforward v; return (context or None, Result, stop_reason or None)."""
        r_c, v_in = self.channel.commands(self.references[:-1], v)
        spec = TrialSpec(start=self._start(k), references=r_c, feedforward=v_in,
                         reseed_plant=k == 1 or self.repeat_disturbances)
        result = simulate(self.env, self.controller, self.reference, duration=self.duration,
                          seed=self._streams.entropy, options={**self.options, "initial_state": self.initial_state},
                          tolerance=self.tolerance, final_window_s=self.final_window_s, trial=spec,
                          meta={"trial": k, "channel": self.channel.name})
        kind = result.meta["stop_kind"]
        if kind is not None:            # terminated, truncated or diverged: the trial is not a whole trial
            return None, result, kind
        if not np.all(np.isfinite(result.observations)):
            return None, result, "nonfinite"
        ctx = TrialContext(trial=k, dt=self.dt, observations=_readonly(result.observations),
                           outputs=_readonly(result.outputs), references=self.references,
                           inputs=_readonly(result.inputs), feedforward=_readonly(v), channel=self.channel,
                           controller=self.controller, output_indices=self.output_indices,
                           excluded=self._not_repeated(k, result))
        return ctx, result, None

    def _not_repeated(self, k: int, result) -> np.ndarray | None:
        """Rows of trial k's error that trial k+1 will not repeat: its excitation and the settling after it.

        A controller in an excitation mode (``diagnostics()["mode"]`` in :data:`EXCITATION_MODES`) at
        step t drives y(t+1) = error row t with signals unrelated to the reference, and the loop then
        settles from wherever the excitation left the plant. A trial started by ``start_trial`` skips the
        excitation, so the next trial repeats neither; a law that corrected them would put a correction
        where no error comes. The settling is taken as long as the excitation itself (the warm-up is
        sized to the plant's time scale; on the neural helicopter ILC, half that length measured the
        same, docs/ilc.md). None when there is nothing to exclude (no excitation, or the next trial
        repeats it after a ``reset``).
        """
        if not self.exclude_excitation or self._start(k + 1) != "start_trial":
            return None
        mask = np.zeros(self.n_steps, dtype=bool)
        for seg in result.meta.get("modes", ()):
            if seg["mode"] in EXCITATION_MODES:
                start, end = seg["start_step"], seg["end_step"]
                mask[start:end + (end - start)] = True          # the excitation, and as long again to settle
        return _readonly(mask) if mask.any() else None

    # ----------------------------------------------------------------- the run
    def run(self) -> ILCResult:
        """Run the trials and return an :class:`ILCResult` (each call starts again from trial 1)."""
        p = len(self.output_indices)
        v = self.initial_feedforward.copy()
        applied = v
        rms_rows, max_rows, kept = [], [], []
        first = last = None
        status, stop_reason = "running", "trials"
        started = "reset"
        for k in range(1, self.trials + 1):
            applied = v
            if k > 1:
                started = self._start(k)
            ctx, res, reason = self._trial(k, v)
            first = res if k == 1 else first
            last = res
            if self.keep_trials:
                kept.append(res)
            if reason is not None:
                rms_rows.append(np.full(p, np.nan))
                max_rows.append(np.full(p, np.nan))
                status, stop_reason = "failed", reason
                break
            e = ctx.references[1:] - ctx.outputs[1:]
            rms = np.sqrt(np.mean(e * e, axis=0))
            rms_rows.append(rms)
            max_rows.append(np.max(np.abs(e), axis=0))
            learn = e if ctx.excluded is None else np.where(ctx.excluded[:, None], 0.0, e)
            try:
                v = self.law.update(v, learn, ctx)
            except (DivergenceError, NonFiniteError):
                status, stop_reason = "failed", "diverged"
                break
            if self.callback is not None:
                info = {"rms": rms.copy(), "max_abs": max_rows[-1].copy(), "feedforward": v.copy(), "result": res}
                if self.callback(k, info) is False:
                    status, stop_reason = "converged", "callback"
                    break
            if self.tol is not None and k > 1:
                prev = rms_rows[-2]
                change = np.abs(rms - prev) / np.where(prev > 0, prev, 1.0)
                if np.all(change < self.tol):
                    status, stop_reason = "converged", "tol"
                    break
        streams = self._streams
        meta = {"seed_entropy": streams.entropy, "plant_seed": streams.plant, "controller_seed": streams.controller,
                "dt": self.dt, "duration": self.duration, "n_steps": self.n_steps, "law": repr(self.law),
                "controller": type(self.controller).__name__, "carry_weights": self.carry_weights,
                "repeat_disturbances": self.repeat_disturbances, "tol": self.tol, "later_trials_start": started,
                "continue_learned": self.continue_learned,
                "exclude_excitation": self.exclude_excitation}
        return ILCResult(errors=np.array(rms_rows), max_errors=np.array(max_rows), status=status,
                         stop_reason=stop_reason, feedforward=v, last_feedforward=applied,
                         output_names=self.output_names, channel=self.channel.name, first_trial=first,
                         last_trial=last, trial_results=tuple(kept), meta=meta)
