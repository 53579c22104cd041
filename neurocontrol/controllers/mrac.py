"""Model-reference adaptive augmentation of the LQR-I baseline, with a box projection on the adapted parameters.

The baseline + adaptive augmentation design for matched uncertainty: the plant
is taken to be the python-control linearisation with its inputs passed through
an unknown matched uncertainty, ``x[k+1] = Ad x + Bd Lambda (u + Theta^T
Phi(x))``. The LQR-I baseline of :mod:`neurocontrol.controllers.generic`
(designed on the nominal model, ``Lambda = I``, ``Theta = 0``) closed around
that nominal model is the *reference model*; the adaptive part adds
``u_ad = D_u Theta_hat^T phi`` to the baseline's input and updates ``Theta_hat``
from the error ``e`` between the plant's state (the baseline's observer
estimate and its output integrators) and the reference model's state:

``Theta_hat <- clip(Theta_hat + Proj(Theta_hat, -gamma phi (B_n^T P e)^T / (rho (1 + phi^T phi))))``

with ``P`` the solution of the reference model's discrete Lyapunov equation
``A_m^T P A_m - P + Q = 0``. Everything is scale-free: states are divided by
scales from the linearisation and the input limits (:func:`state_scales`),
inputs by their ranges ``D_u``, ``Q`` is the identity in those units, and
``rho = ||B_n^T P B_n||`` normalises the gradient (the normalised gradient of
discrete-time adaptive control): an error that one step of an input offset
``delta`` (in input ranges) would cause moves the adaptive input by about
``gamma delta``, whatever the units. The regressor ``phi`` holds the scaled state
estimate, the scaled baseline input (which carries an input-gain uncertainty
``Lambda``) and a bias of 1 (a constant matched disturbance, e.g. the trim
input the nominal model gets wrong).

Projection: a box (every parameter within ``[-bound, bound]``). The operator
:func:`box_projection` zeroes the components of an update that point out of
the box from its boundary (the continuous-time projection operator: it never
increases ``(theta - theta*)^T Gamma^-1 (theta - theta*)`` for ``theta*`` in the
box), and the discrete step then clips to the box (the Euclidean projection,
which never moves a parameter away from any point of the box). No dead zone
and no sigma- or e-modification: the box keeps the parameters bounded.

Adaptation is frozen on a step whose input saturated (the applied input
differs from the proposal), like the baseline's integrators: the error then
measures the limits, not the uncertainty. The reference model clips its own
inputs to the same limits and freezes its integrators while it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocontrol._validation import as_float_array, check_positive
from neurocontrol.controllers.generic import LQRIConfig, LQRIController, LQRIDesign, build_lqr_i
from neurocontrol.exceptions import ParameterError

__all__ = ["box_projection", "projected_step", "augmented_closed_loop", "state_scales", "lyapunov_matrix",
           "MRACController", "MRACConfig", "build_mrac"]


def box_projection(theta, update, bound: float) -> np.ndarray:
    """Return the box projection operator ``Proj(theta, update)``: the update without its outward components.

    A component is zeroed where ``theta`` is on or beyond the box's boundary and
    the update points further out; otherwise it is kept. For every ``theta*``
    in the box ``(theta - theta*) * (Proj(theta, y) - y) <= 0`` componentwise.

    Parameters
    ----------
    theta : array_like
        Current parameters.
    update : array_like, same shape
        The unprojected update (direction of change).
    bound : float
        The box is ``[-bound, bound]`` for every component.

    Returns
    -------
    numpy.ndarray
    """
    theta = as_float_array(theta, "theta", None)
    update = as_float_array(update, "update", theta.shape)
    bound = check_positive(bound, "bound")
    out = update.copy()
    out[((theta >= bound) & (update > 0)) | ((theta <= -bound) & (update < 0))] = 0.0
    return out


def projected_step(theta, update, bound: float) -> np.ndarray:
    """Return ``clip(theta + Proj(theta, update), -bound, bound)``: one discrete adaptation step inside the box.

    Parameters
    ----------
    theta : array_like
        Current parameters (within the box).
    update : array_like, same shape
        The unprojected step.
    bound : float
        Half-width of the box.
    """
    theta = as_float_array(theta, "theta", None)
    return np.clip(theta + box_projection(theta, update, bound), -bound, bound)


def augmented_closed_loop(design: LQRIDesign) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(A_m, B_a, A_a)``: the LQR-I loop on the nominal model in the augmented state ``[x; z]``.

    ``A_a = [[Ad, 0], [-dt Cc, I]]`` and ``B_a = [Bd; 0]`` (``z`` the integrals
    of the output errors), ``A_m = A_a - B_a [K, Ki]``.

    Parameters
    ----------
    design : LQRIDesign
        The baseline's design.
    """
    if not isinstance(design, LQRIDesign):
        raise ParameterError(f"`design` must be an LQRIDesign from design_lqr_i, got {type(design).__name__}.")
    n, m = design.Bd.shape
    p = design.Cc.shape[0]
    Aa = np.block([[design.Ad, np.zeros((n, p))], [-design.dt * design.Cc, np.eye(p)]])
    Ba = np.vstack([design.Bd, np.zeros((p, m))])
    return Aa - Ba @ np.hstack([design.K, design.Ki]), Ba, Aa


