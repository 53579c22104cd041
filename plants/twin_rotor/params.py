"""The twin-rotor MIMO system's parameters (:class:`TwinRotorParams`), its input range and signal names.

Card
----
Source of the equations and of every parameter: S. Chaudhary and A. Kumar,
"Control of Twin Rotor MIMO System using PID and LQR Controller", Journal of
Aircraft and Spacecraft Technology 3:211-220, 2019 (doi:10.3844/jastsp.2019.211.220):
equations (1)-(4) state the nonlinear model of the Feedback Instruments TRMS
33-949S (pitch and yaw planes, first-order rotor lags, the lead-lag cross
reaction moment), Table 1 gives all 21 parameters, and equations (5)-(8)
with the printed matrices give the linearisation at rest (Coulomb friction
left out), its state order and the measured outputs ``y = (pitch, yaw)``.
The same equations and the same 21 values are in A. K. Agrawal, "Optimal
Controller Design for Twin Rotor MIMO System", M.Tech thesis, National
Institute of Technology Rourkela, 2013 (eqs. 2.1-2.11, Table 2.1, after the
Feedback "Twin Rotor MIMO System" Advanced Teaching Manual 1, part no.
1160-330074M5), which also gives the input range: motor voltages in
[-2.5, 2.5] V.

Two things are this toolkit's, not the source's. The Coulomb friction
``B2 sign(rate)`` is regularised as ``B2 rate |rate| / (rate^2 + c^2)`` with
``c = coulomb_velocity`` (0.01 rad/s): it equals the sign for rates well
above ``c``, is smooth (fixed-step RK4, finite-difference linearisation) and
has zero slope at rest, so the linearisation at rest is the source's printed
one, which leaves the Coulomb terms out (a regularisation with slope
``1/c`` there, such as ``tanh(rate / c)``, adds a damping ``B2 / c`` that the
printed model does not have; ``c -> 0`` gives the sign back either way). And
the sensor ranges of the env: pitch within +-pi/2 rad, yaw within +-pi rad.

The model's own limits, which follow from the published values: the yaw
balance needs the tail rotor's moment to cancel the cross reaction
``kc tau1`` of the main rotor, and ``a2 tau2^2 + b2 tau2`` cannot fall
below ``-b2^2 / (4 a2)`` = -0.101 N m, so a held pitch needs
``|kc tau1|`` within that, i.e. a pitch up to about 0.155 rad
(:func:`plants.twin_rotor.trim` says so with a named error beyond it).
"""

from __future__ import annotations

import dataclasses

from neurocontrol._validation import check_real

__all__ = ["TwinRotorParams", "STATE_NAMES", "INPUT_NAMES", "OUTPUT_NAMES", "UNITS", "VOLTAGE_LIMIT"]

#: Names of the seven states, in the source's order (its eq. 6): pitch psi, its rate, yaw phi, its rate,
#: the cross reaction moment M_R and the two rotor momenta tau1, tau2.
STATE_NAMES = ("pitch", "pitch_rate", "yaw", "yaw_rate", "reaction_moment", "tau1", "tau2")
#: Names of the two inputs: the main (pitch) and tail (yaw) motor voltages.
INPUT_NAMES = ("u1", "u2")
#: Names of the two measured outputs (the source's eq. 8: the two beam angles).
OUTPUT_NAMES = ("pitch", "yaw")
#: Unit of every signal with one (the source gives none for the rotor momenta tau1, tau2).
UNITS = {"pitch": "rad", "pitch_rate": "rad/s", "yaw": "rad", "yaw_rate": "rad/s", "reaction_moment": "N m",
         "u1": "V", "u2": "V"}
#: Motor-voltage range, V: each input lies in ``[-VOLTAGE_LIMIT, VOLTAGE_LIMIT]`` (Agrawal 2013, sec. 2.1).
VOLTAGE_LIMIT = 2.5

