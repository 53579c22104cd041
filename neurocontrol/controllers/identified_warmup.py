"""LQR with integral action on a linear model fitted online: a warm-up controller for a plant without a model.

:class:`IdentifiedLQRI` is what the neural controller's ``auto_warmup`` flies when the env has no python-control
model (or ``plant_model = false``). From the measured transitions of the warm-up so far (the nominal input plus the
warm-up's excitation) it fits, by ridge least squares in the declared ranges' normalised units,

``y(k+1) - y(k) = Theta^T [y(k), ..., y(k-L+1), u(k), ..., u(k-L+1), 1]``

over every measured signal ``y`` (``L`` lags: one on a plant that measures more than its controlled outputs, three on
one measured by its controlled outputs only), writes it as a state-space model whose state is the last ``L``
measurements and the last ``L - 1`` inputs, and checks its spectral radius. If the fit has a mode that does not
decay within the warm-up (``radius >= exp(-dt / slow_s)``: unstable, integrating, or slower than the warm-up), it
takes the plant: ``u = u* - K (x - x*) - Ki z``, with ``(K, Ki)`` from
:func:`~neurocontrol.controllers.generic.lqr_i_gains` on the fitted model under the automatic warm-up's weights
(Bryson's rule on the declared ranges), ``(x*, u*)`` the fitted model's steady state at the reference and ``z`` the
integral of the controlled outputs' errors (held while the proposal is beyond the input limits). It refits every
``refit_every`` steps. Until then, or if the fit decays, it proposes the nominal input: the open-loop warm-up.

Nothing here knows the plant's equations: only the control period, the input limits, the declared observation
ranges and the measurements (docs/neural_controller.md, "Warm-up without a model").
"""

from __future__ import annotations

import math

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.controllers.base import AbstractController
from neurocontrol.controllers.generic import lqr_i_gains
from neurocontrol.exceptions import ParameterError

__all__ = ["IdentifiedLQRI"]


