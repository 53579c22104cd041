"""Pure dynamics of the twin-rotor MIMO system: rhs, output, the trim of a held attitude, the python-control system.

The one physics source of the plant: :func:`rhs` and :func:`output` follow
python-control's argument order ``(t, x, u, params)``; the env integrates
:func:`rhs` with RK4 and :func:`to_iosys` wraps both as a ``control.nlsys``.
The state is the source's (Chaudhary & Kumar 2019, eq. 6): the cross reaction
moment ``M_R`` is a state, driven by ``tau1`` and its rate.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import check_real
from neurocontrol.exceptions import TrimError
from plants._params import ParamsResolver
from plants.twin_rotor.params import INPUT_NAMES, OUTPUT_NAMES, STATE_NAMES, VOLTAGE_LIMIT, TwinRotorParams

__all__ = ["rhs", "output", "trim", "resolve_params", "to_iosys"]


#: ``resolve_params(params=None)``: None, a :class:`TwinRotorParams` or a dict of field overrides -> TwinRotorParams.
resolve_params = ParamsResolver(TwinRotorParams)


def _sign(v: float, eps: float) -> float:
    """``sgn(v)`` regularised as ``v |v| / (v^2 + eps^2)``: -> sgn(v) for ``|v| >> eps``, zero slope at ``v = 0``.

    The zero slope keeps the source's linearisation at rest, which leaves the
    Coulomb terms out, and makes the rhs smooth for RK4 and finite differences.
    """
    return v * abs(v) / (v * v + eps * eps)


def rhs(t, x, u, params=None) -> np.ndarray:
    """State derivative of the twin-rotor system (python-control ``updfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused: the plant is time invariant).
    x : array_like, shape (7,)
        State: pitch rad, pitch rate rad/s, yaw rad, yaw rate rad/s, cross
        reaction moment N m, rotor momenta tau1, tau2.
    u : array_like, shape (2,)
        Main and tail motor voltages, V (not clipped here: the env's action box does that).
    params : TwinRotorParams or dict or None, optional
        Plant parameters (default: the published ones).

    Returns
    -------
    numpy.ndarray, shape (7,)

    Notes
    -----
    Chaudhary & Kumar (2019), eqs. (1)-(4), with the lead-lag ``M_R`` realised
    as ``Tp dM_R/dt = kc (tau1 + T0 dtau1/dt) - M_R`` (the source's eq. 6
    state) and ``sgn`` regularised by :func:`_sign`.
    """
    p = resolve_params(params)
    psi, dpsi, _, dphi, m_r, tau1, tau2 = (float(v) for v in np.asarray(x, dtype=np.float64).reshape(7))
    u1, u2 = (float(v) for v in np.asarray(u, dtype=np.float64).reshape(2))
    dtau1 = (p.k1 * u1 - p.T10 * tau1) / p.T11
    dtau2 = (p.k2 * u2 - p.T20 * tau2) / p.T21
    m1 = p.a1 * tau1 * tau1 + p.b1 * tau1
    m2 = p.a2 * tau2 * tau2 + p.b2 * tau2
    friction_psi = p.B1psi * dpsi + p.B2psi * _sign(dpsi, p.coulomb_velocity)
    friction_phi = p.B1phi * dphi + p.B2phi * _sign(dphi, p.coulomb_velocity)
    gyro = p.kgy * m1 * dphi * math.cos(psi)
    ddpsi = (m1 - p.Mg * math.sin(psi) - friction_psi - gyro) / p.I1
    ddphi = (m2 - friction_phi - m_r) / p.I2
    dm_r = (p.kc * (tau1 + p.T0 * dtau1) - m_r) / p.Tp
    return np.array([dpsi, ddpsi, dphi, ddphi, dm_r, dtau1, dtau2])


def output(t, x, u, params=None) -> np.ndarray:
    """Measured outputs, the pitch and yaw angles in rad, shape (2,) (python-control ``outfcn``).

    Parameters
    ----------
    t : float
        Time, s (unused).
    x : array_like, shape (7,)
        State.
    u : array_like, shape (2,)
        Motor voltages (unused: no feedthrough).
    params : TwinRotorParams or dict or None, optional
        Plant parameters (unused).
    """
    x = np.asarray(x, dtype=np.float64).reshape(7)
    return np.array([x[0], x[2]])


def _root(a: float, b: float, c: float) -> float | None:
    """Return the root of ``a s^2 + b s = c`` on the branch through ``s = 0`` (None if there is no real one)."""
    if a == 0.0:
        return c / b if b != 0.0 else None
    disc = b * b + 4.0 * a * c
    if disc < 0.0:
        return None
    return 2.0 * c / (b + math.copysign(math.sqrt(disc), b)) if b != 0.0 else math.copysign(math.sqrt(c / a), c)


def trim(pitch: float = 0.0, yaw: float = 0.0, params=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the equilibrium ``(state (7,), input (2,))`` that holds the beam still at (pitch, yaw) (closed form).

    Parameters
    ----------
    pitch : float, default 0.0
        Pitch angle, rad (0: the rest position with both motors off).
    yaw : float, default 0.0
        Yaw angle, rad (any: the yaw has no restoring moment).
    params : TwinRotorParams or dict or None, optional
        Plant parameters.

    Returns
    -------
    state : numpy.ndarray, shape (7,)
    inputs : numpy.ndarray, shape (2,)
        Motor voltages, V.

    Raises
    ------
    TrimError
        If no rotor momentum gives the moment needed (the quadratic static
        characteristic has no real root on the branch through zero) or the
        voltages lie outside ``+-VOLTAGE_LIMIT``.

    Notes
    -----
    At rest the main rotor carries gravity, ``M1(tau1) = Mg sin(pitch)``; the
    cross reaction settles at its DC gain, ``M_R = kc tau1``; the tail rotor
    cancels it, ``M2(tau2) = M_R``; the motors' steady states give
    ``u1 = T10 tau1 / k1`` and ``u2 = T20 tau2 / k2``.

    Examples
    --------
    >>> x, u = trim(0.1, 0.5)
    >>> bool(np.max(np.abs(rhs(0.0, x, u))) < 1e-12), np.round(u, 3)
    (True, array([ 0.3  , -1.152]))
    """
    p = resolve_params(params)
    pitch = check_real(pitch, "pitch", unit="rad")
    yaw = check_real(yaw, "yaw", unit="rad")
    tau1 = _root(p.a1, p.b1, p.Mg * math.sin(pitch))
    if tau1 is None:
        raise TrimError(f"no main-rotor momentum carries the gravity moment at pitch {pitch} rad "
                        f"(M1 = a1 tau1^2 + b1 tau1 cannot reach {p.Mg * math.sin(pitch):.4g} N m).")
    m_r = p.kc * tau1
    tau2 = _root(p.a2, p.b2, m_r)
    if tau2 is None:
        raise TrimError(f"the tail rotor cannot cancel the cross reaction moment {m_r:.4g} N m at pitch {pitch} rad "
                        f"(M2 = a2 tau2^2 + b2 tau2 stays above {-p.b2 ** 2 / (4 * p.a2):.4g} N m); choose a "
                        "smaller |pitch|.")
    u = np.array([p.T10 * tau1 / p.k1, p.T20 * tau2 / p.k2])
    if np.any(np.abs(u) > VOLTAGE_LIMIT):
        raise TrimError(f"holding pitch {pitch} rad needs motor voltages {np.round(u, 4).tolist()} V, outside "
                        f"+-{VOLTAGE_LIMIT} V.")
    return np.array([pitch, 0.0, yaw, 0.0, m_r, tau1, tau2]), u


def to_iosys(params=None, *, name: str = "twin_rotor"):
    """Return the twin-rotor system as a continuous-time ``control.nlsys`` (outputs: pitch and yaw).

    Parameters
    ----------
    params : TwinRotorParams or dict or None, optional
        Plant parameters (default: the published ones); they become the
        system's ``params`` dict, so any field can be overridden per simulation.
    name : str, default "twin_rotor"
        System name.

    Returns
    -------
    control.NonlinearIOSystem
        States :data:`~plants.twin_rotor.params.STATE_NAMES`, inputs ``u1, u2`` (V),
        outputs ``pitch, yaw`` (rad).

    Examples
    --------
    >>> sys = to_iosys()
    >>> sys.input_labels, sys.output_labels
    (['u1', 'u2'], ['pitch', 'yaw'])
    """
    import control

    prm = resolve_params(params)
    return control.nlsys(rhs, output, params=dataclasses.asdict(prm), states=list(STATE_NAMES),
                         inputs=list(INPUT_NAMES), outputs=list(OUTPUT_NAMES), dt=0, name=name)