def _check_schur(Am) -> None:
    radius = float(np.max(np.abs(np.linalg.eigvals(Am))))
    if not radius < 1.0:
        raise ParameterError(f"the reference model is not stable (spectral radius {radius:.6g} >= 1); the baseline "
                             "design does not stabilise the nominal model.")


def state_scales(Am, Bn) -> np.ndarray:
    """Return a scale per state of the stable loop ``x[k+1] = Am x + Bn v``, ``v`` in input ranges.

    The larger of the steady-state response to a step of every input by one
    range (``|(I - Am)^-1 Bn|`` summed over the inputs) and the RMS response to
    white inputs of one range (square root of the controllability Gramian's
    diagonal); floored at ``1e-9`` of the largest scale.

    Parameters
    ----------
    Am : array_like, shape (n, n)
        Schur-stable state matrix.
    Bn : array_like, shape (n, m)
        Input matrix for inputs measured in their ranges.

    Raises
    ------
    ParameterError
        If ``Am`` is not Schur stable.
    """
    from scipy.linalg import solve_discrete_lyapunov  # scipy is slow to import; only designs need it

    Am = as_float_array(Am, "Am", (None, None))
    n = Am.shape[0]
    Bn = as_float_array(Bn, "Bn", (n, None))
    _check_schur(Am)
    step = np.abs(np.linalg.solve(np.eye(n) - Am, Bn)).sum(axis=1)
    gram = np.sqrt(np.maximum(np.diag(solve_discrete_lyapunov(Am, Bn @ Bn.T)), 0.0))
    s = np.maximum(step, gram)
    if not np.max(s) > 0:
        raise ParameterError("the inputs move no state of the reference model; nothing to adapt.")
    return np.maximum(s, 1e-9 * np.max(s))


def lyapunov_matrix(Am, Q) -> np.ndarray:
    """Return ``P`` solving the discrete Lyapunov equation ``Am^T P Am - P + Q = 0`` (symmetrised).

    Parameters
    ----------
    Am : array_like, shape (n, n)
        Schur-stable state matrix of the reference model.
    Q : array_like, shape (n, n)
        Symmetric positive definite weight.

    Raises
    ------
    ParameterError
        If ``Am`` is not Schur stable or ``Q`` is not symmetric positive definite.
    """
    from scipy.linalg import solve_discrete_lyapunov  # scipy is slow to import; only designs need it

    Am = as_float_array(Am, "Am", (None, None))
    n = Am.shape[0]
    Q = as_float_array(Q, "Q", (n, n))
    if not np.allclose(Q, Q.T) or np.min(np.linalg.eigvalsh(0.5 * (Q + Q.T))) <= 0:
        raise ParameterError("`Q` must be symmetric positive definite.")
    _check_schur(Am)
    P = solve_discrete_lyapunov(Am.T, Q)
    return 0.5 * (P + P.T)


