"""The neural controller's predictive synthesiser: one damped Gauss-Newton step through the identifier's free run.

:func:`gauss_newton_step` is the public, checked wrapper of the compiled
kernel the controller's step calls; :class:`GaussNewtonLaw` holds its
settings (``[controller]`` keys of ``kind = "neural"``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive, check_real
from neurocontrol.controllers import _neural_kernels as _nk
from neurocontrol.exceptions import ParameterError, ShapeError

__all__ = ["GaussNewtonLaw", "gauss_newton_step"]


def gauss_newton_step(prediction, jacobian, plan, u_prev, desired, *, tracked, weights, eval_steps,
                      move_penalty: float, damping: float, range_weight: float, bound: float) -> np.ndarray:
    r"""One damped Gauss-Newton step on the predictive tracking cost (normalised units).

    Parameters
    ----------
    prediction : numpy.ndarray, shape (N, n)
        Identifier free run ``y(t+1..t+N)`` under the plan.
    jacobian : numpy.ndarray, shape (N, n, B m)
        ``d y(t+i+1) / d v`` (move-blocked inputs, :func:`~neurocontrol.nets.incremental.blocked_input_jacobian`).
    plan : numpy.ndarray, shape (B m,)
        The block inputs ``v`` the prediction was made with.
    u_prev : numpy.ndarray, shape (m,)
        The input applied at the previous step.
    desired : numpy.ndarray, shape (N, q)
        Desired values of the tracked entries at ``t+1..t+N``.
    tracked : numpy.ndarray of int, shape (q,)
        Which entries of the prediction are tracked.
    weights : numpy.ndarray, shape (q,)
        Tracking weight of each tracked entry.
    eval_steps : numpy.ndarray of int
        Horizon steps (rows of ``prediction``) where the cost is evaluated.
    move_penalty : float
        rho on every block move ``v_b - v_{b-1}`` (``v_{-1} = u_prev``).
    damping : float
        Levenberg damping mu added to the normal matrix.
    range_weight : float
        Weight of the soft range penalty on every entry that the step's linear prediction
        ``prediction + jacobian @ delta`` puts beyond ``bound`` (the active set, re-solved until it no
        longer changes, at most ``RANGE_SOLVES`` solves).
    bound : float
        Normalised bound of the soft range penalty (1: the declared range).

    Returns
    -------
    numpy.ndarray, shape (B m,)
        The new plan ``v + delta``, before input limits; all NaN when the
        normal matrix is not positive definite (e.g. non-finite data).

    Notes
    -----
    With ``e = y(v) - d`` on the evaluated steps, ``D`` the block-difference
    operator and ``x`` the range excess of the held plan's prediction on the active set (the entries
    ``y + J delta`` leaves beyond the bound, for the ``delta`` returned: the minimiser of the linearised
    cost with its hinge),

    .. math::

        \delta = -\big(J^T Q J + \rho D^T D + w_r J_x^T J_x + \mu I\big)^{-1}
                 \big(J^T Q e + \rho D^T (D v - c) + w_r J_x^T x\big).
    """
    prediction = np.ascontiguousarray(as_float_array(prediction, "prediction", (None, None), finite=False))
    N, n = prediction.shape
    plan = np.ascontiguousarray(as_float_array(plan, "plan", (None,)))
    nc = plan.shape[0]
    jacobian = np.ascontiguousarray(as_float_array(jacobian, "jacobian", (N, n, nc), finite=False))
    u_prev = np.ascontiguousarray(as_float_array(u_prev, "u_prev", (None,)))
    if u_prev.shape[0] == 0 or nc % u_prev.shape[0]:
        raise ShapeError(f"`plan` must hold whole blocks of {u_prev.shape[0]} inputs, got length {nc}.")
    tracked = np.ascontiguousarray(tracked, dtype=np.int64)
    desired = np.ascontiguousarray(as_float_array(desired, "desired", (N, tracked.shape[0])))
    weights = np.ascontiguousarray(as_float_array(weights, "weights", (tracked.shape[0],)))
    eval_steps = np.ascontiguousarray(eval_steps, dtype=np.int64)
    if np.any(tracked < 0) or np.any(tracked >= n) or np.any(eval_steps < 0) or np.any(eval_steps >= N):
        raise ShapeError(f"`tracked` must index the {n} predicted entries and `eval_steps` the {N} horizon rows, "
                         f"got {tracked.tolist()} and {eval_steps.tolist()}.")
    out = np.empty(nc)
    ok = _nk.gauss_newton_kernel(prediction, jacobian, plan, u_prev, desired, tracked, weights, eval_steps,
                                 float(move_penalty), float(damping), float(range_weight), float(bound),
                                 np.empty((nc, nc)), np.empty(nc), np.empty((nc, nc)), np.empty((nc, nc)),
                                 np.empty(nc), np.empty((eval_steps.shape[0], n), dtype=np.int8), out)
    if not ok:
        out[:] = np.nan
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class GaussNewtonLaw:
    """Settings of the predictive synthesiser (normalised units: each declared range maps onto [-1, 1]).

    Parameters
    ----------
    horizon : int, default 50
        N, prediction horizon in control steps.
    blocks : tuple of int, default (0, 5, 15, 30)
        Start step of each input block (move blocking): strictly increasing,
        from 0, all below ``horizon``.
    stride : int, default 2
        The cost is evaluated at every ``stride``-th horizon step (ending at N).
    output_weights : tuple of float or None, default None
        Tracking weight per controlled output; None: 1 each.
    rate_weights : tuple of float or None, default None
        Weight on tracking the reference model's rate per controlled output: the
        output's measured rate (its ``rate_indices`` entry) or, on a plant with
        rate lags, its backward difference. None: the neural controller's default,
        0.3 on each output whose rate is measured and 0 on the others
        (docs/neural_controller.md, "Tracking the measured rates").
    move_penalty : float, default 0.3
        rho on each normalised block move (docs/neural_controller.md, "The move penalty, and caution at the
        start").
    damping : float, default 1e-4
        Levenberg damping mu.
    range_weight : float, default 100.0
        Weight of the soft penalty on predicted observations beyond the range bound: on those the step's
        own linear prediction puts there (docs/neural_controller.md, "The range penalty's active set").
    range_bound : float, default 1.0
        Normalised bound of that penalty (1: the declared observation range).
    jacobian_every : int, default 1
        Recompute the input Jacobian over the horizon at every this many
        predictive steps and reuse it in between (the free run is recomputed
        at every step); 1: every step, the exact Gauss-Newton step. Larger
        values are an approximation that trades tracking quality for step
        cost (docs/neural_controller.md, "Cost").
    change_caution : float, default 3.0
        Factor on ``move_penalty`` at the steps where the identifier's change
        detector is on (a model being re-learned after a plant change plans
        smaller moves); 1: the same penalty throughout
        (docs/neural_controller.md, "Caution while the model re-learns").
    """

    horizon: int = 50
    blocks: tuple[int, ...] = (0, 5, 15, 30)
    stride: int = 2
    output_weights: tuple[float, ...] | None = None
    rate_weights: tuple[float, ...] | None = None
    move_penalty: float = 0.3
    damping: float = 1e-4
    range_weight: float = 100.0
    range_bound: float = 1.0
    jacobian_every: int = 1
    change_caution: float = 3.0

    def __post_init__(self):
        N = check_int(self.horizon, "horizon", low=1)
        check_int(self.jacobian_every, "jacobian_every", low=1)
        blocks = tuple(int(b) for b in self.blocks)
        if not blocks or blocks[0] != 0 or any(b1 <= b0 for b0, b1 in zip(blocks, blocks[1:])) or blocks[-1] >= N:
            raise ParameterError(f"`blocks` must start at 0, increase strictly and stay below horizon={N}, "
                                 f"got {self.blocks!r}; e.g. (0, 10, 30, 60).")
        object.__setattr__(self, "blocks", blocks)
        check_int(self.stride, "stride", low=1, high=N)
        for name in ("output_weights", "rate_weights"):
            w = getattr(self, name)
            if w is not None:
                arr = as_float_array(w, name, (None,))
                if np.any(arr < 0):
                    raise ParameterError(f"`{name}` must be non-negative, got {arr.tolist()}.")
                object.__setattr__(self, name, tuple(arr.tolist()))
        for name in ("move_penalty", "damping", "range_weight"):
            object.__setattr__(self, name, check_positive(getattr(self, name), name, allow_zero=True))
        object.__setattr__(self, "range_bound", check_positive(self.range_bound, "range_bound"))
        object.__setattr__(self, "change_caution", check_real(self.change_caution, "change_caution", low=1.0))

    def block_of(self) -> np.ndarray:
        """Block index of every horizon step, shape (N,), int64."""
        return np.searchsorted(np.array(self.blocks), np.arange(self.horizon), side="right").astype(np.int64) - 1

    def eval_steps(self) -> np.ndarray:
        """Horizon rows where the cost is evaluated (every ``stride``-th, ending at N), int64."""
        return np.arange(self.horizon - 1, -1, -self.stride)[::-1].astype(np.int64)
