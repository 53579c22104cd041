"""Control-law synthesisers: from the two networks' weights to the next plant input.

A synthesiser receives, in normalised units, the identifier's weights ``W``
(the learned plant), the imitator's weights ``W_star`` (the learned desired
response), the **measured** plant output ``y(t)``, the imitator's state
``d(t)`` (the desired response now), the reference command ``r(t)`` and the
last applied input ``u(t-1)``; it returns the next input ``u(t)``. It never
sees network predictions in place of measurements.

Two laws share one interface (:class:`AbstractLaw`):

* :class:`OneStepLaw`: the faithful Chow-Fang law. It chooses ``u`` so that
  the identifier's next net input equals the imitator's.
* :class:`PredictiveLaw`: looks ahead over a horizon that covers the plant's
  relative degree, using the identifier's free-running prediction and its
  forward-propagated input sensitivities (one Gauss-Newton step of a
  nonlinear model-predictive problem per control step).

Both return a proposal; :meth:`AbstractController.step` limits it in rate and
range, and every step starts from the input actually applied, so nothing winds
up.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.controllers._kernels import _tanh, predictive_kernel  # noqa: F401  (re-exported for tests)
from neurocontrol.exceptions import ParameterError

__all__ = ["AbstractLaw", "OneStepLaw", "PredictiveLaw", "LawContext", "default_blocks"]

#: Move-block starts as fractions of the horizon (0, 10, 30, 60 steps for a horizon of 100).
_BLOCK_FRACTIONS = (0.0, 0.1, 0.3, 0.6)


def default_blocks(horizon: int) -> tuple[int, ...]:
    """Return the move-block starts that :class:`PredictiveLaw` uses when ``blocks`` is not set.

    Moves start at 0, 10 %, 30 % and 60 % of the horizon (rounded down;
    duplicates dropped), so a short horizon gets fewer blocks.

    Parameters
    ----------
    horizon : int
        Prediction horizon in control steps (>= 1).

    Returns
    -------
    tuple of int
        Strictly increasing, starting at 0, all below ``horizon``.

    Examples
    --------
    >>> default_blocks(100), default_blocks(50), default_blocks(5)
    ((0, 10, 30, 60), (0, 5, 15, 30), (0, 1, 3))
    """
    horizon = check_int(horizon, "horizon", low=1)
    starts = sorted({int(f * horizon) for f in _BLOCK_FRACTIONS})
    return tuple(b for b in starts if b < horizon)


@dataclasses.dataclass
class LawContext:
    """Everything a law may use at one control step (normalised units).

    Attributes
    ----------
    W : ndarray, shape (n, n + m + 1)
        Identifier weights; columns [outputs | inputs | bias].
    W_star : ndarray, shape (n, n + p + 1)
        Imitator weights; columns [units | reference command | bias].
    y : ndarray, shape (n,)
        Measured plant output, normalised.
    d : ndarray, shape (n,)
        Imitator state: the desired response now (hidden units included).
    r : ndarray, shape (p,)
        Reference command, normalised.
    u_prev : ndarray, shape (m,)
        Last applied input, normalised.
    desired_map : ndarray of int, shape (n,)
        For each identifier unit, the imitator unit holding its desired value
        (-1: no desired value for that unit).
    offset : ndarray, shape (n,)
        Disturbance estimate added to the identifier's net input in
        predictions (zeros to disable).
    """

    W: np.ndarray
    W_star: np.ndarray
    y: np.ndarray
    d: np.ndarray
    r: np.ndarray
    u_prev: np.ndarray
    desired_map: np.ndarray
    offset: np.ndarray


class AbstractLaw(abc.ABC):
    """A control-law synthesiser: one public :meth:`compute`, one hook ``_compute_impl``.

    ``compute`` returns the unclipped normalised input proposal; the
    controller applies limits and rate limits.
    """

    def compute(self, ctx: LawContext) -> np.ndarray:
        """Return the proposed next input (normalised), shape (m,).

        Parameters
        ----------
        ctx : LawContext
            Weights, measurement, imitator state, command and last input.
        """
        return self._compute_impl(ctx)

    @abc.abstractmethod
    def _compute_impl(self, ctx: LawContext) -> np.ndarray: ...


# --------------------------------------------------------------------------- one-step law

@dataclasses.dataclass(frozen=True, kw_only=True)
class OneStepLaw(AbstractLaw):
    r"""The faithful one-step Chow-Fang law with a damped pseudo-inverse.

    Choose ``u*`` so that the identifier's next net input equals the
    imitator's on the units that have a desired value:

    .. math::

        W_1 y + W_2 u^* + b = W_1^* d + W_2^* r + b^*,\qquad
        u^* = (W_2^T W_2 + \lambda I)^{-1} W_2^T\,[W_1^* d + W_2^* r + b^* - W_1 y - b]

    with ``y`` the **measured** output and ``d`` the imitator's state (the
    desired response), never network predictions in their place.

    Parameters
    ----------
    damping : float >= 0, default 1e-3
        lambda of the damped least-squares inverse; bounds the gain by
        ``1 / (2 sqrt(lambda))`` when W2 is nearly singular.

    Notes
    -----
    Chow & Fang, IEEE Trans. Ind. Electron. 45(1):151-161, 1998 (law
    reconstructed from the paper's abstract and figures). The imitator's
    exogenous input is the reference command, so the literal ``W2* u`` term
    of the paper is read as ``W2* r``: the net input the imitator receives.
    The law looks one control step ahead only: on the helicopter, altitude
    has relative degree 4 from the collective servo, so the law cannot steer
    altitude by itself (measured in the benchmarks).
    """

    damping: float = 1e-3

    def __post_init__(self):
        object.__setattr__(self, "damping", check_positive(self.damping, "damping", allow_zero=True))

    def _compute_impl(self, ctx: LawContext) -> np.ndarray:
        n = ctx.y.shape[0]
        m = ctx.u_prev.shape[0]
        p = ctx.r.shape[0]
        rows = np.flatnonzero(ctx.desired_map >= 0)
        W1, W2, b = ctx.W[rows, :n], ctx.W[rows, n:n + m], ctx.W[rows, n + m]
        Ws = ctx.W_star[ctx.desired_map[rows]]
        target = Ws[:, :n] @ ctx.d + Ws[:, n:n + p] @ ctx.r + Ws[:, n + p]
        rhs = target - W1 @ ctx.y - b
        M = W2.T @ W2 + self.damping * np.eye(m)
        return np.linalg.solve(M, W2.T @ rhs)


# --------------------------------------------------------------------------- predictive law

@dataclasses.dataclass(frozen=True, kw_only=True)
class PredictiveLaw(AbstractLaw):
    r"""Predictive law over a horizon: identifier free run plus input sensitivities.

    At each step the identifier is run freely from the **measured** output
    with the input held at its last applied value, giving ``y0(t+h)``; its
    input sensitivities ``S_j(h) = dy(t+h)/du_j`` are propagated forward
    (RTRL style) along that prediction for input moves ``du_j`` that start
    at ``blocks[j]`` and are held to the end of the horizon. The imitator is
    run freely from its state under the held reference command, giving the
    desired response ``d(t+h)``. The move minimises

    .. math::

        \sum_{h=1}^{H}\sum_k q_k\,\big(d_k(t+h) - y^0_k(t+h) - S_k(h)\,\Delta u\big)^2
        + \rho\,\lVert\Delta u\rVert^2

    and the first block's move is applied (receding horizon).

    Parameters
    ----------
    horizon : int, default 100
        H in control steps; covers the slowest output's response you want to
        shape (100 steps = 1 s at 10 ms, many times the relative-degree delay
        of the helicopter's altitude).
    blocks : tuple of int, optional
        Start step of each input move (move blocking); must start at 0 and
        increase, all < horizon. Default: follows ``horizon`` (see
        :func:`default_blocks`; ``(0, 10, 30, 60)`` for the default horizon
        of 100), so changing ``horizon`` alone keeps a valid law. A value set
        explicitly is kept and checked against ``horizon``.
    output_weights : tuple of float, default (1, 30, 1, 0, 0)
        q_k per identifier unit (normalised units); 0 for units without a
        desired value.
    stride : int, default 4
        Evaluate the tracking cost at every ``stride``-th step of the horizon
        (the prediction and sensitivities still advance every step), which
        cuts the cost of the normal equations without losing the response's
        shape.
    move_penalty : float >= 0, default 15.0
        rho, per normalised input move.
    """

    horizon: int = 100
    blocks: tuple[int, ...] | None = None
    stride: int = 4
    output_weights: tuple[float, ...] = (1.0, 30.0, 1.0, 0.0, 0.0)
    move_penalty: float = 15.0

    def __post_init__(self):
        check_int(self.horizon, "horizon", low=1)
        derived = self.blocks is None
        blocks = default_blocks(int(self.horizon)) if derived else tuple(int(b) for b in self.blocks)
        if not blocks or blocks[0] != 0 or any(b1 <= b0 for b0, b1 in zip(blocks, blocks[1:])) \
                or blocks[-1] >= self.horizon:
            raise ParameterError(f"`blocks` must start at 0, increase strictly and stay below horizon="
                                 f"{self.horizon}, got {self.blocks!r}; leave `blocks` unset to let it follow "
                                 f"`horizon` ({default_blocks(int(self.horizon))!r} for horizon={self.horizon}).")
        q = as_float_array(self.output_weights, "output_weights", (None,))
        if np.any(q < 0) or not np.any(q > 0):
            raise ParameterError(f"`output_weights` must be non-negative with at least one positive entry, "
                                 f"got {tuple(q.tolist())}.")
        check_int(self.stride, "stride", low=1)
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "blocks", blocks)
        # a key resolved from others is not written back (scenario/encode.py), so it follows them after a change
        object.__setattr__(self, "__derived_fields__", frozenset({"blocks"}) if derived else frozenset())
        object.__setattr__(self, "output_weights", tuple(float(v) for v in q))
        object.__setattr__(self, "move_penalty", check_positive(self.move_penalty, "move_penalty", allow_zero=True))
        object.__setattr__(self, "_buffers", {})

    def _bufs(self, n, m):
        key = (n, m)
        last = self._buffers.get("last")
        if last is not None and last[0] == key:
            return last[1]
        bufs = self._buffers.get(key)
        if bufs is None:
            if len(self.output_weights) != n:
                raise ParameterError(f"`output_weights` must have one entry per identifier unit ({n}), "
                                     f"got {len(self.output_weights)}.")
            nv = len(self.blocks) * m
            bufs = dict(q=np.array(self.output_weights), blocks=np.array(self.blocks, dtype=np.int64),
                        rho=np.full(m, self.move_penalty * (1.0 if self.move_penalty > 0 else 0.0) + 1e-12),
                        yh=np.empty(n), yn=np.empty(n), dh=np.empty(n), dn=np.empty(n),
                        S=np.empty((n, nv)), Sn=np.empty((n, nv)), A=np.empty((nv, nv)), b=np.empty(nv),
                        out=np.empty(m))
            self._buffers[key] = bufs
        self._buffers["last"] = (key, bufs)
        return bufs

    def _compute_impl(self, ctx: LawContext) -> np.ndarray:
        n = ctx.y.shape[0]
        m = ctx.u_prev.shape[0]
        B = self._bufs(n, m)
        predictive_kernel(ctx.W, ctx.W_star, ctx.y, ctx.d, ctx.r, ctx.u_prev, ctx.offset, ctx.desired_map,
                          B["q"], B["blocks"], self.horizon, self.stride, B["rho"], B["yh"], B["yn"], B["dh"], B["dn"],
                          B["S"], B["Sn"], B["A"], B["b"], B["out"])
        return B["out"].copy()
