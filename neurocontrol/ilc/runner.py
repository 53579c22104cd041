"""The trial runner: repeats a closed-loop trial and applies an ILC law between trials."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError
from neurocontrol.ilc.laws import (
    AbstractILCLaw,
    TrialContext,
    _int_at_least,
    _positive_float,
    _readonly,
    resolve_channel,
)
from neurocontrol.ilc.result import ILCResult

__all__ = ["ILCRunner"]


# =========================================================================== runner

def _names(env, output_indices):
    base = env.unwrapped
    obs_names = getattr(base, "observation_names", None)
    in_names = getattr(base, "input_names", None)
    try:
        from plants.helicopter import HelicopterEnv
        from plants.helicopter.params import INPUT_NAMES, STATE_NAMES

        if isinstance(base, HelicopterEnv):
            obs_names, in_names = STATE_NAMES, INPUT_NAMES
    except ImportError:  # pragma: no cover - plants ships with neurocontrol
        pass
    obs_names = None if obs_names is None else tuple(obs_names)
    out_names = tuple(obs_names[i] for i in output_indices) if obs_names is not None else \
        tuple(f"y{i}" for i in range(len(output_indices)))
    return obs_names, (None if in_names is None else tuple(in_names)), out_names


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
        Root seed: ``SeedSequence(seed).spawn(2)`` seeds the plant and the
        controller. None draws fresh entropy (recorded in ``meta``).
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
        More ``env.reset`` options (e.g. the helicopter's ``"setpoint"``).
    repeat_disturbances : bool, default False
        True reseeds the env with the same seed every trial (identical noise
        and gusts: the idealised repeatable task); False seeds it once, so
        noise and gusts are new each trial, as on a rig.
    keep_trials : bool, default False
        Keep every trial's :class:`~neurocontrol.results.Result` (the first
        and the last are always kept).

    Raises
    ------
    ParameterError
        On an invalid count, duration, seed, tol, callback, env/controller
        mismatch or a law that cannot run on this loop.
    ShapeError
        On a reference or feedforward of the wrong shape.

    Notes
    -----
    **Trial loop.** Step ``t``: ``r_c, v_in = channel.commands(r, v)``;
    ``u = controller.step(y(t), r_c(t), feedforward=v_in(t))``;
    ``y(t+1) = env.step(u)``. The plant integrates itself: its state is
    only ever set by ``env.reset`` to ``initial_state`` before a trial. After
    the trial, ``e = r - y`` over steps 1..T feeds ``law.update`` with a
    :class:`TrialContext`.

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
    >>> from neurocontrol.controllers.baselines import LQRController
    >>> from neurocontrol.reference import Constant, MultiSignal, Staircase
    >>> from plants.helicopter import trim
    >>> ref = MultiSignal(signals=(Constant(value=140.0),
    ...                            Staircase(times=[0.0, 0.5], levels=[1.0, 1.2], smoothing_time=1.0)))
    >>> x0 = trim(140.0, 1.0).x
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
                 repeat_disturbances: bool = False, keep_trials: bool = False):
        import gymnasium as gym

        if not isinstance(env, gym.Env):
            raise ParameterError(f"`env` must be a gymnasium.Env (from gymnasium.make or an instance), "
                                 f"got {type(env).__name__}.")
        if not isinstance(env.observation_space, gym.spaces.Box):
            raise ParameterError(f"`env` must have a Box observation space, got "
                                 f"{type(env.observation_space).__name__}; flatten it with FlattenObservation.")
        for attr in ("output_indices", "reset", "step"):
            if not hasattr(controller, attr):
                raise ParameterError(f"`controller` must have `{attr}` like neurocontrol's AbstractController, "
                                     f"got {type(controller).__name__}.")
        if not isinstance(law, AbstractILCLaw):
            raise ParameterError(f"`law` must be an ILC law such as PTypeILC(gain) or GradientILC(step), "
                                 f"got {type(law).__name__}.")
        self.trials = _int_at_least(trials, "trials", 1)
        duration = _positive_float(duration, "duration", " in s")
        from neurocontrol.simulation.loop import episode_steps

        dt, n_steps = episode_steps(env, controller, duration)
        self.initial_state = _readonly(as_float_array(initial_state, "initial_state", (None,)))
        if seed is None:
            self._root = np.random.SeedSequence()
        elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
            self._root = np.random.SeedSequence(int(seed))
        else:
            raise ParameterError(f"`seed` must be a non-negative int (or None for fresh entropy), got {seed!r}.")
        self.channel = resolve_channel(channel)
        for name, flag in (("carry_weights", carry_weights), ("repeat_disturbances", repeat_disturbances),
                           ("keep_trials", keep_trials)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ParameterError(f"`{name}` must be True or False, got {flag!r}.")
        self.tol = None if tol is None else _positive_float(tol, "tol", " (relative change), or None")
        if callback is not None and not callable(callback):
            raise ParameterError(f"`callback` must be callable as callback(trial, info), got "
                                 f"{type(callback).__name__}.")
        options = dict(options or {})
        if "initial_state" in options:
            raise ParameterError("give the initial state as `initial_state`, not in `options`.")

        output_indices = tuple(int(i) for i in controller.output_indices)
        n_obs = int(np.prod(env.observation_space.shape))
        if any(not 0 <= i < n_obs for i in output_indices):
            raise ParameterError(f"controller `output_indices` {list(output_indices)} must index the {n_obs} "
                                 "observations.")
        p = len(output_indices)
        timepts = np.arange(n_steps + 1) * dt
        if not callable(reference):
            raise ParameterError(f"`reference` must be callable as reference(timepts) -> (T+1, p), e.g. a "
                                 f"MultiSignal, got {type(reference).__name__}.")
        refs = np.asarray(reference(timepts), dtype=np.float64)
        if refs.ndim == 1 and p == 1:
            refs = refs[:, None]
        if refs.shape != (n_steps + 1, p):
            raise ShapeError(f"`reference` must give {p} set-points (one per controlled output) at each of the "
                             f"{n_steps + 1} times, got shape {refs.shape}.")
        if not np.all(np.isfinite(refs)):
            raise NonFiniteError("`reference` must be finite at every time of the trial.")
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
        self.keep_trials = bool(keep_trials)
        self.callback, self.options = callback, options
        self.output_indices = output_indices
        self.timepts = _readonly(timepts)
        self.references = _readonly(refs)
        self.initial_feedforward = _readonly(v0)
        self._names = _names(env, output_indices)
        space = env.action_space
        self._action_box = (np.asarray(space.low, float), np.asarray(space.high, float)) \
            if isinstance(space, gym.spaces.Box) else None

    # ----------------------------------------------------------------- one trial
    def _trial(self, k: int, v: np.ndarray, plant_seed, controller_seed):
        """Run trial k (1-based) with feedforward v; return (context or None, Result, stop_reason or None)."""
        env, ctrl, T = self.env, self.controller, self.n_steps
        refs = self.references
        r_c, v_in = self.channel.commands(refs[:-1], v)
        reseed = k == 1 or self.repeat_disturbances
        obs, _ = env.reset(seed=plant_seed if reseed else None,
                           options={**self.options, "initial_state": self.initial_state})
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        n_obs = obs.shape[0]
        observations = np.full((T + 1, n_obs), np.nan)
        observations[0] = obs
        m = v_in.shape[1] if v_in is not None else int(getattr(ctrl, "n_inputs", np.prod(env.action_space.shape)))
        inputs = np.full((T, m), np.nan)
        if k == 1 or not self.carry_weights or not callable(getattr(ctrl, "start_trial", None)):
            ctrl.reset(obs, r_c[0], seed=controller_seed)
        else:
            ctrl.start_trial(obs, r_c[0])
        reason = None
        steps = T
        for t in range(T):
            try:
                u = ctrl.step(obs, r_c[t]) if v_in is None else ctrl.step(obs, r_c[t], feedforward=v_in[t])
            except (DivergenceError, NonFiniteError):
                reason, steps = "diverged", t
                break
            u = np.asarray(u, dtype=np.float64).reshape(-1)
            if self._action_box is not None:
                u = np.clip(u, *self._action_box)
            inputs[t] = u
            obs, _, terminated, truncated, _ = env.step(u)
            obs = np.asarray(obs, dtype=np.float64).reshape(-1)
            observations[t + 1] = obs
            if not np.all(np.isfinite(obs)):
                reason, steps = "nonfinite", t + 1
                break
            if terminated:
                reason, steps = "terminated", t + 1
                break
            if truncated and t + 1 < T:
                reason, steps = "truncated", t + 1
                break
        out = list(self.output_indices)
        result = self._result(k, observations[:steps + 1], refs[:steps + 1], inputs[:steps], ctrl,
                              "failed" if reason else "completed", reason)
        if reason is not None:
            return None, result, reason
        ctx = TrialContext(trial=k, dt=self.dt, observations=_readonly(observations),
                           outputs=_readonly(observations[:, out]), references=refs, inputs=_readonly(inputs),
                           feedforward=_readonly(v), channel=self.channel, controller=ctrl,
                           output_indices=self.output_indices)
        return ctx, result, None

    def _result(self, k, observations, refs, inputs, ctrl, status, reason):
        from neurocontrol.results import Result

        obs_names, in_names, out_names = self._names
        n = observations.shape[0]
        limits = getattr(ctrl, "input_limits", None)
        if limits is None or np.shape(limits) != (inputs.shape[1], 2):
            limits = None
        return Result(time=self.timepts[:n], observations=observations,
                      outputs=observations[:, list(self.output_indices)], references=refs, inputs=inputs,
                      output_names=out_names, input_names=in_names, observation_names=obs_names,
                      input_limits=limits, status=status,
                      meta={"trial": k, "dt": self.dt, "channel": self.channel.name,
                            **({"stop_reason": reason} if reason else {})})

    # ----------------------------------------------------------------- the run
    def run(self) -> ILCResult:
        """Run the trials and return an :class:`ILCResult` (each call starts again from trial 1)."""
        plant_ss, ctrl_ss = self._root.spawn(2)
        plant_seed = int(plant_ss.generate_state(1, dtype=np.uint32)[0])
        controller_seed = int(ctrl_ss.generate_state(1, dtype=np.uint32)[0])
        p = len(self.output_indices)
        v = self.initial_feedforward.copy()
        applied = v
        rms_rows, max_rows, kept = [], [], []
        first = last = None
        status, stop_reason = "running", "trials"
        started = "reset"
        for k in range(1, self.trials + 1):
            applied = v
            if k > 1 and self.carry_weights and callable(getattr(self.controller, "start_trial", None)):
                started = "start_trial"
            ctx, res, reason = self._trial(k, v, plant_seed, controller_seed)
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
            try:
                v = self.law.update(v, e, ctx)
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
        meta = {"seed_entropy": self._root.entropy, "plant_seed": plant_seed, "controller_seed": controller_seed,
                "dt": self.dt, "duration": self.duration, "n_steps": self.n_steps, "law": repr(self.law),
                "controller": type(self.controller).__name__, "carry_weights": self.carry_weights,
                "repeat_disturbances": self.repeat_disturbances, "tol": self.tol, "later_trials_start": started}
        return ILCResult(errors=np.array(rms_rows), max_errors=np.array(max_rows), status=status,
                         stop_reason=stop_reason, feedforward=v, last_feedforward=applied,
                         output_names=self._names[2], channel=self.channel.name, first_trial=first, last_trial=last,
                         trial_results=tuple(kept), meta=meta)


