"""``long_run_signals``: what ``build_neural`` gives the networks for a plant's long-run gains.

On a plant whose long-run gains a short closed-loop start does not teach (docs/neural_controller.md, "The
quadruple tank at P+" and "Non-minimum-phase plants: the identification warm-up").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.linalg

from neurocontrol.controllers.generic import Trim, slowest_time_constant_steps
from neurocontrol.controllers.neural_config import NeuralControllerConfig

__all__ = ["DISCRETE_ZERO_LIMIT", "LONG_RUN_HORIZON_CAP", "ZERO_WITHIN", "IDENTIFICATION_WARMUP",
           "IDENTIFICATION_AMPLITUDE", "IDENTIFICATION_REPLAY", "auto_rate_lags", "slowest_rhp_zero",
           "zero_within_dynamics", "long_run_signals", "warmup_feedforward_gain"]

#: ``long_run_signals`` raise the horizon to the model's slowest time constant (twice it before an identification
#: warm-up), at most this many times the horizon given (the default's 50 steps: 200), so that a very slow mode does
#: not make the step arbitrarily slow.
LONG_RUN_HORIZON_CAP = 4
#: The identification warm-up fires where the slowest right-half-plane zero ``z`` (rad/s) times the slowest time
#: constant ``tau`` (s) is at least this: the zero's time scale ``1 / z`` is within twice ``tau`` (chosen on the
#: quadruple tank at nine valve settings, ``z tau`` 0.26-4.88; docs/neural_controller.md, "Non-minimum-phase plants:
#: the identification warm-up").
ZERO_WITHIN = 0.5
#: A discrete-time model's right-half-plane zero counts only if slower than this many radians per control period
#: (a time scale of ten periods; :func:`slowest_rhp_zero`).
DISCRETE_ZERO_LIMIT = 0.1
#: The identification warm-up lasts this many of the model's slowest time constants.
IDENTIFICATION_WARMUP = 3.0
#: Its excitation amplitude, a fraction of each input's half range (the default warm-up's is 0.2).
IDENTIFICATION_AMPLITUDE = 0.05
#: Passes of the identifier over the identification warm-up's transitions at the hand-over (``warmup_replay``),
#: besides the online one (docs/neural_controller.md, "Replaying the warm-up").
IDENTIFICATION_REPLAY = 2

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(NeuralControllerConfig)}


def auto_rate_lags(config: NeuralControllerConfig, n_obs: int) -> bool:
    """Whether the networks get the automatic rate lags: the plant measures only its controlled outputs.

    Parameters
    ----------
    config : NeuralControllerConfig
        The settings (``output_lags`` 0 and ``lag_signals`` unset: nothing given).
    n_obs : int
        Entries of the env's observation.
    """
    return config.lag_signals is None and config.output_lags == 0 and \
        sorted(config.output_indices) == list(range(n_obs))


def slowest_rhp_zero(trim: Trim) -> float | None:
    """Return the slowest right-half-plane transmission zero (rad/s) from the inputs to the controlled outputs, or None.

    The finite generalised eigenvalues ``s`` of the Rosenbrock pencil ``[[A - s I, B], [C, D]]`` of the trim's
    continuous-time linearisation, with as many controlled outputs as inputs. For a discrete-time one (sampling
    time ``T``), the pencil's zeros ``z`` with ``|z| > 1`` in the right half of the z-plane count, as
    ``ln|z| / T`` (``z = exp(s T)``; the zeros that sampling adds lie near the negative real axis), if slower than
    :data:`DISCRETE_ZERO_LIMIT` ``/ T``: a faster zero acts within a few control periods, and in a model fitted to
    data (``plant_model = "identified"``) such zeros are the fit's, wandering from one fit to the next.

    Parameters
    ----------
    trim : Trim
        From :func:`~neurocontrol.controllers.generic.trim_linearisation` or
        :func:`~neurocontrol.controllers.generic.model_trim`.

    Returns
    -------
    float or None
        The smallest real part among the zeros with real part > 0 (their time scale is ``1 / zero``); None when
        there is none, or inputs and controlled outputs are not as many.
    """
    A, B = np.asarray(trim.lin.A, float), np.asarray(trim.lin.B, float)
    C, D = trim.controlled_rows()
    if C.shape[0] != B.shape[1]:
        return None
    n, m = A.shape[0], B.shape[1]
    pencil = np.block([[A, B], [C, D]])
    mass = np.zeros_like(pencil)
    mass[:n, :n] = np.eye(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        zeros = scipy.linalg.eigvals(pencil, mass)
    scale = 1e-9 * max(1.0, float(np.max(np.abs(pencil))))
    finite = [z for z in zeros if np.isfinite(z) and abs(z) < 1e12 * (1 + m)]
    if trim.discrete:
        period = float(trim.lin.dt)
        rhp = [math.log(abs(z)) / period for z in finite
               if 1.0 + scale < abs(z) < math.exp(DISCRETE_ZERO_LIMIT) and abs(np.angle(z)) < 0.5 * math.pi]
    else:
        rhp = [float(z.real) for z in finite if z.real > scale]
    return min(rhp) if rhp else None


def zero_within_dynamics(trim: Trim | None, dt: float) -> bool:
    """Whether the model's slowest right-half-plane zero acts within twice its slowest time constant.

    ``z tau >= ZERO_WITHIN``, ``z`` from :func:`slowest_rhp_zero` (rad/s) and ``tau`` the slowest time constant (s)
    of a stable trim: where ``long_run_signals`` flies an identification warm-up, and where ``warmup_feedforward``
    is on by default.

    Parameters
    ----------
    trim : Trim or None
        From :func:`~neurocontrol.controllers.generic.model_trim` (None: no model, False).
    dt : float
        Control period, s.
    """
    if trim is None:
        return False
    tau, zero = slowest_time_constant_steps(trim, dt), slowest_rhp_zero(trim)
    return tau is not None and zero is not None and zero * tau * dt >= ZERO_WITHIN


def warmup_feedforward_gain(trim: Trim | None) -> np.ndarray | None:
    """Return the open-loop warm-up's feed-forward gain, inputs per controlled output, shape (m, p), or None.

    The minimum-norm right inverse of the steady-state gain (:meth:`~neurocontrol.controllers.generic.Trim.steady_gain`)
    at a stable trim: the input move that, by the
    model, holds the controlled outputs moved by a unit each in steady state. None without a model, at an unstable
    or integrating trim, with fewer inputs than controlled outputs, or where the gain is singular (condition
    number above 1e8).

    Parameters
    ----------
    trim : Trim or None
        From :func:`~neurocontrol.controllers.generic.model_trim` (None: no model).
    """
    if trim is None or not trim.stable():
        return None
    G = trim.steady_gain()
    if G.shape[0] > G.shape[1] or not np.all(np.isfinite(G)) or np.linalg.cond(G) > 1e8:
        return None
    return np.linalg.pinv(G)


def long_run_signals(config: NeuralControllerConfig, trim: Trim | None, sign_steps: int | None, dt: float,
                     half_range: np.ndarray):
    """Return ``config`` with ``long_run_signals``' choices, and the note saying so (None: it does not fire).

    Only on a plant measured by its controlled outputs only, with ``input_taps`` and ``lag_bandwidth`` at their
    defaults, whose python-control model is stable at the trim. Two cases:

    - **a right-half-plane zero within the plant's dynamics** (the slowest one, times the slowest time constant,
      at least ``ZERO_WITHIN``): an identification warm-up of ``IDENTIFICATION_WARMUP`` slowest time constants of
      open-loop excitation (``IDENTIFICATION_AMPLITUDE`` of each input's half range, holds of a ninth to two thirds
      of the time constant) whose transitions the identifier learns ``IDENTIFICATION_REPLAY`` more times at the
      hand-over, with the input gains re-learned after a change (``change_reidentify``), and a horizon of twice
      the time constant; each only where its keys were left at their defaults;
    - else, **gains that take their steady-state sign after the horizon** (``sign_steps``,
      :func:`~neurocontrol.controllers.generic.gain_sign_steps`): a horizon of the slowest time constant.

    Both give the networks two input taps and rate lags at one half range per horizon. Every horizon is at most
    ``LONG_RUN_HORIZON_CAP`` times the one given.

    Parameters
    ----------
    config : NeuralControllerConfig
    trim : Trim or None
        The model's trim (None: no model, nothing fires).
    sign_steps : int or None
        :func:`~neurocontrol.controllers.generic.gain_sign_steps` at the trim.
    dt : float
        Control period, s.
    half_range : numpy.ndarray
        Half range of each input, physical units.
    """
    if (trim is None or config.long_run_signals is False or config.input_taps != 1
            or config.lag_bandwidth is not None or not auto_rate_lags(config, len(config.observation_low))):
        return config, None
    tau = slowest_time_constant_steps(trim, dt)
    if tau is None:
        return config, None
    zero = slowest_rhp_zero(trim)
    cap = LONG_RUN_HORIZON_CAP * config.horizon
    changes, said = {}, []
    if zero_within_dynamics(trim, dt):
        # the zero acts within the plant's own time scale: the long-run gains need data a closed loop does not give
        horizon = max(config.horizon, min(math.ceil(2.0 * tau), cap)) \
            if config.horizon == _DEFAULTS["horizon"] else config.horizon
        why = (f"a right-half-plane zero at {zero:.4g} rad/s (a time scale of {1.0 / zero:.4g} s), within twice the "
               f"slowest time constant of {tau * dt:.4g} s")
        if config.warmup_duration == _DEFAULTS["warmup_duration"] and config.warmup_pid is None:
            changes["warmup_duration"] = math.ceil(IDENTIFICATION_WARMUP * tau) * dt
            said.append(f"an identification warm-up of {changes['warmup_duration']:.4g} s ({IDENTIFICATION_WARMUP:g} "
                        "slowest time constants)")
            if config.warmup_replay is None:
                changes["warmup_replay"] = IDENTIFICATION_REPLAY
                said.append(f"its transitions learned {IDENTIFICATION_REPLAY} more times at the hand-over")
            if config.change_reidentify is None:
                changes["change_reidentify"] = True
                said.append("the input gains re-learned in closed loop from the weights before it when the "
                            "one-step error trips after the hand-over (change_reidentify)")
            if config.excitation_amplitude is None:
                changes["excitation_amplitude"] = tuple((IDENTIFICATION_AMPLITUDE * half_range).tolist())
                said.append(f"excitation +-{IDENTIFICATION_AMPLITUDE:g} of each input's half range")
            if config.excitation_min_hold == _DEFAULTS["excitation_min_hold"] and \
                    config.excitation_max_hold == _DEFAULTS["excitation_max_hold"]:
                holds = (max(1, math.ceil(tau / 9.0)), max(1, math.ceil(2.0 * tau / 3.0)))
                changes["excitation_min_hold"] = (holds[0],) * len(half_range)
                changes["excitation_max_hold"] = (holds[1],) * len(half_range)
                said.append(f"holds of {holds[0]}-{holds[1]} steps")
        if horizon != config.horizon:
            said.insert(0, f"a horizon of {horizon} steps (twice the model's slowest time constant, at most "
                           f"{LONG_RUN_HORIZON_CAP}x the default)")
    elif sign_steps is not None and sign_steps > config.horizon:
        horizon = max(config.horizon, min(math.ceil(tau), cap))
        why = f"the gains take their steady-state sign after {sign_steps} steps, beyond the horizon of {config.horizon}"
        said.append(f"a horizon of {horizon} steps (the model's slowest time constant, at most "
                    f"{LONG_RUN_HORIZON_CAP}x the horizon given)")
    else:
        return config, None
    said.append(f"two input taps and rate lags at +- half range x {1.0 / (horizon * dt):.4g} rad/s (one half range "
                "per horizon)")
    note = ", ".join(said) + f" (automatic: {why})"
    return dataclasses.replace(config, horizon=horizon, input_taps=2, lag_bandwidth=1.0 / (horizon * dt),
                               **changes), note