class IdentifiedLQRI(AbstractController):
    """LQR-I on a linear model fitted to the transitions measured so far (see the module).

    Parameters
    ----------
    input_limits : array_like, shape (m, 2)
        Actuator limits.
    output_indices : sequence of int
        Controlled outputs within the observation.
    dt : float
        Control period, s.
    observation_low, observation_high : array_like, shape (n,)
        Declared range of every measured signal (the normalisation).
    nominal_input : array_like, shape (m,)
        The input proposed before the fit takes the plant.
    lags : int, default 1
        ``L`` above.
    slow_s : float, default 1.0
        A fitted mode slower than this (s) counts as not decaying (the warm-up's length).
    output_weight, integral_weight, input_weight, state_weight : float
        The LQR-I's weights in the normalised units (Bryson's rule on the declared ranges, as
        :class:`~neurocontrol.controllers.generic.LQRIConfig`); defaults those of the automatic warm-up.
    ridge : float, default 1e-6
        Ridge weight of the fit per regressor and transition, in the normalised units: a prior of persistence
        (``y(k+1) = y(k)``, a pole at 1) for the directions the data excite little.
    fit_after : int, optional
        Transitions before the first fit; default the regressors per signal plus three.
    refit_every : int, default 5
        Steps between two fits.
    memory : int, default 2000
        The fit uses at most this many of the latest transitions (a long run forgets the oldest).
    """

    def __init__(self, *, input_limits, output_indices, dt: float, observation_low, observation_high,
                 nominal_input, lags: int = 1, slow_s: float = 1.0, output_weight: float = 1000.0,
                 integral_weight: float = 0.01, input_weight: float = 1.0, state_weight: float = 1e-6,
                 ridge: float = 1e-6, fit_after: int | None = None, refit_every: int = 5, memory: int = 2000):
        super().__init__(input_limits=input_limits, output_indices=output_indices, dt=dt)
        lo = as_float_array(observation_low, "observation_low", (None,))
        hi = as_float_array(observation_high, "observation_high", (lo.shape[0],))
        if not np.all(hi > lo):
            raise ParameterError("`observation_high` must exceed `observation_low` entry by entry.")
        n, m = lo.shape[0], self.n_inputs
        if max(self.output_indices) >= n:
            raise ParameterError(f"`output_indices` {list(self.output_indices)} must be within the {n} observation "
                                 "entries.")
        self._n_obs = n
        self._y_mid, self._y_half = 0.5 * (hi + lo), 0.5 * (hi - lo)
        lim = self.input_limits
        self._u_mid, self._u_half = 0.5 * (lim[:, 1] + lim[:, 0]), 0.5 * (lim[:, 1] - lim[:, 0])
        self._nominal = as_float_array(nominal_input, "nominal_input", (m,))
        self.lags = check_int(lags, "lags", low=1)
        self.slow_s = check_positive(slow_s, "slow_s", unit="s")
        self._weights = tuple(check_positive(w, name, allow_zero=name == "state_weight") for w, name in
                              ((output_weight, "output_weight"), (integral_weight, "integral_weight"),
                               (input_weight, "input_weight"), (state_weight, "state_weight")))
        self.ridge = check_positive(ridge, "ridge", allow_zero=True)
        self._n_x = n * self.lags + m * (self.lags - 1)
        self._n_phi = self._n_x + m + 1
        self.fit_after = self._n_phi + 3 if fit_after is None else check_int(fit_after, "fit_after", low=1)
        self.refit_every = check_int(refit_every, "refit_every", low=1)
        self.memory = check_int(memory, "memory", low=self.fit_after)
        self._reset_state()

    def _reset_state(self) -> None:
        self._phis: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []
        self._y_hist: list[np.ndarray] = []          # normalised measurements, newest last (L of them)
        self._u_hist: list[np.ndarray] = []          # normalised applied inputs, newest last (L of them)
        self._u_applied: np.ndarray | None = None
        self._z = np.zeros(len(self.output_indices))
        self._law = None                             # (K, Ki, A, B, c) of the last fit that took the plant
        self._k = 0
        #: Spectral radius of the last fit (None before the first).
        self.radius: float | None = None
        #: Transitions the last fit used.
        self.fitted_on = 0
        #: Transitions of the fit that took the plant (None: not engaged).
        self.engaged_at: int | None = None
        self._proposal = self._nominal.copy()

    def _reset_impl(self, observation, reference, seed) -> None:
        self._reset_state()

    def observe_input(self, u) -> None:
        """Take the input actually applied this step (a caller that adds to the proposal, e.g. excitation, says so).

        Parameters
        ----------
        u : array_like, shape (m,)
            The applied input, physical units.
        """
        self._u_applied = as_float_array(u, "u", (self.n_inputs,)).copy()

    def lost_sample(self) -> None:
        """Forget the last measurements and inputs (a sample was lost): the next transitions restart the regressors."""
        self._y_hist, self._u_hist, self._u_applied = [], [], None

    def _applied(self, u: np.ndarray) -> None:
        self._u_applied = u.copy()

    def _state(self) -> np.ndarray:
        """Return the fitted model's state: the last L measurements (newest first), then the last L - 1 inputs."""
        ys = self._y_hist[::-1]
        us = self._u_hist[::-1]
        return np.concatenate(ys + us[:self.lags - 1]) if self.lags > 1 else ys[0].copy()

    def _step_impl(self, observation, reference) -> np.ndarray:
        yn = (observation - self._y_mid) / self._y_half
        if self._u_applied is not None:             # the transition that ended with this measurement
            if len(self._y_hist) == self.lags and len(self._u_hist) >= self.lags - 1:
                self._phis.append(np.concatenate([self._state(), (self._u_applied - self._u_mid) / self._u_half,
                                                  [1.0]]))
                self._targets.append(yn - self._y_hist[-1])
                if len(self._phis) > self.memory:
                    del self._phis[0], self._targets[0]
            self._u_hist.append((self._u_applied - self._u_mid) / self._u_half)
            self._u_hist = self._u_hist[-self.lags:]
        self._y_hist.append(yn)
        self._y_hist = self._y_hist[-self.lags:]
        self._k += 1
        if len(self._phis) >= self.fit_after and (self._law is None or self._k % self.refit_every == 0):
            self._fit()
        if self._law is None or len(self._y_hist) < self.lags or len(self._u_hist) < self.lags - 1:
            self._proposal = self._nominal.copy()
            return self._proposal
        K, Ki, A, B, c = self._law
        idx = list(self.output_indices)
        r = (reference - self._y_mid[idx]) / self._y_half[idx]
        x = self._state()
        star = _steady_state(A, B, c, idx, r)
        if star is None:
            return self._proposal.copy()
        x_s, u_s = star
        un = u_s - K @ (x - x_s) - Ki @ self._z
        u = un * self._u_half + self._u_mid
        if np.all(np.isfinite(u)):
            inside = np.all((u >= self.input_limits[:, 0]) & (u <= self.input_limits[:, 1]))
            if inside:                                # no wind-up while the proposal is beyond the limits
                self._z = self._z + self.dt * (r - yn[idx])
            self._proposal = u
        return self._proposal.copy()

    def _fit(self) -> None:
        """Fit the model to every transition so far; take the plant if it does not decay (see the module)."""
        Phi, T = np.asarray(self._phis), np.asarray(self._targets)
        N, d = Phi.shape
        lhs = Phi.T @ Phi + self.ridge * N * np.eye(d)
        try:
            theta = np.linalg.solve(lhs, Phi.T @ T)          # (d, n)
        except np.linalg.LinAlgError:
            return
        if not np.all(np.isfinite(theta)):
            return
        A, B, c = _companion(theta, self._n_obs, self.n_inputs, self.lags)
        self.fitted_on = N
        self.radius = float(np.max(np.abs(np.linalg.eigvals(A))))
        if not self.engaged and self.radius < math.exp(-self.dt / self.slow_s):
            return                                    # the fit decays within the warm-up: stay open loop
        wy, wz, wu, wx = self._weights
        idx = list(self.output_indices)
        n_x, p, m = A.shape[0], len(idx), self.n_inputs
        Cc = np.zeros((p, n_x))
        Cc[np.arange(p), idx] = 1.0
        Q = np.zeros((n_x + p, n_x + p))
        Q[:n_x, :n_x] = wy * Cc.T @ Cc + wx * np.eye(n_x)
        Q[n_x:, n_x:] = wz * np.eye(p)
        try:
            K, Ki = lqr_i_gains(A, B, Cc, self.dt, Q, wu * np.eye(m))
        except ParameterError:
            return                                    # not stabilisable as fitted: keep the last law
        if np.all(np.isfinite(K)) and np.all(np.isfinite(Ki)):
            self._law = (K, Ki, A, B, c)
            if self.engaged_at is None:
                self.engaged_at = N

    @property
    def engaged(self) -> bool:
        """True once a fit has taken the plant (it keeps it to the end of the episode)."""
        return self.engaged_at is not None

    def derived_settings(self) -> dict:
        """Return the lags, whether and after how many transitions a fit took the plant, and the last fit's radius."""
        return {"lags": self.lags, "engaged_at": self.engaged_at, "radius": self.radius, "fitted_on": self.fitted_on}

    def get_state(self) -> dict:
        """Everything that changes during an episode (see :meth:`AbstractController.get_state`)."""
        n, m, d = self._n_obs, self.n_inputs, self._n_phi
        nan = np.full(m, np.nan)
        law = self._law or tuple(np.full(shape, np.nan) for shape in
                                 ((m, self._n_x), (m, len(self.output_indices)), (self._n_x, self._n_x),
                                  (self._n_x, m), (self._n_x,)))
        state = {"phis": np.asarray(self._phis, dtype=float).reshape(-1, d),
                 "targets": np.asarray(self._targets, dtype=float).reshape(-1, n),
                 "y_hist": np.asarray(self._y_hist, dtype=float).reshape(-1, n),
                 "u_hist": np.asarray(self._u_hist, dtype=float).reshape(-1, m),
                 "u_applied": nan.copy() if self._u_applied is None else self._u_applied.copy(),
                 "z": self._z.copy(), "proposal": self._proposal.copy(),
                 "last_input": nan.copy() if self._last_u is None else self._last_u.copy(),
                 "k": self._k, "engaged_at": -1 if self.engaged_at is None
                 else self.engaged_at, "radius": np.nan if self.radius is None else self.radius,
                 "fitted_on": self.fitted_on}
        state.update({f"law.{name}": np.array(a, dtype=float, copy=True) for name, a in zip("K Ki A B c".split(), law)})
        return state

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned.

        Parameters
        ----------
        state : dict
            A :meth:`get_state` dict of a controller with the same settings.
        """
        state = {k: v for k, v in state.items() if k != "law"}     # written before `engaged_at` told it
        self._check_state_keys(state)
        n, m = self._n_obs, self.n_inputs

        def rows(key, w):
            return [np.array(r, dtype=float) for r in as_float_array(state[key], key, (None, w), finite=False)]

        self._phis, self._targets = rows("phis", self._n_phi), rows("targets", n)
        self._y_hist, self._u_hist = rows("y_hist", n), rows("u_hist", m)
        u = as_float_array(state["u_applied"], "u_applied", (m,), finite=False)
        self._u_applied = None if not np.all(np.isfinite(u)) else u.copy()
        self._z = as_float_array(state["z"], "z", (len(self.output_indices),)).copy()
        self._proposal = as_float_array(state["proposal"], "proposal", (m,)).copy()
        last = as_float_array(state["last_input"], "last_input", (m,), finite=False)
        self._last_u = None if not np.all(np.isfinite(last)) else last.copy()
        self._k, self.fitted_on = int(state["k"]), int(state["fitted_on"])
        self.engaged_at = None if int(state["engaged_at"]) < 0 else int(state["engaged_at"])
        self.radius = None if not math.isfinite(float(state["radius"])) else float(state["radius"])
        self._law = tuple(np.array(state[f"law.{name}"], dtype=float) for name in "K Ki A B c".split()) \
            if self.engaged else None           # a law exists from the fit that took the plant on


def _companion(theta: np.ndarray, n: int, m: int, L: int, difference: bool = True):
    """Return ``(A, B, c)`` of the fitted model, state [y(k) .. y(k-L+1), u(k-1) .. u(k-L+1)].

    ``theta`` (d, n): rows for the state's entries, then u(k), then the constant. ``difference``: the fit is of
    ``y(k+1) - y(k)`` (this module's); else of ``y(k+1)`` (:mod:`neurocontrol.controllers._identify`'s).
    """
    n_x = n * L + m * (L - 1)
    A = np.zeros((n_x, n_x))
    B = np.zeros((n_x, m))
    c = np.zeros(n_x)
    A[:n, :n_x] = theta[:n_x].T
    if difference:
        A[:n, :n] += np.eye(n)                   # the fit is of y(k+1) - y(k)
    B[:n] = theta[n_x:n_x + m].T
    c[:n] = theta[n_x + m]
    for j in range(1, L):                        # y(k-j) <- y(k-j+1)
        A[j * n:(j + 1) * n, (j - 1) * n:j * n] = np.eye(n)
    if L > 1:
        u0 = n * L                               # u(k-1) <- u(k); u(k-j) <- u(k-j+1)
        B[u0:u0 + m] = np.eye(m)
        for j in range(1, L - 1):
            A[u0 + j * m:u0 + (j + 1) * m, u0 + (j - 1) * m:u0 + j * m] = np.eye(m)
    return A, B, c


def _steady_state(A, B, c, idx, r):
    """Return the fitted model's steady state ``(x*, u*)`` with the controlled outputs at ``r`` (lstsq), or None."""
    n_x, m = B.shape
    p = len(idx)
    lhs = np.zeros((n_x + p, n_x + m))
    lhs[:n_x, :n_x] = A - np.eye(n_x)
    lhs[:n_x, n_x:] = B
    lhs[n_x + np.arange(p), idx] = 1.0
    rhs = np.concatenate([-c, r])
    sol = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    if not np.all(np.isfinite(sol)):
        return None
    return sol[:n_x], sol[n_x:]
