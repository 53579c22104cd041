"""What the identifier has learned, as step responses: the model the synthesiser plans through, made visible.

:func:`learned_step_response` free-runs an identifier from a given state
twice per input (the last input held, and that input stepped) and returns the
difference per unit of the step: the learned step response of every
controlled output to every input, in physical units, from that operating
point. :func:`settling_steps` reads how long each response takes to settle,
for comparing with the synthesiser's horizon. Nothing is learned or changed.
:func:`env_step_response` gives the plant's own responses to compare with,
model-free: copies of a Gymnasium env stepped from its present state.
:meth:`NeuralController.learned_step_response
<neurocontrol.controllers.neural.NeuralController.learned_step_response>`
calls it with the controller's present state;
:func:`neurocontrol.plotting.plot_step_responses` draws the result.
"""

from __future__ import annotations

import copy

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["env_step_response", "learned_step_response", "settling_steps"]


def learned_step_response(identifier, state, hidden, past_inputs, output_indices, step_size, steps: int):
    """Return the identifier's step response of the chosen outputs to each input, (steps, p, m).

    Parameters
    ----------
    identifier : IncrementalIdentifier
        The model (its :meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.predict` is used; weights untouched).
    state : array_like, shape (n_outputs,)
        The identifier's signals at the present step, physical units.
    hidden : array_like, shape (n_hidden,)
        Its hidden state at the present step.
    past_inputs : array_like, shape (taps, m)
        The identifier's input taps for the next transition, the latest first (``u(k), u(k-1), ...``): ``u(k)``
        is the input held, and the one stepped; the older taps are the inputs applied before it.
    output_indices : sequence of int
        The signals whose responses are returned (``p`` of them).
    step_size : array_like, shape (m,)
        The step of each input, physical units (nonzero).
    steps : int
        Length of the responses, control steps.

    Returns
    -------
    numpy.ndarray, shape (steps, p, m)
        ``(y_stepped(k + i) - y_held(k + i)) / step_size[j]`` for i = 1..steps: output per unit of input j.
    """
    past = as_float_array(past_inputs, "past_inputs", (None, None))
    taps, m = past.shape
    n = check_int(steps, "steps", low=1)
    idx = list(output_indices)

    def run(u_new):
        # u(k-taps+1), ..., u(k-1) as applied, then u(k) = ... = u(k+n-1) = u_new; the identifier's input at
        # step k+i is the tapped vector [u(k+i), u(k+i-1), ..., u(k+i-taps+1)]
        full = np.vstack([past[1:][::-1], np.repeat(u_new[None, :], n, axis=0)])     # u(k) at row taps - 1
        rows = full[taps - 1 + np.arange(n)[:, None] - np.arange(taps)[None, :]].reshape(n, taps * m)
        return identifier.predict(state, rows, hidden)[:, idx]

    return _per_unit_steps(run, past[0], step_size)


def _per_unit_steps(run, held, step_size) -> np.ndarray:
    """``(run(held + step_j e_j) - run(held)) / step_j`` for every input j, stacked as (steps, p, m)."""
    u0 = np.asarray(held, dtype=float)
    du = as_float_array(step_size, "step_size", (u0.shape[0],))
    if np.any(du == 0.0):
        raise ParameterError(f"`step_size` must be nonzero for every input, got {du.tolist()}.")
    base = run(u0)
    out = np.empty((*base.shape, u0.shape[0]))
    for j in range(u0.shape[0]):
        u = u0.copy()
        u[j] += du[j]
        out[:, :, j] = (run(u) - base) / du[j]
    return out


def settling_steps(response, band: float = 0.05) -> np.ndarray:
    """Return, per output and input, the steps a step response takes to stay within ``band`` of its end.

    Parameters
    ----------
    response : array_like, shape (steps, p, m)
        Step responses (:func:`learned_step_response`).
    band : float, default 0.05
        Fraction of the response's largest magnitude.

    Returns
    -------
    numpy.ndarray of int, shape (p, m)
        The first step i (1-based) after which ``|s(i') - s(end)| <= band * max|s|`` for every i' >= i; 0 for a
        response that is zero throughout. A value equal to the response's length means it had not settled.
    """
    s = as_float_array(response, "response", (None, None, None))
    b = check_real(band, "band", low=0.0, high=1.0, low_open=True, high_open=True)
    n = s.shape[0]
    peak = np.max(np.abs(s), axis=0)
    outside = np.abs(s - s[-1]) > b * peak                   # (steps, p, m)
    last_out = n - 1 - np.argmax(outside[::-1], axis=0)      # 0-based index of the last sample outside the band
    settle = np.where(outside.any(axis=0), np.minimum(last_out + 2, n), 1)
    return np.where(peak > 0.0, settle, 0).astype(np.int64)


def env_step_response(env, held, step_size, output_indices, steps: int) -> np.ndarray:
    """Return a plant's own step responses, (steps, p, m) per unit input: copies of ``env`` stepped from now.

    Each copy (``copy.deepcopy``) is stepped ``steps`` times with ``held``, and with ``held`` plus
    ``step_size[j]`` on input ``j``; the difference of the observations' ``output_indices`` entries,
    divided by the step, is returned. ``env`` itself is not stepped. An env that cannot be copied (an
    open connection to hardware, say) raises what ``deepcopy`` raises.

    Parameters
    ----------
    env : gymnasium.Env
        The plant in its present state (typically ``unwrapped``, so that no time limit ends the copies).
    held : array_like, shape (m,)
        The input held, physical units.
    step_size : array_like, shape (m,)
        The step of each input (nonzero).
    output_indices : sequence of int
        Observation entries returned.
    steps : int
        Length of the responses.

    Returns
    -------
    numpy.ndarray, shape (steps, p, m)
    """
    u0 = as_float_array(held, "held", (None,))
    n = check_int(steps, "steps", low=1)
    idx = list(output_indices)

    def run(u):
        e = copy.deepcopy(env)
        return np.array([np.asarray(e.step(u)[0], dtype=float)[idx] for _ in range(n)])

    return _per_unit_steps(run, u0, step_size)
