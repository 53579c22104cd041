"""The planar VTOL's parameters (:class:`PVTOLParams`) and signal names.

Card
----
Source: the planar vertical take-off and landing aircraft of Åström & Murray,
*Feedback Systems* (2nd ed., 2021), as coded in python-control's
``examples/pvtol.py`` (the model this plant reproduces bit for bit): mass
m = 4 kg, pitch inertia J = 0.0475 kg m^2, distance r = 0.25 m from the centre
of mass to the point where the forces act, g = 9.8 m/s^2 and damping
c = 0.05 N s/m. The example also constrains the inputs inside its dynamics
(thrust ``F2`` in [0, 1.5 m g], lateral force ``|F1| <= 0.1 F2``); this
plant keeps that constraint, so the env's action box is
``F1 in [-0.15 m g, 0.15 m g]``, ``F2 in [0, 1.5 m g]``.
"""

from __future__ import annotations

import dataclasses

from neurocontrol._validation import check_real

__all__ = ["PVTOLParams", "STATE_NAMES", "INPUT_NAMES", "UNITS"]

#: Names of the six states (also the outputs), in order.
STATE_NAMES = ("x", "y", "theta", "xdot", "ydot", "thetadot")
#: Names of the two inputs, in order.
INPUT_NAMES = ("F1", "F2")
#: Unit of every signal, by name.
UNITS = {"x": "m", "y": "m", "theta": "rad", "xdot": "m/s", "ydot": "m/s", "thetadot": "rad/s", "F1": "N",
         "F2": "N"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class PVTOLParams:
    r"""Parameters of the planar VTOL (defaults: python-control's ``examples/pvtol.py``).

    .. math::

        m\ddot x &= F_1\cos\theta - F_2\sin\theta - c\dot x \\
        m\ddot y &= F_1\sin\theta + F_2\cos\theta - m g - c\dot y \\
        J\ddot\theta &= r F_1

    with ``F2`` clipped to ``[0, 1.5 m g]`` and then ``F1`` to ``[-0.1 F2, 0.1 F2]``.

    Parameters
    ----------
    m : float, default 4.0
        Mass, kg.
    J : float, default 0.0475
        Pitch inertia, kg m^2.
    r : float, default 0.25
        Moment arm of the lateral force, m.
    g : float, default 9.8
        Gravity, m/s^2.
    c : float, default 0.05
        Translational damping, N s/m (0 allowed).

    Raises
    ------
    ParameterError
        If a value is not a finite positive number (``c`` may be 0).

    Examples
    --------
    >>> PVTOLParams().m * PVTOLParams().g
    39.2
    """

    m: float = 4.0
    J: float = 0.0475
    r: float = 0.25
    g: float = 9.8
    c: float = 0.05

    def __post_init__(self):
        for name in ("m", "J", "r", "g"):
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=0.0, low_open=True))
        object.__setattr__(self, "c", check_real(self.c, "c", low=0.0))

    @property
    def input_limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The action box ``((F1_lo, F1_hi), (F2_lo, F2_hi))`` in N that the model's own constraint admits."""
        f2 = 1.5 * self.m * self.g
        return (-0.1 * f2, 0.1 * f2), (0.0, f2)