class MRACController(LQRIController):
    """LQR-I baseline plus a model-reference adaptive input with box projection (see the module).

    Parameters
    ----------
    design : LQRIDesign
        The baseline's design (from :func:`~neurocontrol.controllers.generic.design_lqr_i`).
    input_limits : array_like, shape (m, 2)
        Actuator limits; their ranges are the input scales.
    output_indices : sequence of int
        Controlled outputs within the observation.
    adaptation_gain : float, default 1.0
        ``gamma``: normalised adaptation gain (scale-free; see the module).
    parameter_bound : float, default 1.0
        Half-width of the box of every adapted parameter, in input ranges per
        scaled regressor unit (1: the adaptive input may reach one input range
        per unit of the regressor).

    Examples
    --------
    >>> import control
    >>> from neurocontrol.controllers.generic import design_lqr_i
    >>> d = design_lqr_i(control.ss([[-1.0]], [[1.0]], [[1.0]], [[0.0]]), dt=0.1, Q=np.eye(2), R=[[0.1]],
    ...                  output_indices=[0])
    >>> ctrl = MRACController(d, input_limits=[[-5.0, 5.0]], output_indices=[0])
    >>> ctrl.reset([0.0], [1.0])
    >>> bool(ctrl.step([0.0], [1.0])[0] > 1.0)
    True
    """

    def __init__(self, design: LQRIDesign, *, input_limits, output_indices, adaptation_gain: float = 1.0,
                 parameter_bound: float = 1.0):
        super().__init__(design, input_limits=input_limits, output_indices=output_indices)
        self.adaptation_gain = check_positive(adaptation_gain, "adaptation_gain")
        self.parameter_bound = check_positive(parameter_bound, "parameter_bound")
        n, m = design.Bd.shape
        p = design.Cc.shape[0]
        self._span_u = self.input_limits[:, 1] - self.input_limits[:, 0]
        self.Am, self.Ba, _ = augmented_closed_loop(design)
        Bn = self.Ba * self._span_u
        #: scale of each augmented state [x; z]
        self.scales = state_scales(self.Am, Bn)
        #: P of the reference model's Lyapunov equation with Q = diag(1 / scales^2)
        self.P = lyapunov_matrix(self.Am, np.diag(1.0 / self.scales ** 2))
        PB = self.P @ Bn
        self._rho = float(np.linalg.norm(Bn.T @ PB, 2))
        self._PB = PB
        self._n, self._m, self._p = n, m, p
        self._n_phi = n + p + m + 1
        self._theta = np.zeros((self._n_phi, m))
        self._xm = np.zeros(n)
        self._zm = np.zeros(p)
        self._phi_prev = np.zeros(self._n_phi)
        self._adapt_next = False
        self._err = 0.0

    def _reset_impl(self, observation, reference, seed) -> None:
        super()._reset_impl(observation, reference, seed)
        self._theta = np.zeros((self._n_phi, self._m))
        self._xm = self._x_prior.copy()
        self._zm = np.zeros(self._p)
        self._phi_prev = np.zeros(self._n_phi)
        self._adapt_next = False
        self._err = 0.0

    def _step_impl(self, observation, reference) -> np.ndarray:
        d = self.design
        n = self._n
        u_bl = super()._step_impl(observation, reference)         # sets the estimate self._x_post
        xi = np.concatenate([self._x_post, self._z])
        e = xi - np.concatenate([self._xm, self._zm])
        self._err = float(np.sqrt(max(e @ self.P @ e, 0.0)))
        if self._adapt_next:
            phi = self._phi_prev
            with np.errstate(all="ignore"):       # a wild measurement can overflow the step: then no adaptation
                grad = -self.adaptation_gain * np.outer(phi, self._PB.T @ e) / (self._rho * (1.0 + phi @ phi))
            if np.all(np.isfinite(grad)):
                self._theta = projected_step(self._theta, grad, self.parameter_bound)
        phi = np.concatenate([xi / self.scales, (u_bl - d.u_trim) / self._span_u, [1.0]])
        u_ad = self._span_u * (self._theta.T @ phi)
        self._phi_prev = phi
        # the reference model: the baseline on the nominal model, its input clipped to the limits
        tgt = self._target @ (reference - self._yc_trim)
        dx_r, du_r = tgt[:n], tgt[n:]
        u_m = d.u_trim + du_r - d.K @ (self._xm - dx_r) - d.Ki @ self._zm
        u_mc = np.clip(u_m, self._lower, self._upper)
        x_next = d.Ad @ self._xm + d.Bd @ (u_mc - d.u_trim)
        if np.array_equal(u_m, u_mc):
            self._zm = self._zm + d.dt * (reference - self._yc_trim - d.Cc @ self._xm)
        self._xm = x_next
        self._proposal = u_bl + u_ad
        return self._proposal

    def _applied(self, u: np.ndarray) -> None:
        wanted = self._proposal if self._feedforward is None else self._proposal + self._feedforward
        self._adapt_next = bool(np.array_equal(u, wanted))
        super()._applied(u)

    @property
    def theta(self) -> np.ndarray:
        """The adapted parameters, shape (n + p + m + 1, m), a copy (scaled units, see the module)."""
        return self._theta.copy()

    def diagnostics(self) -> dict:
        """Return the tracking error ``sqrt(e^T P e)`` as ``prediction_error``, no inner iterations, mode "mrac"."""
        return {"prediction_error": self._err, "inner_iterations": 0, "mode": "mrac"}

    def get_state(self) -> dict:
        """Observer, integrators, reference model, parameters and the pending regressor, copies."""
        return {**super().get_state(), "theta": self._theta.copy(), "model_x": self._xm.copy(),
                "model_integral": self._zm.copy(), "phi": self._phi_prev.copy(), "adapt": self._adapt_next}

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict.

        Parameters
        ----------
        state : dict
            Keys ``x_prior``, ``integral``, ``theta``, ``model_x``, ``model_integral``, ``phi``, ``adapt``.
        """
        keys = {"x_prior", "integral", "theta", "model_x", "model_integral", "phi", "adapt"}
        if set(state) != keys:
            raise ParameterError(f"MRACController state must have keys {sorted(keys)}, got {sorted(state)}.")
        super().set_state({"x_prior": state["x_prior"], "integral": state["integral"]})
        self._theta = as_float_array(state["theta"], "theta", self._theta.shape).copy()
        self._xm = as_float_array(state["model_x"], "model_x", self._xm.shape).copy()
        self._zm = as_float_array(state["model_integral"], "model_integral", self._zm.shape).copy()
        self._phi_prev = as_float_array(state["phi"], "phi", self._phi_prev.shape).copy()
        self._adapt_next = bool(state["adapt"])


@dataclass(frozen=True, kw_only=True)
class MRACConfig(LQRIConfig):
    """``[controller] kind = "mrac"``: :class:`MRACController`, the LQR-I baseline with adaptive augmentation.

    The baseline's keys are those of ``lqr_i`` (:class:`~neurocontrol.controllers.generic.LQRIConfig`).

    Parameters
    ----------
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation.
    output_weight : float, default 1.0
        Baseline: weight of the controlled output deviations (relative to their ranges).
    integral_weight : float, default 0.01
        Baseline: weight of their integrals (per s^2).
    input_weight : float, default 1.0
        Baseline: weight of the input deviations (relative to their ranges).
    state_weight : float, default 1e-6
        Baseline: weight on every state deviation.
    measurement_noise : float, default 1e-3
        Observer: measurement-noise standard deviation relative to each observation's range.
    process_noise : float, default 0.01
        Observer: input-disturbance standard deviation relative to each input's range.
    design_setpoint : tuple of float, optional
        Controlled-output values of the design trim; default ``env.unwrapped.setpoint``.
    observer : {"always"}, optional
        Baseline: ``"always"`` runs the Kalman filter on every measurement (``lqr_i``'s key).
    adaptation_gain : float, default 1.0
        Normalised adaptation gain ``gamma`` (scale-free: an error one step of an input offset would cause moves
        the adaptive input by about ``gamma`` times that offset).
    parameter_bound : float, default 1.0
        Half-width of the projection box of every adapted parameter (input ranges per scaled regressor unit).
    """

    kind: ClassVar[str] = "mrac"
    adaptation_gain: float = 1.0
    parameter_bound: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.adaptation_gain, "adaptation_gain")
        check_positive(self.parameter_bound, "parameter_bound")


def build_mrac(config: MRACConfig, env) -> MRACController:
    """Design the LQR-I baseline for ``env`` (as :func:`~neurocontrol.controllers.generic.build_lqr_i`) and augment it.

    Parameters
    ----------
    config : MRACConfig
        The table.
    env : gymnasium.Env
        A plant whose unwrapped env has ``to_iosys()``, ``observation_names``,
        ``dt`` and a ``setpoint`` (see ``build_lqr_i``).

    Returns
    -------
    MRACController

    Raises
    ------
    ParameterError
        If the env has no python-control model, or the names do not match.
    TrimError
        If no trim holds the design set-point.
    """
    if not isinstance(config, MRACConfig):
        raise ParameterError(f"`config` must be an MRACConfig, got {type(config).__name__}.")
    base = build_lqr_i(config, env)
    return MRACController(base.design, input_limits=base.input_limits, output_indices=base.output_indices,
                          adaptation_gain=config.adaptation_gain, parameter_bound=config.parameter_bound)
