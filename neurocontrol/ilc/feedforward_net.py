r"""The trial memory of the network ILC as a network: the set-point correction as a function of the reference.

:class:`NormOptimalILC` computes after each trial the next trial's set-point
correction ``f_{k+1}(t)`` (T x c). Held as a time-indexed signal, that
correction belongs to one reference: the runner replays it, and nothing of it
carries to another task. :class:`FeedforwardNetwork` holds it instead in the
weights of a network whose input is the reference around each instant, the
set-points' changes over a window from ``back_steps`` before to
``ahead_steps`` after it (every ``stride`` steps) and their present levels:

.. math:: f(t) = W\,\phi(t), \qquad \phi(t) = \big[\,\tfrac{r(t+j) - r(t)}{h}\ (j = -B, \dots, A),\ \
    \tfrac{r(t) - m}{h},\ 1\,\big]

(``m``, ``h``: middle and half range of each controlled output). After every
trial the law's target ``Q[f_k + g \Delta_k]`` is computed from the network's
own output ``f_k = W_k \phi`` and the weights are fitted to it by regularised
least squares, ``W_{k+1} = \arg\min \sum_t |W \phi(t) - f_{k+1}(t)|^2 +
\lambda |W - W_k|^2`` (the exact minimiser; for a linear network the EKF over
the trial's samples reaches the same weights); the next trial applies
``W_{k+1} \phi``. So the correction learned over the trials is in the weights,
a reset network forgets it, and the weights apply to any reference the next
trial brings. With ``hidden_units = 0`` (the default) the network is linear: a
learned non-causal filter of the reference (the closed loop's approximate
inverse needs the set-points ahead). With ``hidden_units = H > 0`` it has a
hidden layer of H tanh units on the same features, trained with the output
layer:

.. math:: f(t) = W\,\phi(t) + V \tanh\big(U \phi(t)\big),

every weight pulled towards its last value by the same ``ridge``. The fit
alternates the output layer's exact regularised least squares (``W``, ``V``
for the present ``U``) with one damped Gauss-Newton step per hidden unit on
its input weights (node-decoupled, as the identifier's EKF), a step kept only
when it lowers the regularised cost, for ``fit_iterations`` rounds. ``U``
starts from a draw of ``seed``, ``V`` at zero (the first fit starts from the
linear network's).

Examples
--------
>>> import numpy as np
>>> net = FeedforwardNetwork(back_steps=2, ahead_steps=2, stride=1, output_range=[[0.0], [2.0]])
>>> r = np.repeat([[0.5], [1.5]], 5, axis=0)            # a step at t = 5
>>> net.features(r).shape                                 # 4 changes (t-2, t-1, t+1, t+2), the level, 1
(10, 6)
>>> fitted = net.fit(r, 0.1 * (r - 0.5))                  # learn f = 0.1 (r - 0.5)
>>> bool(np.allclose(net.predict(r), 0.1 * (r - 0.5), atol=1e-6)) and bool(np.array_equal(fitted, net.predict(r)))
True
"""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_memory, check_real
from neurocontrol.exceptions import ParameterError, ShapeError

__all__ = ["FeedforwardNetwork"]