_POSITIVE = ("I1", "I2", "Mg", "k1", "k2", "T11", "T10", "T21", "T20", "Tp", "coulomb_velocity")
_NON_NEGATIVE = ("B1psi", "B2psi", "B1phi", "B2phi", "T0")
_REAL = ("a1", "b1", "a2", "b2", "kgy", "kc")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TwinRotorParams:
    r"""Parameters of the twin-rotor MIMO system (defaults: Chaudhary & Kumar 2019, Table 1).

    With pitch :math:`\psi`, yaw :math:`\phi` and motor voltages :math:`u_1, u_2`:

    .. math::

        I_1 \ddot\psi &= M_1 - M_g \sin\psi - B_{1\psi}\dot\psi - B_{2\psi}\,\mathrm{sgn}\,\dot\psi
                         - k_{gy} M_1 \dot\phi \cos\psi,
        \qquad M_1 = a_1\tau_1^2 + b_1\tau_1 \\
        I_2 \ddot\phi &= M_2 - B_{1\phi}\dot\phi - B_{2\phi}\,\mathrm{sgn}\,\dot\phi - M_R,
        \qquad M_2 = a_2\tau_2^2 + b_2\tau_2 \\
        \tau_1 &= \frac{k_1}{T_{11} s + T_{10}} u_1, \qquad
        \tau_2 = \frac{k_2}{T_{21} s + T_{20}} u_2, \qquad
        M_R = \frac{k_c (T_0 s + 1)}{T_p s + 1}\,\tau_1

    with ``sgn(v)`` regularised as ``v |v| / (v^2 + coulomb_velocity^2)`` (see the module card).

    Parameters
    ----------
    I1 : float, default 6.8e-2
        Moment of inertia of the vertical (pitch) plane, kg m^2.
    I2 : float, default 2e-2
        Moment of inertia of the horizontal (yaw) plane, kg m^2.
    a1, b1 : float, default 0.0135, 0.0924
        Static characteristic of the main rotor, ``M1 = a1 tau1^2 + b1 tau1`` (N m).
    a2, b2 : float, default 0.02, 0.09
        Static characteristic of the tail rotor, ``M2 = a2 tau2^2 + b2 tau2`` (N m).
    Mg : float, default 0.32
        Gravity moment, N m.
    B1psi, B2psi : float, default 6e-3, 1e-3
        Viscous (N m s/rad) and Coulomb (N m) friction of the pitch axis.
    B1phi, B2phi : float, default 1e-1, 1e-2
        Viscous (N m s/rad) and Coulomb (N m) friction of the yaw axis.
    kgy : float, default 0.05
        Gyroscopic moment parameter, s/rad.
    k1, k2 : float, default 1.1, 0.8
        Gains of the main and tail motor, per V.
    T11, T10 : float, default 1.1, 1.0
        Denominator of the main motor, ``T11 s + T10``.
    T21, T20 : float, default 1.0, 1.0
        Denominator of the tail motor, ``T21 s + T20``.
    Tp, T0 : float, default 2.0, 3.5
        Pole and zero time constants of the cross reaction moment, s.
    kc : float, default -0.2
        Gain of the cross reaction moment, N m.
    coulomb_velocity : float, default 0.01
        Rate scale of the regularised Coulomb friction, rad/s (this toolkit's; not in the source).

    Raises
    ------
    ParameterError
        If an inertia, gain, time constant (``T0`` may be 0), ``Mg`` or
        ``coulomb_velocity`` is not a finite positive number, a friction
        coefficient is negative, or any value is not a finite real number.

    Examples
    --------
    >>> p = TwinRotorParams()
    >>> round(p.Mg / p.I1, 4), p.kc
    (4.7059, -0.2)
    """

    I1: float = 6.8e-2
    I2: float = 2e-2
    a1: float = 0.0135
    b1: float = 0.0924
    a2: float = 0.02
    b2: float = 0.09
    Mg: float = 0.32
    B1psi: float = 6e-3
    B2psi: float = 1e-3
    B1phi: float = 1e-1
    B2phi: float = 1e-2
    kgy: float = 0.05
    k1: float = 1.1
    k2: float = 0.8
    T11: float = 1.1
    T10: float = 1.0
    T21: float = 1.0
    T20: float = 1.0
    Tp: float = 2.0
    T0: float = 3.5
    kc: float = -0.2
    coulomb_velocity: float = 0.01

    def __post_init__(self):
        for name in _POSITIVE:
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=0.0, low_open=True))
        for name in _NON_NEGATIVE:
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=0.0))
        for name in _REAL:
            object.__setattr__(self, name, check_real(getattr(self, name), name))
