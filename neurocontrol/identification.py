"""Identify a plant from an open-loop experiment: what ``plant_model = "identified"`` fits, for a look of your own.

:func:`identify` flies the identification experiment of :mod:`neurocontrol.controllers._identify` on an env (open
loop: the input the env declares plus a small APRBS; reset with seed 0) and returns an :class:`Identification`:
the fitted two-lag linear model (a discrete-time python-control system), its slowest time constant, its slowest
right-half-plane zero, the steps after which its step-response gains take their steady-state sign, its
steady-state gain and how well its free run reproduces the experiment. ``neurocontrol identify SCENARIO`` prints
it and plots the experiment against the fit's free run, and the fit's step responses against the env's own
python-control model where it has one.

Example
-------
>>> import plants  # doctest: +SKIP
>>> from plants.quadtank.env import QuadTankEnv  # doctest: +SKIP
>>> ident = identify(QuadTankEnv(operating_point="P+"))  # doctest: +SKIP
>>> round(ident.slowest_time_constant_s), round(ident.rhp_zero, 4)  # doctest: +SKIP
(103, 0.013)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocontrol._validation import env_dt, env_input_limits
from neurocontrol.controllers import _identify
from neurocontrol.controllers._long_run import slowest_rhp_zero
from neurocontrol.controllers.generic import Trim, gain_sign_steps, slowest_time_constant_steps
from neurocontrol.exceptions import ParameterError

__all__ = ["Identification", "identify", "model_figures"]


@dataclass(frozen=True)
class Identification:
    """What :func:`identify` found.

    Attributes
    ----------
    model : control.StateSpace or None
        The accepted fit (discrete time, physical units, outputs: every measured signal), or None.
    fitted : control.StateSpace or None
        The last fit made, accepted or not (None: the experiment ended before the first fit).
    note : str
        One line: the experiment and the model, or why there is none.
    dt : float
        Control period, s.
    output_indices : tuple of int
        The controlled outputs within the observation.
    steps, episodes : int
        Length of the experiment, and the episodes it took.
    slowest_time_constant_s : float or None
        Of ``fitted`` (None: none, or not asymptotically stable).
    rhp_zero : float or None
        Slowest right-half-plane zero of ``fitted``, inputs to the controlled outputs, rad/s (None: none counted).
    sign_steps : int or None
        Steps after which ``fitted``'s step-response gains keep the sign of their steady-state determinant.
    steady_gain : numpy.ndarray or None
        ``fitted``'s steady-state gain, controlled outputs per input, physical units.
    free_run_fit : float or None
        The worst controlled output's ``1 - |y - y_sim| / |y - mean(y)|`` of the fit's free run (None: not checked).
    measured, simulated, inputs : list of numpy.ndarray
        Per episode, the measurements, the last fit's free run over them (none without a fit) and the inputs applied
        (physical units).
    """

    model: object
    fitted: object
    note: str
    dt: float
    output_indices: tuple
    steps: int
    episodes: int
    slowest_time_constant_s: float | None
    rhp_zero: float | None
    sign_steps: int | None
    steady_gain: np.ndarray | None
    free_run_fit: float | None
    measured: list
    simulated: list
    inputs: list

    def plot(self, path=None, **kwargs):
        """Plot the experiment against the fit's free run (:func:`neurocontrol.plotting.plot_identification`).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the figure there and close it.
        **kwargs
            Passed to :func:`~neurocontrol.plotting.plot_identification` (``output_names``, ``dpi``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from neurocontrol.plotting import plot_identification  # matplotlib only when a figure is asked for

        return plot_identification(self, path, **kwargs)


def model_figures(trim: Trim, dt: float) -> dict:
    """Return what the identification reports of a linear model, the fit's or the env's own.

    Parameters
    ----------
    trim : Trim
        The model at its trim (:func:`~neurocontrol.controllers.generic.model_trim`, or the fit's).
    dt : float
        Control period, s.

    Returns
    -------
    dict
        ``slowest_time_constant_s``, ``rhp_zero`` (rad/s), ``sign_steps`` and ``steady_gain`` (controlled
        outputs per input); each None where it does not exist (all but the zero when the model is not
        asymptotically stable).
    """
    stable = trim.stable()
    steps = slowest_time_constant_steps(trim, dt)
    return {"slowest_time_constant_s": None if steps is None else steps * dt, "rhp_zero": slowest_rhp_zero(trim),
            "sign_steps": gain_sign_steps(trim, dt) if stable else None,
            "steady_gain": trim.steady_gain() if stable else None}


def identify(env, output_indices=None) -> Identification:
    """Fly the identification experiment on ``env`` and describe the fitted model (see the module).

    Parameters
    ----------
    env : gymnasium.Env
        The plant: its action space gives the input limits, ``unwrapped.dt`` the control period, its observation
        space (finite bounds) the declared ranges. It is reset and stepped.
    output_indices : sequence of int, optional
        The controlled outputs within the observation (default: every observation).

    Returns
    -------
    Identification
    """
    space = env.observation_space
    low, high = np.asarray(space.low, dtype=np.float64), np.asarray(space.high, dtype=np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ParameterError("the env's observation space is unbounded: identification needs the declared range of "
                             "each measured signal (finite observation_space bounds).")
    out = tuple(range(low.shape[0])) if output_indices is None else tuple(int(i) for i in output_indices)
    if not out or not all(0 <= i < low.shape[0] for i in out):
        raise ParameterError(f"`output_indices` must name observation entries 0..{low.shape[0] - 1}, got {out}.")
    limits, dt = env_input_limits(env), env_dt(env, "identification")
    exp = _identify.identification_experiment(env, out, limits, dt, low, high)
    figures = dict.fromkeys(("slowest_time_constant_s", "rhp_zero", "sign_steps", "steady_gain"))
    simulated = []
    if exp.fitted is not None:
        figures = model_figures(Trim(exp.fitted, list(range(low.shape[0])), list(out), None, None, exp.fitted), dt)
        mid, half = exp.ranges[:2]
        simulated = [mid + half * r for r in _identify.free_runs(exp.theta, exp.fit_episodes(), _identify.ARX_LAGS)]
    shown = [(y, u) for y, u in zip(exp.Y, exp.U) if len(u) >= _identify.ARX_LAGS or not simulated]
    head = exp.head(dt)
    note = f"{head}: a linear model with {_identify.ARX_LAGS} lags" if exp.model is not None else \
        f"{head} gave no model: {exp.why}"
    return Identification(exp.model, exp.fitted, note, dt, out, exp.steps, sum(1 for u in exp.U if len(u)),
                          figures["slowest_time_constant_s"], figures["rhp_zero"], figures["sign_steps"],
                          figures["steady_gain"], exp.fit, [y for y, _ in shown], simulated, [u for _, u in shown])