class FeedforwardNetwork:
    """A linear network from the reference around each instant to the set-point correction there.

    Parameters
    ----------
    back_steps, ahead_steps : int
        The window of set-point changes: from ``back_steps`` control steps before each instant to
        ``ahead_steps`` after it.
    stride : int
        Steps between two samples of the window (>= 1).
    output_range : array_like, shape (2, p)
        Declared low and high of each controlled output (the features' scale).
    ridge : float, default 1e-6
        lambda of the fit, relative to the number of samples: the pull towards the last weights.
    memory : bool, default True
        Keep the weights over the trials; False: :meth:`start_trial` forgets them (the ablation without
        trial memory).
    hidden_units : int, default 0
        Tanh units of a hidden layer on the features, trained with the output layer; 0: the linear network.
    seed : int or numpy.random.SeedSequence, optional
        Draw of the hidden units' first input weights, ``N(0, 1 / (p + 1))`` each (``p`` outputs: the features'
        levels and constant are of order one); needed when ``hidden_units > 0``. A reset returns to that draw.
    fit_iterations : int, default 10
        Rounds of the hidden layer's fit (output layer, then one step per hidden unit) per trial.
    """

    def __init__(self, *, back_steps: int, ahead_steps: int, stride: int, output_range, ridge: float = 1e-6,
                 memory: bool = True, hidden_units: int = 0, seed=None, fit_iterations: int = 10):
        self.back_steps = check_int(back_steps, "back_steps", low=0)
        self.ahead_steps = check_int(ahead_steps, "ahead_steps", low=0)
        self.stride = check_int(stride, "stride", low=1)
        rng = as_float_array(output_range, "output_range", (2, None))
        if np.any(rng[1] <= rng[0]):
            raise ParameterError(f"`output_range` must have high > low per output, got {rng.tolist()}.")
        self._mid, self._half = 0.5 * (rng[0] + rng[1]), 0.5 * (rng[1] - rng[0])
        self.ridge = check_real(ridge, "ridge", low=0.0)
        if not isinstance(memory, (bool, np.bool_)):
            raise ParameterError(f"`memory` must be True or False, got {memory!r}.")
        self.memory = bool(memory)
        self.hidden_units = check_int(hidden_units, "hidden_units", low=0)
        window = range(-self.back_steps, self.ahead_steps + 1, self.stride)
        nf = ((len(window) - (0 in window) or 1) + 1) * self._mid.shape[0] + 1      # n_features, before building
        check_memory(2.0 * (nf + self.hidden_units) ** 2, f"the correction network ({nf:.0f} features, "
                     f"{self.hidden_units} hidden units)", "lower its window (`feedforward_back_steps`, "
                     "`feedforward_ahead_steps`) or `feedforward_hidden_units`.")
        self._offsets = np.array([j for j in range(-self.back_steps, self.ahead_steps + 1, self.stride) if j != 0]
                                 or [0], dtype=np.int64)
        self.fit_iterations = check_int(fit_iterations, "fit_iterations", low=1)
        self._u0 = np.zeros((self.n_features, 0))
        if self.hidden_units:
            if seed is None:
                raise ParameterError("`hidden_units` > 0 needs `seed` (an int or a numpy SeedSequence) for the "
                                     "hidden units' first input weights.")
            scale = 1.0 / np.sqrt(self._mid.shape[0] + 1.0)
            self._u0 = np.random.default_rng(seed).normal(0.0, scale, (self.n_features, self.hidden_units))
        self.weights: np.ndarray | None = None      # (n_features, c); None: not fitted (output 0)
        self.hidden_in = self._u0.copy()             # U, (n_features, H)
        self.hidden_out: np.ndarray | None = None   # V, (H, c); None: not fitted
        #: Of the last fit: the rounds run, the hidden-unit steps kept, the regularised cost before and after.
        self.fit_info: dict = {}

    def __repr__(self):
        hidden = f", hidden_units={self.hidden_units}" if self.hidden_units else ""
        return (f"FeedforwardNetwork(back_steps={self.back_steps}, ahead_steps={self.ahead_steps}, "
                f"stride={self.stride}, ridge={self.ridge:g}, memory={self.memory}{hidden})")

    @property
    def n_outputs(self) -> int:
        """Reference channels read (the controlled outputs of ``output_range``)."""
        return int(self._mid.shape[0])

    @property
    def n_features(self) -> int:
        """Inputs per instant: the window's changes and the level of every output, and a constant."""
        return (len(self._offsets) + 1) * self._mid.shape[0] + 1

    def reset(self) -> None:
        """Forget the weights (the next prediction is zero; the hidden units return to their first draw)."""
        self.weights = None
        self.hidden_out = None
        self.hidden_in = self._u0.copy()

    def start_trial(self) -> None:
        """Forget the weights when ``memory`` is False (the law calls this before each update)."""
        if not self.memory:
            self.reset()

    def features(self, references) -> np.ndarray:
        """Return phi(t) for every row of ``references`` (T, p): the window's changes, the levels, 1.

        Parameters
        ----------
        references : array_like, shape (T, p)
            Set-points of a trial, physical units; the window is clipped at the trial's ends.

        Returns
        -------
        numpy.ndarray, shape (T, n_features)
        """
        r = as_float_array(references, "references", (None, self._mid.shape[0]))
        T = r.shape[0]
        rn = (r - self._mid) / self._half
        steps = np.arange(T)
        cols = [rn[np.clip(steps + j, 0, T - 1)] - rn for j in self._offsets]
        return np.column_stack([*cols, rn, np.ones(T)])

    def predict(self, references, n_channels: int | None = None) -> np.ndarray:
        """Return the correction ``W phi(t)`` along ``references`` (zeros before the first fit).

        Parameters
        ----------
        references : array_like, shape (T, p)
            Set-points, physical units.
        n_channels : int, optional
            Columns of the zero correction before the first fit (default p).

        Returns
        -------
        numpy.ndarray, shape (T, c)
        """
        phi = self.features(references)
        if self.weights is None:
            return np.zeros((phi.shape[0], self._mid.shape[0] if n_channels is None else n_channels))
        return self._forward(phi)

    def _forward(self, phi) -> np.ndarray:
        """Return ``phi W + tanh(phi U) V`` (the linear part alone without hidden units)."""
        if not self.hidden_units:
            return phi @ self.weights
        return phi @ self.weights + np.tanh(phi @ self.hidden_in) @ self.hidden_out

    def fit(self, references, target) -> np.ndarray:
        """Fit the weights to ``target`` along ``references``, pulled towards the last weights by ``ridge``.

        Parameters
        ----------
        references : array_like, shape (T, p)
            Set-points of the trial.
        target : array_like, shape (T, c)
            The correction the weights should give along them.

        Returns
        -------
        numpy.ndarray, shape (T, c)
            The fitted network's correction along ``references`` (:meth:`predict` of them).
        """
        phi = self.features(references)
        f = as_float_array(target, "target", (phi.shape[0], None))
        prior = np.zeros((phi.shape[1], f.shape[1])) if self.weights is None else self.weights
        if prior.shape[1] != f.shape[1]:
            raise ShapeError(f"`target` must have {prior.shape[1]} channels (as fitted before), got {f.shape[1]}.")
        lam = self.ridge * phi.shape[0]
        if self.hidden_units:
            return self._fit_hidden(phi, f, prior, lam)
        # (phi^T phi + lam I) W = phi^T f + lam W_prior, solved in the least-squares sense (phi may be rank-poor)
        a = phi.T @ phi + lam * np.eye(phi.shape[1])
        b = phi.T @ f + lam * prior
        self.weights = np.linalg.lstsq(a, b, rcond=None)[0]
        return phi @ self.weights

    def _fit_hidden(self, phi, f, prior_w, lam) -> np.ndarray:
        """Fit ``W``, ``V`` and ``U`` to ``f``: output layer exact, one damped Gauss-Newton step per hidden unit.

        Minimises ``|phi W + tanh(phi U) V - f|^2 + lam (|W - W0|^2 + |V - V0|^2 + |U - U0|^2)``, the zeros the
        last weights. Each round solves the output layer for the present ``U``, then steps each unit's column
        ``u_k`` by ``-(J_k^T J_k + (lam + mu) I)^{-1} g_k`` with ``J_k = (V_k . V_k)^{1/2} diag(1 - h_k^2) phi``
        (the unit's outputs summed over the channels it feeds) and ``g_k`` the cost's gradient; a round whose
        steps do not lower the cost is undone and ``mu`` raised tenfold (lowered threefold after one that does).
        """
        H, nf = self.hidden_units, phi.shape[1]
        prior_v = np.zeros((H, f.shape[1])) if self.hidden_out is None else self.hidden_out
        prior_u = self.hidden_in.copy()
        prior = np.vstack([prior_w, prior_v])
        eye, eye_u = np.eye(nf + H), np.eye(nf)

        def output_layer(u):
            x = np.hstack([phi, np.tanh(phi @ u)])
            wv = np.linalg.lstsq(x.T @ x + lam * eye, x.T @ f + lam * prior, rcond=None)[0]
            r = x @ wv - f
            cost = float(np.sum(r * r) + lam * (np.sum((wv - prior) ** 2) + np.sum((u - prior_u) ** 2)))
            return wv, r, x[:, nf:], cost

        u = prior_u.copy()
        wv, r, h, cost = output_layer(u)
        first, mu, kept, rounds = cost, 1e-3 * max(lam, 1e-12) + 1e-8 * phi.shape[0], 0, 0
        for rounds in range(1, self.fit_iterations + 1):
            v = wv[nf:]
            d = 1.0 - h * h
            trial = u.copy()
            for k in range(H):
                s = float(v[k] @ v[k])
                if s == 0.0:
                    continue            # a unit the output layer does not use has no gradient
                grad = phi.T @ (d[:, k] * (r @ v[k])) + lam * (u[:, k] - prior_u[:, k])
                a = (phi * (s * d[:, k] ** 2)[:, None]).T @ phi + (lam + mu) * eye_u
                trial[:, k] = u[:, k] - np.linalg.solve(a, grad)
            wv_t, r_t, h_t, cost_t = output_layer(trial)
            if np.isfinite(cost_t) and cost_t < cost:
                u, wv, r, h, cost, mu, kept = trial, wv_t, r_t, h_t, cost_t, mu / 3.0, kept + 1
            else:
                mu *= 10.0
        self.weights, self.hidden_out, self.hidden_in = wv[:nf], wv[nf:], u
        self.fit_info = {"rounds": rounds, "kept": kept, "cost_before": first, "cost_after": cost}
        return self._forward(phi)
