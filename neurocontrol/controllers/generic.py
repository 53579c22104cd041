"""Generic baselines for any plant with a python-control model: LQR with integral action and a Kalman observer.

The design functions take a python-control system or plain matrices, never a
plant name: :func:`design_lqr_i` linearises nothing itself (give it the
linearisation and its trim), :func:`lqr_i_gains` solves the discrete Riccati
equation of the plant augmented with the integrals of the output errors, and
:func:`~neurocontrol.controllers.observer.kalman_gain` (re-exported here) the steady-state filter gain for the
states that are not measured. :class:`LQRIController` runs the design (reference feedforward from
the linear model, integrators frozen while an input saturates). The scenario
kind ``[controller] kind = "lqr_i"`` (:class:`LQRIConfig`, :func:`build_lqr_i`)
designs it at the trim of ``env.unwrapped.to_iosys()`` for the env's set-point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from neurocontrol._validation import as_float_array, check_positive, env_input_limits, env_setpoint
from neurocontrol.controllers.base import AbstractController
from neurocontrol.controllers.observer import kalman_gain, noise_covariances
from neurocontrol.exceptions import NeurocontrolError, ParameterError, TrimError

__all__ = ["discretize_zoh", "lqr_i_gains", "kalman_gain", "noise_covariances", "design_lqr_i", "LQRIDesign",
           "LQRIController", "LQRIConfig", "build_lqr_i", "Trim", "trim_linearisation", "automatic_warmup",
           "model_trim", "gain_sign_steps", "slowest_time_constant_steps", "has_model", "declared_input"]


def discretize_zoh(A, B, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the zero-order-hold discretisation ``(Ad, Bd)`` of ``dx/dt = A x + B u`` at period ``dt``.

    Parameters
    ----------
    A : array_like, shape (n, n)
        Continuous state matrix.
    B : array_like, shape (n, m)
        Continuous input matrix.
    dt : float
        Sampling period, s.

    Notes
    -----
    ``expm([[A, B], [0, 0]] dt) = [[Ad, Bd], [0, I]]``.
    """
    from scipy.linalg import expm

    A = as_float_array(A, "A", (None, None))
    n = A.shape[0]
    B = as_float_array(B, "B", (n, None))
    dt = check_positive(dt, "dt", unit="s")
    m = B.shape[1]
    block = np.zeros((n + m, n + m))
    block[:n, :n] = A
    block[:n, n:] = B
    e = expm(block * dt)
    return e[:n, :n], e[:n, n:]


def lqr_i_gains(Ad, Bd, Cc, dt: float, Q, R) -> tuple[np.ndarray, np.ndarray]:
    """Return the LQR gains ``(K, Ki)`` of a discrete plant augmented with the integrals of its output errors.

    Augmented model: ``x[k+1] = Ad x[k] + Bd u[k]``, ``z[k+1] = z[k] - dt Cc x[k]``
    (the integral of ``r - y`` for ``r = 0``); the law is ``u = -K x - Ki z``.

    Parameters
    ----------
    Ad : array_like, shape (n, n)
        Discrete state matrix.
    Bd : array_like, shape (n, m)
        Discrete input matrix.
    Cc : array_like, shape (p, n)
        The controlled outputs.
    dt : float
        Sampling period, s (the integrators' step).
    Q : array_like, shape (n + p, n + p)
        Weight on the augmented state ``[x; z]``.
    R : array_like, shape (m, m)
        Input weight (positive definite).

    Returns
    -------
    K : numpy.ndarray, shape (m, n)
    Ki : numpy.ndarray, shape (m, p)

    Raises
    ------
    ParameterError
        If the shapes disagree or the Riccati equation has no stabilising solution
        (e.g. a transmission zero at s = 0, which integral action cannot pass).
    """
    from scipy.linalg import solve_discrete_are

    Ad = as_float_array(Ad, "Ad", (None, None))
    n = Ad.shape[0]
    Bd = as_float_array(Bd, "Bd", (n, None))
    m = Bd.shape[1]
    Cc = as_float_array(Cc, "Cc", (None, n))
    p = Cc.shape[0]
    Q = as_float_array(Q, "Q", (n + p, n + p))
    R = as_float_array(R, "R", (m, m))
    dt = check_positive(dt, "dt", unit="s")
    Aa = np.block([[Ad, np.zeros((n, p))], [-dt * Cc, np.eye(p)]])
    Ba = np.vstack([Bd, np.zeros((p, m))])
    try:
        P = solve_discrete_are(Aa, Ba, Q, R)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ParameterError(f"the LQR-I Riccati equation has no stabilising solution ({exc}); check that the "
                             "plant is stabilisable and has no transmission zero at s = 0, and that Q >= 0, "
                             "R > 0.") from None
    G = np.linalg.solve(R + Ba.T @ P @ Ba, Ba.T @ P @ Aa)
    return G[:, :n], G[:, n:]


