"""The python-control bridge: controllers and sampled plants as discrete-time ``control.NonlinearIOSystem``.

:func:`controller_iosys` makes any :class:`~neurocontrol.controllers.adaptive.AbstractController`
with ``get_state``/``set_state`` (the adaptive controller included) a
discrete-time nonlinear I/O system whose **state vector is the controller's
flattened state** (:class:`StateLayout`, keys in sorted order). Its output
function is *pure*: it copies the state into a private scratch controller,
steps it and returns the action, without touching anything visible, because
``control.interconnect`` evaluates output functions several times per step.
Learning happens only in the update function, which returns the scratch
controller's state after the step.

The controller's signals are named after the plant it controls: pass
``plant=`` (an env, whose unwrapped env declares ``observation_names`` and
``input_names``, or a python-control system, whose labels are its names) or
the names themselves; this module knows no plant. The controller is
discrete, so the loop must be too: :func:`sample_iosys` turns a continuous
``nlsys`` into a discrete one with the fixed-step RK4 of
:class:`plants.iosys_env.IOSystemEnv` (bit-identical to that env); a plant
may ship its own sampled system (the helicopter's
:func:`plants.helicopter.to_sampled_iosys`, bit-identical to its env).
:func:`close_loop` connects plant and controller by signal names.

Examples
--------
>>> import numpy as np, control
>>> from neurocontrol import PIDController
>>> pid = PIDController.from_plant()
>>> pid.reset([140.0, 1.0, 0.0, 0.12, 0.0], [140.0, 1.0])
>>> names = ["w", "z", "zdot", "theta", "thetadot"]       # normally read from ``plant=``
>>> ctrl = controller_iosys(pid, observation_names=names, input_names=["u0", "u1"])
>>> ctrl.input_labels[5:], ctrl.output_labels, ctrl.nstates == controller_state_vector(pid).size
(['w_ref', 'z_ref'], ['u0', 'u1'], True)
>>> lag = control.nlsys(lambda t, x, u, p: -x + u, None, states=["v"], inputs=["f"], outputs=["v"], name="lag")
>>> sampled = sample_iosys(lag, dt=0.1, substeps=4)
>>> sampled.isdtime(strict=True), round(float(sampled.dynamics(0.0, [0.0], [1.0])[0]), 6)
(True, 0.095163)
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence

import numpy as np

from neurocontrol._validation import check_positive, check_substeps
from neurocontrol.exceptions import ParameterError, ShapeError
from plants.iosys_env import rk4_step

__all__ = ["StateLayout", "controller_state_vector", "controller_iosys", "sample_iosys", "close_loop"]


# =========================================================================== state layout


class StateLayout:
    """A fixed map between a controller's ``get_state()`` dict and one float64 vector.

    Keys are taken in sorted order; arrays are flattened in C order; scalars
    (bool, int, float) take one entry each. Every value the adaptive
    controller holds is a float64 array or a scalar that a float64 holds
    exactly, so ``unflatten(flatten(s))`` restores ``s`` bit for bit.

    Parameters
    ----------
    state : dict
        A ``get_state()`` dict; its keys and shapes define the layout.

    Attributes
    ----------
    keys : tuple of str
    shapes : tuple of tuple
        ``()`` for scalars.
    size : int
        Length of the vector.
    names : tuple of str
        One label per vector entry, e.g. ``"W[3]"`` (python-control state names).

    Examples
    --------
    >>> lay = StateLayout({"b": 2.0, "a": np.arange(3.0)})
    >>> lay.keys, lay.size, lay.flatten({"a": np.ones(3), "b": 5}).tolist()
    (('a', 'b'), 4, [1.0, 1.0, 1.0, 5.0])
    """

    def __init__(self, state: dict):
        if not isinstance(state, dict) or not state:
            raise ParameterError("a state layout needs a non-empty get_state() dict; is the controller reset "
                                 "and does it keep state?")
        self.keys = tuple(sorted(state))
        shapes, kinds = [], []
        for k in self.keys:
            v = state[k]
            if isinstance(v, np.ndarray):
                shapes.append(v.shape)
                kinds.append("array")
            elif isinstance(v, (bool, np.bool_)):
                shapes.append(())
                kinds.append("bool")
            elif isinstance(v, (numbers.Integral,)):
                shapes.append(())
                kinds.append("int")
            elif isinstance(v, numbers.Real):
                shapes.append(())
                kinds.append("float")
            else:
                raise ParameterError(f"state entry {k!r} is a {type(v).__name__}; a state vector holds only arrays "
                                     "and numbers.")
        self.shapes = tuple(shapes)
        self._kinds = tuple(kinds)
        sizes = [int(np.prod(s)) if s else 1 for s in shapes]
        self._slices = []
        start = 0
        for n in sizes:
            self._slices.append(slice(start, start + n))
            start += n
        self.size = start
        names = []
        for k, s in zip(self.keys, shapes):
            names += [k] if not s else [f"{k}[{i}]" for i in range(int(np.prod(s)))]
        self.names = tuple(names)

    def flatten(self, state: dict) -> np.ndarray:
        """Return the state dict as one float64 vector of length :attr:`size`.

        Parameters
        ----------
        state : dict
            A ``get_state()`` dict with this layout's keys and shapes.

        Returns
        -------
        numpy.ndarray
        """
        if set(state) != set(self.keys):
            raise ParameterError(f"the state does not fit this layout: missing {sorted(set(self.keys) - set(state))}, "
                                 f"unexpected {sorted(set(state) - set(self.keys))}.")
        out = np.empty(self.size)
        for k, s, sl in zip(self.keys, self.shapes, self._slices):
            v = np.asarray(state[k], dtype=np.float64)
            if v.shape != s:
                raise ShapeError(f"state entry {k!r} must have shape {s}, got {v.shape}.")
            out[sl] = v.ravel()
        return out

    def unflatten(self, vector) -> dict:
        """Return the dict that :meth:`flatten` maps to ``vector`` (arrays are copies).

        Parameters
        ----------
        vector : array_like, shape (size,)
            A state vector of this layout.

        Returns
        -------
        dict
        """
        x = np.asarray(vector, dtype=np.float64).reshape(-1)
        if x.size != self.size:
            raise ShapeError(f"the state vector must have {self.size} entries, got {x.size}.")
        out = {}
        for k, s, kind, sl in zip(self.keys, self.shapes, self._kinds, self._slices):
            if kind == "array":
                out[k] = x[sl].reshape(s).copy()
            elif kind == "bool":
                out[k] = bool(x[sl.start])
            elif kind == "int":
                out[k] = int(x[sl.start])
            else:
                out[k] = float(x[sl.start])
        return out


def _check_controller(controller):
    # imported when called: the controllers package compiles numba kernels on import (about a second),
    # which StateLayout and sample_iosys users should not pay for
    from neurocontrol.controllers.base import AbstractController

    if not isinstance(controller, AbstractController):
        raise ParameterError(f"`controller` must be a neurocontrol AbstractController, "
                             f"got {type(controller).__name__}.")
    try:
        state = controller.get_state()
    except ParameterError as exc:
        raise ParameterError(f"the controller has no state yet: {exc}") from None
    return state


def controller_state_vector(controller) -> np.ndarray:
    """Return the controller's current state as the state vector of :func:`controller_iosys` (initial condition X0).

    Parameters
    ----------
    controller : AbstractController
        A controller that has been reset.

    Returns
    -------
    numpy.ndarray
        Its flattened ``get_state()`` (:class:`StateLayout`).

    Raises
    ------
    ParameterError
        If the controller has not been reset yet.
    """
    state = _check_controller(controller)
    return StateLayout(state).flatten(state)


# =========================================================================== the controller as an nlsys


def controller_iosys(controller, *, plant=None, dt: float | None = None,
                     observation_names: Sequence[str] | None = None, reference_names: Sequence[str] | None = None,
                     input_names: Sequence[str] | None = None, name: str = "controller"):
    """Make a (reset) controller a discrete-time ``control.NonlinearIOSystem``.

    Parameters
    ----------
    controller : AbstractController
        Already reset (``controller.reset(observation, reference, seed=...)``):
        its state defines the layout and the initial condition
        (:func:`controller_state_vector`). It is not modified; the system
        works on a private deep copy.
    plant : gymnasium.Env or control.InputOutputSystem, optional
        The plant the controller drives; its declared signal names name the
        system's signals: an env's (unwrapped) ``observation_names`` and
        ``input_names``, or a python-control system's output and input labels.
    dt : float, optional
        Sampling period in s; default ``controller.dt``. Must equal it.
    observation_names : sequence of str, optional
        Names of the observation inputs (n); default the plant's observation
        (output) names, else ``y[0] ...``.
    reference_names : sequence of str, optional
        Names of the reference inputs (p); default ``<output name>_ref``.
    input_names : sequence of str, optional
        Names of the outputs (the plant inputs, m); default the plant's input
        names, else ``u[0] ...``.
    name : str, default "controller"
        System name.

    Returns
    -------
    control.NonlinearIOSystem
        Discrete time (``dt``); states :attr:`StateLayout.names`; inputs
        ``observation_names + reference_names``; outputs ``input_names``.
        ``x[k+1] = updfcn(x[k], [y[k], r[k]])`` is the controller's state
        after ``step(y[k], r[k])``; ``u[k] = outfcn(x[k], [y[k], r[k]])`` is
        the action that step returns (direct feedthrough of ``y`` and ``r``).

    Raises
    ------
    ParameterError
        If the controller is not reset, ``dt`` differs from the controller's,
        a name list has the wrong length, ``plant`` declares no names, or the
        number of observations is known neither from the controller's
        settings nor from ``plant`` / ``observation_names``.

    Notes
    -----
    Purity: both functions restore ``x`` into a scratch copy with
    ``set_state`` before stepping it, so every call with the same
    ``(x, y, r)`` returns the same value and nothing outside the scratch copy
    changes. The last evaluation is memoised by exact bytes of ``(x, y, r)``
    (``interconnect`` asks for the output and then the update at the same
    point), which changes speed only.
    """
    import control

    state = _check_controller(controller)
    layout = StateLayout(state)
    cdt = float(controller.dt)
    if dt is None:
        dt = cdt
    if not math.isclose(check_positive(dt, "dt", unit="s"), cdt, rel_tol=1e-12):
        raise ParameterError(f"`dt` must be the controller's control period {cdt} s, got {dt!r}; leave it out.")
    idx = controller.output_indices
    p, m = len(idx), controller.n_inputs
    plant_obs, plant_in = (None, None) if plant is None else _declared_names(plant)
    if observation_names is None:
        observation_names = plant_obs
    if input_names is None:
        input_names = plant_in
    n = _n_observations(controller, observation_names)
    observation_names = _names([f"y[{i}]" for i in range(n)] if observation_names is None else observation_names,
                               n, "observation_names")
    if reference_names is None:
        reference_names = [f"{observation_names[i]}_ref" for i in idx]
    reference_names = _names(reference_names, p, "reference_names")
    input_names = _names([f"u[{i}]" for i in range(m)] if input_names is None else input_names, m, "input_names")
    scratch = _scratch_copy(controller, n, layout)

    memo: dict = {"key": None}

    def evaluate(x, v):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        key = x.tobytes() + v.tobytes()
        if memo["key"] != key:
            scratch.set_state(layout.unflatten(x))
            u = scratch.step(v[:n].copy(), v[n:].copy())
            memo.update(key=key, u=u.copy(), x_next=layout.flatten(scratch.get_state()))
        return memo

    def updfcn(t, x, v, params):
        return evaluate(x, v)["x_next"].copy()

    def outfcn(t, x, v, params):
        return evaluate(x, v)["u"].copy()

    return control.nlsys(updfcn, outfcn, states=list(layout.names), inputs=list(observation_names) +
                         list(reference_names), outputs=list(input_names), dt=float(dt), name=name)


def _scratch_copy(controller, n: int, layout: StateLayout):
    """Return a private controller with the same settings and its own buffers.

    A deep copy alone is not enough: numpy copies each view of a shared
    buffer separately (e.g. the adaptive controller's state arena), so the
    copy is reset once, which rebuilds its buffers; every step then restores
    the full state with ``set_state`` anyway.
    """
    scratch = copy.deepcopy(controller)
    cfg = getattr(controller, "config", None)
    low, high = getattr(cfg, "observation_low", None), getattr(cfg, "observation_high", None)
    obs = np.zeros(n) if low is None else 0.5 * (np.asarray(low, dtype=float) + np.asarray(high, dtype=float))
    idx = list(controller.output_indices)
    scratch.reset(obs, obs[idx], seed=0)
    if StateLayout(scratch.get_state()).names != layout.names:
        raise ParameterError(f"{type(controller).__name__} changes its state layout at reset; it cannot be a "
                             "python-control system with a fixed state vector.")
    return scratch


def _declared_names(plant) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the (observation, input) names a plant declares: an env's attributes or a system's labels."""
    base = getattr(plant, "unwrapped", plant)
    obs, inp = getattr(base, "observation_names", None), getattr(base, "input_names", None)
    if obs is None or inp is None:
        obs, inp = getattr(plant, "output_labels", None), getattr(plant, "input_labels", None)
    if obs is None or inp is None:
        raise ParameterError(f"`plant` must declare its signal names (an env with `observation_names` and "
                             f"`input_names`, or a python-control system), got {type(plant).__name__}; or pass "
                             "observation_names=... and input_names=... instead.")
    return tuple(obs), tuple(inp)


def _n_observations(controller, observation_names) -> int:
    """Return the observation size: from the controller's settings, else from the names given or declared."""
    cfg = getattr(controller, "config", None)
    low = getattr(cfg, "observation_low", None)
    n = len(low) if low is not None else getattr(controller, "n_observations", None)
    if n is None:
        n = getattr(controller, "trim_state", None)
        n = None if n is None else len(n)
    if n is None:
        if observation_names is None:
            raise ParameterError(f"cannot tell how many observations the {type(controller).__name__} takes; pass "
                                 "plant=... (the env or system it controls) or observation_names=....")
        n = len(tuple(observation_names))
    return int(n)


def _names(names, size: int, what: str) -> tuple[str, ...]:
    names = tuple(str(s) for s in names)
    if len(names) != size or len(set(names)) != size:
        raise ParameterError(f"`{what}` must give {size} distinct names, got {list(names)}.")
    return names


# =========================================================================== sampled plants


def sample_iosys(sys, *, dt: float, substeps: int = 1, name: str | None = None):
    """Sample a continuous-time ``nlsys`` with zero-order hold and fixed-step RK4, as a discrete ``nlsys``.

    Parameters
    ----------
    sys : control.NonlinearIOSystem
        Continuous time (``sys.dt == 0``).
    dt : float
        Sampling period, s.
    substeps : int, default 1
        RK4 sub-steps per period.
    name : str, optional
        System name; default ``sys.name + "_sampled"``.

    Returns
    -------
    control.NonlinearIOSystem
        Same states, inputs, outputs and params; ``x[k+1]`` is
        :func:`plants.iosys_env.rk4_step` of the right-hand side (the
        integrator of :class:`plants.iosys_env.IOSystemEnv`, so the two agree
        bit for bit); the output function is the original one.

    Raises
    ------
    ParameterError
        If ``sys`` is not a continuous-time system, ``dt`` is not positive or
        ``substeps`` not an integer in ``[1, MAX_SUBSTEPS]``.
    """
    import control


    if not isinstance(sys, control.NonlinearIOSystem) or not sys.isctime(strict=True):
        raise ParameterError(f"`sys` must be a continuous-time control.NonlinearIOSystem, got "
                             f"{type(sys).__name__} with dt={getattr(sys, 'dt', None)!r}.")
    dt = check_positive(dt, "dt", unit="s")
    substeps = check_substeps(substeps)
    f, g, nout = sys.updfcn, sys.outfcn, sys.noutputs

    def updfcn(t, x, u, params):
        return rk4_step(f, t, np.asarray(x, dtype=np.float64), np.asarray(u, dtype=np.float64), params, dt,
                        substeps)

    def outfcn(t, x, u, params):
        return x[:nout].copy() if g is None else g(t, x, u, params)

    return control.nlsys(updfcn, outfcn, states=list(sys.state_labels), inputs=list(sys.input_labels),
                         outputs=list(sys.output_labels), params=dict(sys.params), dt=float(dt),
                         name=name or f"{sys.name}_sampled")


def close_loop(plant, controller_sys, *, name: str = "closed_loop"):
    """Connect a discrete plant and a controller system by signal names (``control.interconnect``).

    The controller's observation inputs must be named like plant outputs and
    its outputs like the plant inputs; its reference inputs stay external.

    Parameters
    ----------
    plant : control.NonlinearIOSystem
        Discrete-time plant (e.g. from :func:`sample_iosys`).
    controller_sys : control.NonlinearIOSystem
        From :func:`controller_iosys`, with the plant's period.
    name : str, default "closed_loop"
        System name.

    Returns
    -------
    control.InterconnectedSystem
        Inputs: the controller's reference inputs. Outputs: the plant's
        outputs, then the controller's outputs (the applied inputs). States:
        the plant's, then the controller's.

    Raises
    ------
    ParameterError
        If the two systems' periods differ or names do not match.
    """
    import control

    if plant.dt != controller_sys.dt:
        raise ParameterError(f"plant and controller must share one sampling period, got {plant.dt!r} and "
                             f"{controller_sys.dt!r}; sample the plant with sample_iosys(..., dt=...).")
    p_out, p_in = list(plant.output_labels), list(plant.input_labels)
    c_in, c_out = list(controller_sys.input_labels), list(controller_sys.output_labels)
    missing = [s for s in p_in if s not in c_out]
    if missing:
        raise ParameterError(f"the controller's outputs {c_out} must include every plant input; missing {missing}.")
    refs = [s for s in c_in if s not in p_out]
    if len(c_in) - len(refs) == 0:
        raise ParameterError(f"none of the controller's inputs {c_in} is a plant output {p_out}; name the "
                             "controller's observation inputs like the plant's outputs.")
    return control.interconnect([plant, controller_sys], inplist=refs, outlist=p_out + c_out,
                                inputs=refs, outputs=p_out + c_out, name=name)
