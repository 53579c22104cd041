"""The ``[ilc]`` table of a scenario file: its law from the spec and the trials of a scenario run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_seed_sequence
from neurocontrol.exceptions import ScenarioError
from neurocontrol.ilc.feedforward_net import FeedforwardNetwork
from neurocontrol.ilc.laws import AbstractILCLaw, PTypeILC
from neurocontrol.ilc.network import ClosedLoopFIRModel, NormOptimalILC
from neurocontrol.ilc.rtrn_model import ClosedLoopNetworkModel
from neurocontrol.ilc.runner import ILCRunner
from neurocontrol.results import per_output_band
from neurocontrol.simulation.loop import seed_streams, signal_names

#: Default of ``[ilc.gains] feedforward_network`` for ``law = "network"`` (1: the correction is kept in a
#: network of the reference, 0: a time-indexed signal).
FEEDFORWARD_NETWORK = 1

__all__ = ["law_for_setup", "run_ilc_scenario"]


def _law_from_spec(spec, output_names, output_range=None, seed=0, prior_lag=None,
                   tolerance=None, lead=None) -> AbstractILCLaw:
    """Build the ILC law of a scenario's ``[ilc]`` table.

    ``law = "p"``: :class:`PTypeILC` with ``gains`` keys ``gain`` (all
    outputs) or ``gain_<output>`` per output (default 1.0), ``lead`` (steps,
    default 30) and ``q_cutoff_hz`` (default 1.5; 0 disables the Q filter).

    ``law = "norm_optimal"``: :class:`~neurocontrol.ilc.network.NormOptimalILC`
    on a :class:`~neurocontrol.ilc.network.ClosedLoopFIRModel` learned from the
    trials, with ``gains`` keys ``taps`` (default 150), ``regularization``
    (default 0.1), ``weight_<output>`` (default ``1 / tolerance**2`` of the
    run's success band, else 1.0), ``q_cutoff_hz``
    (default 1.5; 0 disables the Q filter) and ``gain_adaptation`` (default 1:
    the trials set the learning gain; 0: gain 1).

    ``law = "network"``: the same norm-optimal law on a
    :class:`~neurocontrol.ilc.rtrn_model.ClosedLoopNetworkModel`, an RTRN of
    the closed loop trained by RTRL + EKF over the trials, with ``gains``
    keys ``hidden_units`` (default 8), ``block_steps`` (default 10),
    ``taps`` (default 15), ``tap_spacing`` (blocks, default 1), ``lead_taps``
    (taps ahead, default: the controller's preview lead in blocks, rounded
    up; 0 without preview), ``regularization``,
    ``weight_<output>``, ``q_cutoff_hz`` and ``gain_adaptation`` as above, ``memory`` (1
    keeps the networks over the trials, the default; 0 forgets them before each
    trial) and ``feedforward_network`` (1, the default: the correction is kept
    in a :class:`~neurocontrol.ilc.feedforward_net.FeedforwardNetwork` of the
    reference, with ``feedforward_back_steps`` and ``feedforward_ahead_steps``,
    default twice the closed-loop network's memory ``taps * tap_spacing *
    block_steps`` each, sampled every ``block_steps``, and
    ``feedforward_hidden_units`` tanh units trained with its output layer,
    default 0: a linear network; 0: a time-indexed signal).
    The networks' ranges are the controlled outputs' declared ranges.

    Parameters
    ----------
    spec : ILCSpec
        The decoded ``[ilc]`` table (its ``gains`` mapping is read here).
    output_names : sequence of str
        Names of the controlled outputs (the ``gain_<output>`` keys).
    output_range : array_like, shape (2, p), optional
        Declared ranges of the controlled outputs (needed by ``"network"``).
    seed : numpy.random.SeedSequence or int, optional
        Draw of the network's initial weights (``"network"``).
    prior_lag : array_like of shape (p,), optional
        The closed loop's lag per output in control steps, the network's prior (``"network"``).
    lead : array_like of shape (p,), optional
        How far ahead the controller reads its set-points per output, control steps (``"network"``: the
        default ``lead_taps``).
    tolerance : array_like of shape (p,), optional
        The run's success band per output: the default ``weight_<output>``
        of the norm-optimal laws is ``1 / tolerance**2`` (errors counted in
        units of their band); without a tolerance, 1.

    Returns
    -------
    AbstractILCLaw
    """
    gains = dict(spec.gains)
    if spec.law in ("norm_optimal", "network"):
        return _norm_optimal_from_gains(gains, output_names, spec.law, output_range, seed, prior_lag, tolerance,
                                        lead)
    allowed = {"gain", "lead", "q_cutoff_hz"} | {f"gain_{n}" for n in output_names}
    unknown = sorted(set(gains) - allowed)
    if unknown:
        raise ScenarioError(f"`ilc.gains` has unknown keys {unknown}; allowed: {sorted(allowed)}.")
    base = float(gains.get("gain", 1.0))
    per_output = [float(gains.get(f"gain_{n}", base)) for n in output_names]
    lead = _whole(gains, "lead", 30, 1, "whole number of steps")
    cutoff = float(gains.get("q_cutoff_hz", 1.5))
    return PTypeILC(per_output, lead=lead, q_cutoff_hz=cutoff if cutoff > 0 else None)


def _whole(gains, key, default, low, what="whole number"):
    value = gains.get(key, default)
    if float(value) != int(value) or int(value) < low:
        raise ScenarioError(f"`ilc.gains.{key}` must be a {what} >= {low}, got {value!r}.")
    return int(value)


def _norm_optimal_from_gains(gains, output_names, law, output_range, seed, prior_lag=None,
                             tolerance=None, lead=None) -> AbstractILCLaw:
    """Build the norm-optimal law of an ``[ilc]`` table with ``law = "norm_optimal"`` or ``"network"``."""
    common = {"regularization", "q_cutoff_hz", "gain_adaptation"} | {f"weight_{n}" for n in output_names}
    own = {"taps"} if law == "norm_optimal" else {"hidden_units", "block_steps", "taps", "tap_spacing", "memory",
                                                  "prior", "lead_taps", "feedforward_network",
                                                  "feedforward_back_steps", "feedforward_ahead_steps",
                                                  "feedforward_hidden_units"}
    unknown = sorted(set(gains) - common - own)
    if unknown:
        raise ScenarioError(f"`ilc.gains` has unknown keys {unknown} for law {law!r}; "
                            f"allowed: {sorted(common | own)}.")
    net = None
    if law == "norm_optimal":
        model = ClosedLoopFIRModel(n_taps=_whole(gains, "taps", 150, 1))
    else:
        if output_range is None:
            raise ScenarioError("`ilc.law = 'network'` needs the declared ranges of the controlled outputs: give "
                                "the controller `observation_low`/`observation_high`, or a plant whose "
                                "observation space is bounded.")
        memory, prior = _whole(gains, "memory", 1, 0), _whole(gains, "prior", 1, 0)
        if memory > 1 or prior > 1:
            raise ScenarioError(f"`ilc.gains.memory` and `ilc.gains.prior` must be 1 or 0, got {memory} and "
                                f"{prior}.")
        block = _whole(gains, "block_steps", 10, 1)
        ahead = 0 if lead is None or not np.size(lead) else int(math.ceil(float(np.max(lead)) / block - 1e-9))
        model = ClosedLoopNetworkModel(output_range, n_hidden=_whole(gains, "hidden_units", 8, 0),
                                       block_steps=block,
                                       taps=_whole(gains, "taps", 15, 1),
                                       tap_spacing=_whole(gains, "tap_spacing", 1, 1),
                                       lead_taps=_whole(gains, "lead_taps", ahead, 0), seed=seed,
                                       prior_lag=prior_lag if prior else None,
                                       memory=bool(memory))
        held = _whole(gains, "feedforward_network", FEEDFORWARD_NETWORK, 0)
        if held > 1:
            raise ScenarioError(f"`ilc.gains.feedforward_network` must be 1 (the correction is kept in a network of "
                                f"the reference) or 0 (a time-indexed signal), got {held}.")
        hidden = _whole(gains, "feedforward_hidden_units", 0, 0)
        if hidden and not held:
            raise ScenarioError("`ilc.gains.feedforward_hidden_units` needs the correction held in the network "
                                "(`feedforward_network = 1`).")
        if held:
            span = 2 * model.taps * model.tap_spacing * model.block_steps   # twice the closed-loop model's memory
            # the hidden units' draw: a child of the law's seed, spawned only when there are hidden units
            draw = as_seed_sequence(seed).spawn(1)[0] if hidden else None
            net = FeedforwardNetwork(back_steps=_whole(gains, "feedforward_back_steps", span, 0),
                                     ahead_steps=_whole(gains, "feedforward_ahead_steps", span, 0),
                                     stride=model.block_steps, output_range=output_range, memory=bool(memory),
                                     hidden_units=hidden, seed=draw)
    cutoff = float(gains.get("q_cutoff_hz", 1.5))
    adapt = _whole(gains, "gain_adaptation", 1, 0)
    if adapt > 1:
        raise ScenarioError(f"`ilc.gains.gain_adaptation` must be 1 (the trials set the learning gain) or 0 (gain 1), "
                            f"got {adapt}.")
    default = [1.0] * len(output_names) if tolerance is None else [1.0 / float(t) ** 2 for t in tolerance]
    weights = [float(gains.get(f"weight_{n}", d)) for n, d in zip(output_names, default)]
    return NormOptimalILC(model, regularization=float(gains.get("regularization", 0.1)),
                          output_weights=weights, q_cutoff_hz=cutoff if cutoff > 0 else None,
                          gain_adaptation=bool(adapt), feedforward_network=net)


def _reference_lag(controller) -> np.ndarray | None:
    """Return the lag (control steps) of the controller's second-order reference model per output, or None.

    The controller's ``reference_lag_steps`` when it has one; else
    ``2 zeta / omega``, the mean delay of a second-order lag, read from a
    config with ``reference_bandwidth`` (rad/s) and ``reference_damping``.
    """
    lag = getattr(controller, "reference_lag_steps", None)
    if lag is not None:                 # the controller knows its own lag (e.g. less a preview lead)
        return np.asarray(lag, dtype=float)
    cfg = getattr(controller, "config", None)
    bw, dz = getattr(cfg, "reference_bandwidth", None), getattr(cfg, "reference_damping", None)
    dt = getattr(controller, "dt", None)
    if bw is None or dz is None or not dt:
        return None
    return 2.0 * np.asarray(dz, dtype=float) / np.asarray(bw, dtype=float) / float(dt)


def _reference_lead(controller) -> np.ndarray | None:
    """Return how far ahead the controller reads its reference per output (control steps), or None.

    The controller's ``reference_lead_steps`` (a previewing controller's
    lead); None for a controller without one (it does not anticipate).
    """
    lead = getattr(controller, "reference_lead_steps", None)
    return None if lead is None else np.asarray(lead, dtype=float)


def _output_range(setup) -> np.ndarray | None:
    """Return the declared ranges (2, p) of the controlled outputs: the controller's, else the env's bounded ones."""
    idx = list(setup.controller.output_indices)
    cfg = getattr(setup.controller, "config", None)
    lo, hi = getattr(cfg, "observation_low", None), getattr(cfg, "observation_high", None)
    if lo is None or hi is None:
        space = getattr(setup.env, "observation_space", None)
        lo, hi = getattr(space, "low", None), getattr(space, "high", None)
    if lo is None or hi is None:
        return None
    rng = np.array([np.asarray(lo, dtype=float)[idx], np.asarray(hi, dtype=float)[idx]])
    return rng if np.all(np.isfinite(rng)) else None


def law_for_setup(spec, setup, seed, tolerance=None) -> AbstractILCLaw:
    """Build the ILC law of an ``[ilc]`` table for a built scenario, as a scenario run does.

    The network law's output ranges and prior lag come from the setup's
    controller (:func:`_output_range`, :func:`_reference_lag`), its weights from
    ``tolerance``, its initial weights from the run seed's spare stream.

    Parameters
    ----------
    spec : ILCSpec
        The ``[ilc]`` table (``law`` and ``gains``).
    setup : Setup
        What :meth:`Scenario.build` made for this seed.
    seed : int
        Root seed of the run.
    tolerance : float, array_like or dict, optional
        The run's success band (``[run.tolerance]``).

    Returns
    -------
    AbstractILCLaw
    """
    names = signal_names(setup.env, setup.controller.output_indices)["output_names"]
    band = None if tolerance is None else per_output_band(tolerance, "tolerance", names)
    return _law_from_spec(spec, names, _output_range(setup), seed_streams(seed).spare.spawn(1)[0],
                          _reference_lag(setup.controller), band, _reference_lead(setup.controller))


def run_ilc_scenario(scenario, setup, *, duration, seed, options, tolerance, final_window_s, events=(),
                     callback=None, progress=False, meta=None):
    """Runner of scenarios with an ``[ilc]`` table: repeated trials from the same initial state.

    Returns the **last** trial's :class:`~neurocontrol.results.Result`, its
    metrics extended by ``metrics["ilc"]``: ``trials``, ``status``,
    ``rms_error`` (per output, one value per trial), ``max_error`` and
    ``last_over_first`` (per output, RMS of the last trial over the first).
    Timed events are not supported in ILC scenarios (every trial must be the
    same task). The root seed is split by
    :func:`~neurocontrol.simulation.seed_streams` as for every other run:
    trial 1 sees the plant and controller seeds a plain run would see.

    Parameters
    ----------
    scenario : Scenario
        The scenario (its ``ilc`` table and ``source``).
    setup : Setup
        What :meth:`Scenario.build` made: env, controller, reference.
    duration : float
        Length of each trial, s.
    seed : int
        Root seed of the run.
    options : dict or None
        ``env.reset`` options; ``initial_state`` is every trial's start (when
        absent, the state after a reset with the run's plant seed).
    tolerance : float, array_like or dict, optional
        Success band of the last trial's metrics.
    final_window_s : float
        Window of the ``success`` metric, s.
    events : sequence, optional
        Must be empty.
    callback, progress : optional
        Accepted for the runner protocol; not used by trials.
    meta : dict, optional
        Extra entries for the returned Result's ``meta``.

    Returns
    -------
    Result
        The last trial, with ``metrics["ilc"]`` and ``meta["ilc"]``.

    Raises
    ------
    ScenarioError
        If the scenario has events or a law other than ``"p"``, ``"norm_optimal"`` and ``"network"``.
    """
    if events:
        raise ScenarioError(f"{scenario.source}: [[events]] cannot be combined with [ilc] (every trial must repeat "
                            "the same task); remove one of them.")
    spec = scenario.ilc
    if spec.law not in ("p", "norm_optimal", "network"):
        raise ScenarioError(f"{scenario.source}: `ilc.law` must be 'p' (P-type with Q-filter), 'norm_optimal' or "
                            f"'network' in scenario files, got {spec.law!r}; use neurocontrol.ilc from Python for "
                            "the gradient law.")
    opts = dict(options or {})
    x0 = opts.pop("initial_state", None)
    if x0 is None:
        obs, _ = setup.env.reset(seed=seed_streams(seed).plant, options=opts or None)
        x0 = np.asarray(getattr(setup.env.unwrapped, "state", obs), dtype=float)
    law = law_for_setup(spec, setup, seed, tolerance)
    runner = ILCRunner(setup.env, setup.controller, setup.reference, law=law, trials=spec.trials, duration=duration,
                       initial_state=x0, seed=seed, channel="reference", options=opts or None, callback=None,
                       tolerance=tolerance, final_window_s=final_window_s,
                       exclude_excitation=spec.exclude_excitation)
    res = runner.run()
    last = res.last_trial
    errors = np.asarray(res.errors)
    ilc = {"trials": int(errors.shape[0]), "status": res.status, "law": repr(law),
           "rms_error": {n: errors[:, i].tolist() for i, n in enumerate(res.output_names)},
           "max_error": {n: np.asarray(res.max_errors)[:, i].tolist() for i, n in enumerate(res.output_names)},
           "last_over_first": {n: float(errors[-1, i] / errors[0, i]) if errors[0, i] > 0 else None
                               for i, n in enumerate(res.output_names)}}
    metrics = dict(last.metrics)
    metrics["ilc"] = ilc
    new_meta = dict(last.meta)
    new_meta.update(dict(meta or {}))
    new_meta["ilc"] = ilc
    return dataclasses.replace(last, metrics=metrics, meta=new_meta)