class LQRIDesign(NamedTuple):
    """A designed LQR-I controller: discrete model, gains, observer gain and trim (deviation variables)."""

    Ad: np.ndarray
    Bd: np.ndarray
    C: np.ndarray           # measured outputs (q, n)
    Cc: np.ndarray          # controlled outputs (p, n), rows of C
    K: np.ndarray
    Ki: np.ndarray
    M: np.ndarray | None    # Kalman gain (n, q); None when C is square and invertible (states measured)
    x_trim: np.ndarray
    u_trim: np.ndarray
    y_trim: np.ndarray      # measured outputs at the trim (q,)
    dt: float


def _matrices(plant, dt):
    import control

    if isinstance(plant, control.StateSpace):
        A, B, C, D = (np.asarray(M, dtype=np.float64) for M in (plant.A, plant.B, plant.C, plant.D))
        discrete = plant.isdtime(strict=True)
        if discrete and plant.dt is not True and not np.isclose(float(plant.dt), dt):
            raise ParameterError(f"`plant` is discrete with period {plant.dt} s but `dt` is {dt} s; resample it "
                                 "or pass the continuous system.")
    else:
        try:
            A, B, C, D = (np.asarray(M, dtype=np.float64) for M in plant)
        except (TypeError, ValueError):
            raise ParameterError("`plant` must be a control.StateSpace or a tuple (A, B, C, D) of a continuous "
                                 f"system, got {type(plant).__name__}.") from None
        discrete = False
    if np.any(D != 0):
        raise ParameterError("`plant` must have no direct feedthrough (D = 0) for LQR-I with an observer.")
    if discrete:
        return A, B, C
    Ad, Bd = discretize_zoh(A, B, dt)
    return Ad, Bd, C


def design_lqr_i(plant, *, dt: float, Q, R, output_indices, W=None, V=None, x_trim=None, u_trim=None,
                 y_trim=None, observer: bool = False) -> LQRIDesign:
    """Design an LQR with integral action (and a Kalman filter if the measurements do not give the state).

    Parameters
    ----------
    plant : control.StateSpace or (A, B, C, D)
        The linearisation at the trim in deviation variables; its outputs are
        the measurements. A continuous system is discretised with a zero-order
        hold at ``dt``.
    dt : float
        Control period, s.
    Q : array_like, shape (n + p, n + p)
        Weight on ``[x; z]`` (state deviations; integrals of the ``p`` controlled output errors).
    R : array_like, shape (m, m)
        Input weight.
    output_indices : sequence of int
        The controlled outputs among the plant's outputs (``p`` of them).
    W : array_like, shape (n, n), optional
        Process-noise covariance of the observer; default ``Bd Bd^T + 1e-9 I``.
    V : array_like, shape (q, q), optional
        Measurement-noise covariance; default ``1e-4 I``.
    x_trim, u_trim, y_trim : array_like, optional
        The trim the deviations are taken from (default zeros).
    observer : bool, default False
        Design the Kalman filter even where the measurements give the state
        (``C`` square and invertible), to filter noisy measurements through the
        model instead of inverting ``C``.

    Returns
    -------
    LQRIDesign

    Raises
    ------
    ParameterError
        On inconsistent shapes, output indices out of range, or a Riccati
        equation without a solution.
    """
    dt = check_positive(dt, "dt", unit="s")
    Ad, Bd, C = _matrices(plant, dt)
    n, m, q = Ad.shape[0], Bd.shape[1], C.shape[0]
    idx = [int(i) for i in output_indices]
    if not idx or any(not 0 <= i < q for i in idx):
        raise ParameterError(f"`output_indices` must index the plant's {q} outputs, got {idx}.")
    Cc = C[idx]
    K, Ki = lqr_i_gains(Ad, Bd, Cc, dt, Q, R)
    M = None
    if observer or not (q == n and np.linalg.matrix_rank(C) == n):
        W = Bd @ Bd.T + 1e-9 * np.eye(n) if W is None else W
        V = 1e-4 * np.eye(q) if V is None else V
        M = kalman_gain(Ad, C, W, V)
    xt = np.zeros(n) if x_trim is None else as_float_array(x_trim, "x_trim", (n,))
    ut = np.zeros(m) if u_trim is None else as_float_array(u_trim, "u_trim", (m,))
    yt = np.zeros(q) if y_trim is None else as_float_array(y_trim, "y_trim", (q,))
    return LQRIDesign(Ad, Bd, C, Cc, K, Ki, M, xt, ut, yt, dt)


class Trim(NamedTuple):
    """The trim of an env's python-control model for a set-point, and the linearisation there."""

    sys: object                  # the control.NonlinearIOSystem
    obs_idx: list                # the observations' indices among the system's outputs
    output_indices: list         # the controlled outputs within the observation
    states: np.ndarray           # trim state
    inputs: np.ndarray           # trim input
    lin: object                  # control.StateSpace, the linearisation at (states, inputs), all outputs

    @property
    def discrete(self) -> bool:
        """Whether the model is a discrete-time system (its linearisation then maps x(k) to x(k+1))."""
        return bool(self.lin.isdtime(strict=True))

    def sampled(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(Ad, Bd)``, the linearisation over a control period ``dt`` (zero-order hold).

        A discrete-time model's is returned as it is.

        Parameters
        ----------
        dt : float
            Control period, s.
        """
        A, B = np.asarray(self.lin.A, dtype=np.float64), np.asarray(self.lin.B, dtype=np.float64)
        return (A, B) if self.discrete else discretize_zoh(A, B, dt)

    def require_continuous(self, what: str) -> None:
        """Raise a :class:`~neurocontrol.exceptions.ParameterError` when the model is discrete-time.

        Parameters
        ----------
        what : str
            What needs a continuous-time model, for the message.
        """
        if self.discrete:
            raise ParameterError(f"{what} needs a continuous-time model, and {self.sys.name} is a discrete-time "
                                 "system; choose 'lqr_i', or 'pid_gains' with gains.")

    def measured(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(C, y_trim)``: the linearisation's output matrix and the trim's outputs, rows the observations."""
        C = np.asarray(self.lin.C, dtype=np.float64)[self.obs_idx]
        y = np.asarray(self.sys.output(0.0, self.states, self.inputs, params=self.sys.params), float)[self.obs_idx]
        return C, y

    def controlled_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(C, D)`` of the linearisation restricted to the controlled outputs' rows."""
        rows = [self.obs_idx[i] for i in self.output_indices]
        return np.asarray(self.lin.C, dtype=np.float64)[rows], np.asarray(self.lin.D, dtype=np.float64)[rows]

    def steady_gain(self) -> np.ndarray:
        """Return the steady-state gain from the inputs to the controlled outputs, shape (p, m), of a stable trim.

        ``D - C A^-1 B`` in continuous time, ``D + C (I - A)^-1 B`` in discrete time (the linearisation's matrices,
        the controlled outputs' rows); the caller checks :meth:`stable` first.
        """
        A, B = np.asarray(self.lin.A, dtype=np.float64), np.asarray(self.lin.B, dtype=np.float64)
        C, D = self.controlled_rows()
        if self.discrete:                   # the held steps' steady state
            return D + C @ np.linalg.solve(np.eye(A.shape[0]) - A, B)
        return D - C @ np.linalg.solve(A, B)

    def stable(self) -> bool:
        """Whether the linearisation is asymptotically stable.

        Every eigenvalue's real part below -1e-9, or in discrete time its modulus below 1 - 1e-9.
        """
        lam = np.linalg.eigvals(np.asarray(self.lin.A, dtype=np.float64))
        return bool(np.max(np.abs(lam)) < 1.0 - 1e-9) if self.discrete else bool(np.max(lam.real) < -1e-9)


def trim_linearisation(env, output_indices, design_setpoint=None, *, who: str = "lqr_i") -> Trim:
    """Find the trim of ``env.unwrapped``'s python-control model that holds a set-point, and linearise there.

    Parameters
    ----------
    env : gymnasium.Env
        A plant whose unwrapped env has ``to_iosys()`` (or a ``sys`` attribute),
        ``observation_names`` among the system's outputs, a ``setpoint`` (or
        ``design_setpoint``) and optionally ``operating_point`` (x, u), the
        trim search's start. With more inputs than controlled outputs the
        inputs beyond the first ``p`` are held (at the declared operating input,
        else the middle of their limits), so the trim is unique. A discrete-time
        model's trim is a fixed point ``x = f(x, u)``.
    output_indices : sequence of int
        The controlled outputs within the observation.
    design_setpoint : sequence of float, optional
        Their values at the trim; default ``env.unwrapped.setpoint``.
    who : str, default "lqr_i"
        The controller kind asking, for the error messages.

    Returns
    -------
    Trim

    Raises
    ------
    ParameterError
        If the env has no python-control model, the names or indices do not match, or there are fewer inputs than
        controlled outputs.
    TrimError
        If no trim holds the set-point.
    """
    import control

    base = env.unwrapped
    sys = getattr(base, "sys", None)
    if sys is None and callable(getattr(base, "to_iosys", None)):
        sys = base.to_iosys()
    if not isinstance(sys, control.NonlinearIOSystem):
        raise ParameterError(f"the {who!r} baseline needs the plant's python-control model: "
                             f"{type(base).__name__} has no `sys` nor `to_iosys()`; choose another controller kind.")
    obs_names = tuple(getattr(base, "observation_names", ()))
    missing = [nm for nm in obs_names if nm not in sys.output_labels]
    if not obs_names or missing:
        raise ParameterError(f"the env's observation_names {list(obs_names)} must be outputs of its python-control "
                             f"model {sys.output_labels}.")
    obs_idx = [sys.output_labels.index(nm) for nm in obs_names]
    idx = [int(i) for i in output_indices]
    if any(not 0 <= i < len(obs_names) for i in idx):
        raise ParameterError(f"`output_indices` {idx} must index the {len(obs_names)} observations.")
    sp = design_setpoint if design_setpoint is not None else env_setpoint(env, idx)
    if sp is None:
        plural = "s" * (len(idx) != 1)
        raise ParameterError(f"the {who!r} baseline is designed at a trim that holds a set-point of the controlled "
                             f"outputs {idx}, and {type(base).__name__} declares none (a `setpoint` of one value per "
                             f"controlled output or per observation): give `design_setpoint` ({len(idx)} value{plural},"
                             f" e.g. the reference's final values) or the env a `setpoint`.")
    sp = as_float_array(sp, "design_setpoint", (len(idx),))
    m = sys.ninputs
    if len(idx) > m:
        raise ParameterError(f"the {who!r} baseline holds {len(idx)} controlled outputs at a set-point with "
                             f"{m} input{'s' * (m != 1)}: a trim needs at least as many inputs as controlled outputs; "
                             "control fewer outputs (`output_indices`).")
    x0, u0 = _declared_operating_point(base, sys)
    held = list(range(len(idx), m))      # more inputs than outputs: the last ones held, the trim unique
    if held and _operating_point_pair(base) is None:
        lim = env_input_limits(env)
        u0[held] = np.where(np.all(np.isfinite(lim[held]), axis=1), lim[held].mean(axis=1), u0[held])
    iy = [obs_idx[i] for i in idx]
    y0 = np.asarray(sys.output(0.0, x0, u0, params=sys.params), float).copy()
    y0[iy] = sp
    try:
        op = control.find_operating_point(sys, initial_state=x0, inputs=u0, outputs=y0, output_indices=iy,
                                          input_indices=held or None, params=sys.params, return_result=True)
    except (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError) as exc:
        raise TrimError(f"the trim search of {sys.name} for the design set-point {sp.tolist()} failed: {exc}; give "
                        "another `design_setpoint`.") from exc
    # judged by its residuals, not by the root finder's flag: started where the residuals are already ~0, MINPACK
    # may report "not making good progress" on an exact trim
    xs, us = np.asarray(op.states, dtype=np.float64), np.asarray(op.inputs, dtype=np.float64)
    drift = np.asarray(sys.updfcn(0.0, xs, us, sys.params), dtype=np.float64) - (xs if sys.isdtime(strict=True) else 0)
    miss = np.asarray(sys.output(0.0, xs, us, params=sys.params), dtype=np.float64)[iy] - sp
    at_rest = np.max(np.abs(drift)) <= 1e-6 * (1 + np.max(np.abs(xs)))        # False when NaN
    met = np.max(np.abs(miss)) <= 1e-6 * (1 + np.max(np.abs(sp)))
    if not (at_rest and met):
        raise TrimError(f"no trim of {sys.name} holds the design set-point {sp.tolist()}: {op.result.message}; "
                        "give another `design_setpoint`.")
    lin = sys.linearize(op.states, op.inputs, params=sys.params)
    return Trim(sys, obs_idx, idx, np.asarray(op.states, float), np.asarray(op.inputs, float), lin)


class LQRIController(AbstractController):
    """LQR with integral action on the controlled outputs, Kalman filter for unmeasured states.

    ``u = u_trim + du_r - K (x_hat - dx_r) - Ki z`` with ``(dx_r, du_r)`` the
    linear model's steady state for the reference and ``z`` the integral of
    the controlled output errors, which stops integrating while the applied
    input differs from the proposal (saturation: no wind-up).

    Parameters
    ----------
    design : LQRIDesign
        From :func:`design_lqr_i`; its measured outputs are the observation entries.
    input_limits : array_like, shape (m, 2)
        Actuator limits.
    output_indices : sequence of int
        Controlled outputs within the observation (the rows of ``design.Cc``).

    Examples
    --------
    >>> import control
    >>> sys = control.ss([[-1.0]], [[1.0]], [[1.0]], [[0.0]])
    >>> d = design_lqr_i(sys, dt=0.1, Q=np.diag([1.0, 1.0]), R=[[0.1]], output_indices=[0])
    >>> ctrl = LQRIController(d, input_limits=[[-5.0, 5.0]], output_indices=[0])
    >>> ctrl.reset([0.0], [1.0])
    >>> bool(ctrl.step([0.0], [1.0])[0] > 1.0)
    True
    """

    def __init__(self, design: LQRIDesign, *, input_limits, output_indices):
        if not isinstance(design, LQRIDesign):
            raise ParameterError(f"`design` must be an LQRIDesign from design_lqr_i, got {type(design).__name__}.")
        super().__init__(input_limits=input_limits, output_indices=output_indices, dt=design.dt)
        n, m = design.Bd.shape
        q, p = design.C.shape[0], design.Cc.shape[0]
        if self.n_inputs != m or len(self.output_indices) != p:
            raise ParameterError(f"the design has {m} inputs and {p} controlled outputs; got input_limits for "
                                 f"{self.n_inputs} and {len(self.output_indices)} output_indices.")
        self.design = design
        self._n_obs = q
        # steady state of the linear model for a controlled-output offset rc: [[Ad - I, Bd], [Cc, 0]] [dx; du] = [0; rc]
        lhs = np.block([[design.Ad - np.eye(n), design.Bd], [design.Cc, np.zeros((p, m))]])
        rhs = np.vstack([np.zeros((n, p)), np.eye(p)])
        self._target = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        self._Cinv = np.linalg.inv(design.C) if design.M is None else None
        self._yc_trim = design.y_trim[list(self.output_indices)]
        self._x_prior = np.zeros(n)
        self._x_post = np.zeros(n)
        self._z = np.zeros(p)
        self._z_next = np.zeros(p)
        self._proposal = np.zeros(m)

    def _estimate(self, obs: np.ndarray) -> np.ndarray:
        dy = obs - self.design.y_trim
        if self._Cinv is not None:
            return self._Cinv @ dy
        return self._x_prior + self.design.M @ (dy - self.design.C @ self._x_prior)

    def _reset_impl(self, observation, reference, seed) -> None:
        d = self.design
        dy = observation - d.y_trim
        # start the estimate at the least-squares state of the first measurement
        self._x_prior = np.linalg.lstsq(d.C, dy, rcond=None)[0] if self._Cinv is None else self._Cinv @ dy
        self._x_post = self._x_prior.copy()
        self._z = np.zeros(len(self.output_indices))
        self._z_next = self._z.copy()

    def _step_impl(self, observation, reference) -> np.ndarray:
        d = self.design
        n = d.Ad.shape[0]
        self._x_post = self._estimate(observation)
        tgt = self._target @ (reference - self._yc_trim)
        dx_r, du_r = tgt[:n], tgt[n:]
        u = d.u_trim + du_r - d.K @ (self._x_post - dx_r) - d.Ki @ self._z
        self._z_next = self._z + d.dt * (reference - observation[list(self.output_indices)])
        self._proposal = u
        return u

    def _applied(self, u: np.ndarray) -> None:
        d = self.design
        wanted = self._proposal if self._feedforward is None else self._proposal + self._feedforward
        if np.array_equal(u, wanted):
            self._z = self._z_next
        self._x_prior = d.Ad @ self._x_post + d.Bd @ (u - d.u_trim)

    def get_state(self) -> dict:
        """Observer estimate and integrators, copies (see :meth:`AbstractController.get_state`)."""
        return {"x_prior": self._x_prior.copy(), "integral": self._z.copy()}

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict.

        Parameters
        ----------
        state : dict
            Keys ``x_prior`` and ``integral``.
        """
        if set(state) != {"x_prior", "integral"}:
            raise ParameterError(f"LQRIController state must have keys ['integral', 'x_prior'], got {sorted(state)}.")
        self._x_prior = as_float_array(state["x_prior"], "x_prior", self._x_prior.shape).copy()
        self._z = as_float_array(state["integral"], "integral", self._z.shape).copy()


@dataclass(frozen=True, kw_only=True)
class LQRIConfig:
    """``[controller] kind = "lqr_i"``: :class:`LQRIController` designed at the trim of the python-control model.

    Weights are relative to the plant's declared ranges (Bryson's rule): an
    output weight ``w`` means ``w / span^2`` with ``span`` the width of the
    output's observation range, likewise for the inputs' action ranges.

    Parameters
    ----------
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation.
    output_weight : float, default 1.0
        Weight of the controlled output deviations.
    integral_weight : float, default 0.01
        Weight of their integrals (per s^2).
    input_weight : float, default 1.0
        Weight of the input deviations.
    state_weight : float, default 1e-6
        Weight on every state deviation (keeps unobserved modes damped).
    measurement_noise : float, default 1e-3
        Measurement-noise standard deviation of the observer, relative to each observation's range.
    process_noise : float, default 0.01
        Input-disturbance standard deviation of the observer, relative to each input's range.
    design_setpoint : tuple of float, optional
        Controlled-output values of the design trim; default ``env.unwrapped.setpoint``.
    observer : {"always"}, optional
        ``"always"``: a steady-state Kalman filter on every plant, which filters
        sensor noise through the model (set ``measurement_noise`` to the
        sensors' noise). Default: the filter only where the measurements do not
        give the state, else the measurements are the state (docs/plants.md,
        "LQR-I under sensor noise: a Kalman filter on every measurement").
    """

    kind: ClassVar[str] = "lqr_i"
    output_indices: tuple[int, ...] = (0, 1)
    output_weight: float = 1.0
    integral_weight: float = 0.01
    input_weight: float = 1.0
    state_weight: float = 1e-6
    measurement_noise: float = 1e-3
    process_noise: float = 0.01
    design_setpoint: tuple[float, ...] | None = None
    observer: str | None = None

    def __post_init__(self):
        for name in ("output_weight", "integral_weight", "input_weight", "measurement_noise", "process_noise"):
            check_positive(getattr(self, name), name)
        check_positive(self.state_weight, "state_weight", allow_zero=True)
        if self.observer is not None and self.observer != "always":
            raise ParameterError(f"`observer` must be \"always\" (a Kalman filter on every measurement) or left out "
                                 f"(the measurements give the state where they can), got {self.observer!r}.")


def build_lqr_i(config: LQRIConfig, env) -> LQRIController:
    """Design the LQR-I baseline for ``env`` at the trim of ``env.unwrapped.to_iosys()`` and return it.

    Parameters
    ----------
    config : LQRIConfig
        The table.
    env : gymnasium.Env
        A plant whose unwrapped env has ``to_iosys()`` (its ``sys`` attribute, or
        a method), ``observation_names`` among the system's outputs, ``dt``, a
        ``setpoint`` (or ``config.design_setpoint``) and optionally
        ``operating_point`` (x, u) as the trim search's start.

    Returns
    -------
    LQRIController

    Raises
    ------
    ParameterError
        If the env has no python-control model or the names do not match.
    TrimError
        If no trim holds the design set-point.
    """
    import control

    base = env.unwrapped
    tr = trim_linearisation(env, config.output_indices, config.design_setpoint, who="lqr_i")
    sys, obs_idx, lin, idx = tr.sys, tr.obs_idx, tr.lin, tr.output_indices
    lim = env_input_limits(env)
    dt = float(base.dt)
    n, m = sys.nstates, sys.ninputs
    C, y_trim = tr.measured()
    span_y = np.asarray(env.observation_space.high, float) - np.asarray(env.observation_space.low, float)
    span_u = lim[:, 1] - lim[:, 0]
    Cc = C[idx]
    qy = config.output_weight / span_y[idx] ** 2
    Qx = Cc.T @ np.diag(qy) @ Cc + config.state_weight * np.eye(n)
    Q = np.block([[Qx, np.zeros((n, len(idx)))],
                  [np.zeros((len(idx), n)), np.diag(config.integral_weight / span_y[idx] ** 2)]])
    R = np.diag(config.input_weight / span_u ** 2)
    Ad, Bd = tr.sampled(dt)
    W, V = noise_covariances(Bd, span_u, span_y, config.process_noise, config.measurement_noise)
    D0 = np.zeros((len(obs_idx), m))
    plant = control.ss(Ad, Bd, C, D0, dt) if tr.discrete else (lin.A, lin.B, C, D0)
    design = design_lqr_i(plant, dt=dt, Q=Q, R=R, output_indices=idx, W=W, V=V, x_trim=tr.states, u_trim=tr.inputs,
                          y_trim=y_trim, observer=config.observer == "always")
    return LQRIController(design, input_limits=lim, output_indices=idx)


def has_model(env) -> bool:
    """Whether the env's unwrapped plant has a python-control model (a ``sys`` attribute or ``to_iosys()``).

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
    """
    base = env.unwrapped
    return getattr(base, "sys", None) is not None or callable(getattr(base, "to_iosys", None))


def model_trim(env, output_indices, who: str = "neural") -> Trim | None:
    """Return the trim of the env's python-control model that holds its set-point, or None (no model, no trim).

    Parameters
    ----------
    env : gymnasium.Env
        The plant (see :func:`trim_linearisation`).
    output_indices : sequence of int
        The controlled outputs within the observation.
    who : str, default "neural"
        The controller kind asking, for the error messages of the search.
    """
    if not has_model(env):
        return None
    try:
        return trim_linearisation(env, output_indices, who=who)
    except NeurocontrolError:
        return None


def gain_sign_steps(trim: Trim, dt: float, max_steps: int = 5000) -> int | None:
    """Control steps after which the step-response gains keep the sign of their steady-state determinant.

    ``G(k)`` is the controlled outputs ``k`` periods after a held unit step of every input (the trim's
    linearisation, zero-order hold). With a right-half-plane transmission zero, ``det G(k)`` can have the
    sign opposite to ``det G(inf)`` for short ``k`` (the quadruple tank at P+: up to about 90 s); a
    predictive law whose horizon ends earlier asks for moves of the wrong sign in that direction.

    Parameters
    ----------
    trim : Trim
        From :func:`trim_linearisation` or :func:`model_trim`.
    dt : float
        Control period, s.
    max_steps : int, default 5000
        Longest step response computed.

    Returns
    -------
    int or None
        The first ``k`` from which ``det G(k)`` has the steady-state sign up to ``max_steps`` (0: from the
        start); None when there is no steady state to compare with: inputs and controlled outputs not as
        many, an eigenvalue with real part >= 0, or a (near) singular steady-state gain.
    """
    Ad, Bd = trim.sampled(dt)
    C, D = trim.controlled_rows()
    if C.shape[0] != Bd.shape[1] or not trim.stable():
        return None
    g_inf = trim.steady_gain()
    det_inf = np.linalg.det(g_inf)
    if abs(det_inf) <= 1e-9 * max(1.0, np.linalg.norm(g_inf) ** g_inf.shape[0]):
        return None
    x = np.zeros_like(Bd)
    last_wrong = -1
    for k in range(1, max_steps + 1):
        x = Ad @ x + Bd
        g = C @ x + D
        if np.linalg.det(g) * det_inf <= 0.0:
            last_wrong = k
        elif np.linalg.norm(g - g_inf) <= 1e-9 * np.linalg.norm(g_inf):
            break                           # settled at the steady state: the sign cannot change again
    return last_wrong + 1


def slowest_time_constant_steps(trim: Trim, dt: float) -> float | None:
    """Control steps of the slowest mode of a stable model's sampled linearisation: ``-1 / ln(max |eig(Ad)|)``.

    Parameters
    ----------
    trim : Trim
        From :func:`trim_linearisation` or :func:`model_trim`.
    dt : float
        Control period, s.

    Returns
    -------
    float or None
        None when the linearisation is not asymptotically stable (no slowest time constant).
    """
    if not trim.stable():
        return None
    rho = float(np.max(np.abs(np.linalg.eigvals(trim.sampled(dt)[0]))))
    return -1.0 / math.log(rho) if rho > 0.0 else 0.0


def automatic_warmup(env, output_indices, output_weight: float = 1.0, trim: Trim | None = None):
    """LQR-I on the env's python-control model if its linearisation at the trim is not asymptotically stable.

    Parameters
    ----------
    env : gymnasium.Env
        The plant; its unwrapped env may have ``to_iosys()`` or ``sys`` (see
        :func:`~neurocontrol.controllers.generic.trim_linearisation`).
    output_indices : sequence of int
        The controlled outputs within the observation.
    output_weight : float, default 1.0
        The LQR-I's output weight relative to the declared ranges (:class:`LQRIConfig`).
    trim : Trim, optional
        The model's trim when already found (:func:`model_trim`); default: searched here.

    Returns
    -------
    LQRIController or None
        None when the env has no python-control model, no trim holds its
        set-point, or the linearisation's eigenvalues all have negative real
        parts (a stable plant starts on the nominal input).
    """
    trim = model_trim(env, output_indices, who="neural (automatic warm-up)") if trim is None else trim
    if trim is None:
        return None
    if trim.stable():
        return None
    return build_lqr_i(LQRIConfig(output_indices=tuple(output_indices), output_weight=output_weight), env)


def _operating_point_pair(base) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the env's ``operating_point`` ``(x, u)`` as float arrays, or None when it declares none."""
    point = getattr(base, "operating_point", None)
    if point is None:
        return None
    try:
        x0, u0 = point
        return np.asarray(x0, dtype=float), np.asarray(u0, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"the env's `operating_point` must be a pair (x, u) of arrays of numbers, "
                             f"got {point!r}.") from exc


def _declared_operating_point(base, sys) -> tuple[np.ndarray, np.ndarray]:
    """Return the env's ``operating_point`` ``(x, u)`` as arrays of the model's sizes (zeros when it has none)."""
    pair = _operating_point_pair(base)
    if pair is None:
        return np.zeros(sys.nstates), np.zeros(sys.ninputs)
    x0, u0 = pair
    if x0.shape != (sys.nstates,) or u0.shape != (sys.ninputs,) or not (np.all(np.isfinite(x0))
                                                                     and np.all(np.isfinite(u0))):
        raise ParameterError(f"the env's `operating_point` (x, u) must hold {sys.nstates} and {sys.ninputs} finite "
                             f"numbers (the model's states and inputs), got shapes {x0.shape} and {u0.shape}.")
    return x0, u0


def declared_input(env, limits) -> np.ndarray | None:
    """Return the input of the env's declared ``operating_point`` ``(x, u)``, or None when it declares none.

    The shipped plants without a warm-up controller start at the steady state of that input; the neural
    controller takes such a plant over from it (a bumpless start) rather than from the middle of the limits.

    Parameters
    ----------
    env : gymnasium.Env
        The plant (``env.unwrapped.operating_point`` is read; nothing else).
    limits : array_like, shape (m, 2)
        The input limits (the action space's).

    Raises
    ------
    ParameterError
        When ``operating_point`` is not a pair, or its ``u`` is not ``m`` finite numbers within ``limits``.
    """
    pair = _operating_point_pair(env.unwrapped)
    if pair is None:
        return None
    u, lim = pair[1], np.asarray(limits, dtype=float)
    if u.shape != (lim.shape[0],) or not np.all(np.isfinite(u)) or np.any(u < lim[:, 0]) or np.any(u > lim[:, 1]):
        raise ParameterError(f"the input of the env's `operating_point` must be {lim.shape[0]} finite numbers within "
                             f"the input limits {lim.tolist()}, got {u.tolist()}; fix the env's `operating_point` or "
                             "give the controller's `nominal_input`.")
    return u
